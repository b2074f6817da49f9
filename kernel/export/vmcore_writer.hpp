// Writes an ELF64 core in the layout of /proc/vmcore (facts: vmcore.md), which crash and drgn
// open as a kernel dump:
//
//   | Ehdr | Phdr: PT_NOTE, PT_LOAD image, PT_LOAD RAM... | pad to 4 KiB |
//   | VMCOREINFO note | pad to 4 KiB |
//   | RAM range 0, widened to page bounds | RAM range 1 ... |
//
// - One PT_LOAD per RAM range (p_paddr physical, p_vaddr = page_offset_base + physical), and
//   one for the kernel image (p_vaddr = _text, p_paddr = __pa(_text)), which drgn needs to read
//   swapper_pg_dir by virtual address. The image's bytes are not stored twice: its p_offset
//   points into the RAM range that holds it (ELF allows segments to share file bytes).
// - Pages that read as all zeros, and pages the caller excludes (free pages), are holes of a
//   sparse file: they read back as zeros, as excluded pages do in makedumpfile's ELF output.
//   Pages that cannot be read are holes too, and counted.
// - No NT_PRSTATUS notes: without a crash the CPUs' registers are unknown, and zeroed notes
//   would make drgn give the idle tasks (pr_pid 0) zero registers; without them crash and drgn
//   take every task's registers from its saved switch frame.
// Reads go in address order, `chunk` bytes per batch, one range per run of pages to read (the
// NetTLP client cuts it into requests and keeps its whole window busy; a run that fails is
// read again page by page), and each chunk is written while the next one is read: memory
// stays at two chunks whatever the RAM size.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "transport/physical_memory.hpp"

namespace tlpstub::kernel {

struct VmcoreSegment {
  std::uint64_t paddr = 0, vaddr = 0, size = 0;
};

struct VmcorePlan {
  std::vector<VmcoreSegment> ram;       // sorted by paddr, not overlapping
  std::optional<VmcoreSegment> image;   // the kernel text mapping
  std::string vmcoreinfo;               // "KEY=value\n" lines (the note's text)
};

struct DumpProgress {
  std::uint64_t done = 0, total = 0;  // bytes of RAM ranges visited
  double seconds = 0;
};

// makedumpfile's dump-level bits (-d) that tlpstub implements.
inline constexpr unsigned kDumpLevelZero = 1;   // zero pages (always holes; the bit is reported)
inline constexpr unsigned kDumpLevelFree = 16;  // free pages of the buddy allocator

struct DumpOptions {
  unsigned level = kDumpLevelZero;
  // Pages (by frame number) not to read at all; null: none. Called in ascending order.
  std::function<bool(std::uint64_t pfn)> excluded;
  std::function<void(const DumpProgress&)> progress;  // at most every 0.5 s, and at the end
  std::function<bool()> cancelled;                    // polled between chunks
  std::size_t chunk = 4u << 20;
};

struct DumpReport {
  std::uint64_t ram_bytes = 0;          // sum of the RAM ranges
  std::uint64_t pages = 0, data_pages = 0, zero_pages = 0, unreadable_pages = 0,
                excluded_pages = 0;
  std::uint64_t file_size = 0;          // apparent size
  std::uint64_t bytes_written = 0;      // data actually stored
  std::uint64_t first_unreadable = 0;   // physical address of the first unreadable page
  double seconds = 0;
};

// The file layout (exposed for tests): header bytes (Ehdr + Phdrs + note, padded) and where
// each RAM range's page-widened region starts in the file.
struct VmcoreLayout {
  std::vector<std::uint8_t> head;
  std::vector<std::uint64_t> ram_offset;  // file offset of floor_page(ram[i].paddr)
  std::uint64_t file_size = 0;
};
Result<VmcoreLayout> vmcore_layout(const VmcorePlan& plan);

// Writes the dump to `path` (created or truncated). On failure or cancellation the file is
// removed: a partial dump would read as zeros where it stopped, which is worse than none.
Result<DumpReport> write_vmcore(PhysicalMemory& mem, const VmcorePlan& plan,
                                const std::string& path, const DumpOptions& opts = {});

}  // namespace tlpstub::kernel
