// A small ELF64 little-endian writer for x86-64 symbol files (no program headers): sections
// with or without bytes, a .symtab/.strtab, and the section-name table. It knows ELF, nothing
// of Linux. Layout of the output:
//
//   +------------------+ 0
//   | Elf64_Ehdr (64)  |
//   +------------------+ 64
//   | section bytes    |  each PROGBITS section, 8-aligned, in the order added;
//   | .symtab .strtab  |  then the symbol table, its strings and .shstrtab
//   | .shstrtab        |
//   +------------------+
//   | section headers  |  null, the added sections, .symtab, .strtab, .shstrtab
//   +------------------+
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tlpstub::kernel::elf {

inline constexpr std::uint32_t kShtProgbits = 1, kShtNobits = 8;
inline constexpr std::uint64_t kShfWrite = 1, kShfAlloc = 2, kShfExec = 4;
inline constexpr std::uint16_t kShnAbs = 0xfff1;
inline constexpr std::uint8_t kSttObject = 1, kSttFunc = 2, kSttNotype = 0;
inline constexpr std::uint8_t kStbLocal = 0, kStbGlobal = 1;

struct Section {
  std::string name;
  std::uint32_t type = kShtProgbits;
  std::uint64_t flags = 0;
  std::uint64_t addr = 0;
  std::uint64_t size = 0;             // NOBITS: the memory size; PROGBITS: bytes.size()
  std::vector<std::uint8_t> bytes;    // PROGBITS only
};

struct ElfSymbol {
  std::string name;
  std::uint64_t value = 0;
  std::uint64_t size = 0;
  std::uint8_t type = kSttNotype;
  std::uint8_t bind = kStbGlobal;
  std::uint16_t shndx = kShnAbs;  // section index as returned by add_section, or kShnAbs
};

class ElfWriter {
 public:
  // Returns the section's index in the final header table (the null section is 0).
  std::uint16_t add_section(Section s);
  // Symbols in any order: locals are moved before globals, as ELF requires.
  void add_symbol(ElfSymbol s) { symbols_.push_back(std::move(s)); }
  void set_entry(std::uint64_t entry) { entry_ = entry; }
  // The whole file.
  std::vector<std::uint8_t> finish() const;

 private:
  std::vector<Section> sections_;
  std::vector<ElfSymbol> symbols_;
  std::uint64_t entry_ = 0;
};

}  // namespace tlpstub::kernel::elf
