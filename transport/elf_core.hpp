// ELF64 core files as physical memory: kdump's /proc/vmcore (and copies of it), tlpstub's own
// dumps (kernel/export/vmcore_writer.hpp), QEMU's `dump-guest-memory` (facts: vmcore.md).
//
//   | Ehdr 64 | Phdr 56 x e_phnum | ... PT_NOTE bytes ... | PT_LOAD bytes (p_offset) ... |
//
// Only the header and the program headers are interpreted; a PT_LOAD places file bytes
// [p_offset, p_offset + p_filesz) at physical [p_paddr, ...) and reads zeros up to p_memsz,
// like crash does. The file is untrusted: every count, offset and size is checked against the
// file, and anything that does not fit is refused with a message naming the field.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "transport/memory_file.hpp"

namespace tlpstub {

inline constexpr std::uint32_t kPtLoad = 1, kPtNote = 4;
inline constexpr std::uint16_t kEtCore = 4, kEmX86_64 = 62;
inline constexpr std::size_t kElf64EhdrSize = 64, kElf64PhdrSize = 56;
// p_paddr of a segment with no physical address (/proc/vmcore's vmalloc'd parts, drgn).
inline constexpr std::uint64_t kNoPaddr = ~0ull;

struct ElfCoreLoad {
  std::uint64_t paddr = 0, vaddr = 0, offset = 0, filesz = 0, memsz = 0;
};

struct ElfCoreNote {
  std::uint32_t type = 0;
  std::string name;                  // without the NUL
  std::vector<std::uint8_t> desc;
};

struct ElfCore {
  std::uint16_t machine = 0;
  std::vector<ElfCoreLoad> loads;    // in file order
  std::vector<ElfCoreNote> notes;    // of every PT_NOTE, in file order
};

// True when `head` starts with the ELF magic (a file to parse as a core, not a raw image).
bool looks_like_elf(std::span<const std::uint8_t> head);

// Parses an ELF64 little-endian ET_CORE for x86-64. `file` is the whole file.
Result<ElfCore> parse_elf_core(std::span<const std::uint8_t> file);

// The VMCOREINFO note's text ("OSRELEASE=...\n..."), if the core has one.
std::optional<std::string> vmcoreinfo_of(const ElfCore& core);

// The physical map of a core: PT_LOADs in file order, the first one covering an address wins
// (as in crash: the kernel-image segment and its System RAM segment overlap). Bytes past
// p_filesz become `zero` entries. Segments without a physical address are left out.
std::vector<MapEntry> elf_core_map(const ElfCore& core);

}  // namespace tlpstub
