// The kernel's own ORC unwind tables (x86-64), read from memory: no vmlinux needed.
//
// objtool writes two parallel arrays into the image's read-only data (arch/x86/kernel/
// unwind_orc.c, include/asm-generic/vmlinux.lds.h):
//   __start_orc_unwind_ip .. __stop_orc_unwind_ip   s32[N], slot i covers code from
//                                                    (address of slot i + value): self-relative
//   __start_orc_unwind   .. __stop_orc_unwind       struct orc_entry[N], 6 bytes, packed
//   orc_lookup .. orc_lookup_end                     u32 per 256-byte block of [_stext, _etext):
//                                                    the entry in force at the block start
// Sorted by address at build time since 5.6 (checked here, sorted if not). struct orc_entry
// (arch/x86/include/asm/orc_types.h; include/linux/objtool_types.h 6.4+):
//   s16 sp_offset @0, s16 bp_offset @2, then a little-endian u16 of bitfields:
//   sp_reg:4 bp_reg:4, and then
//     4.18-6.2  type:2 end:1            types CALL 0, REGS 1, REGS_PARTIAL 2 (REGS_IRET < 5.x)
//     6.3       type:2 signal:1 end:1   (ffb1b4a41016)
//     6.4+      type:3 signal:1         UNDEFINED 0, END_OF_STACK 1, CALL 2, REGS 3,
//                                       REGS_PARTIAL 4 (fb799447ae29)
// Which one a kernel uses comes from BTF (struct orc_entry's bitfields) when it has it, else
// from the release number. The tables are static kernel data: read once per kernel image.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "kernel/linux/kernel_reader.hpp"
#include "kernel/symbols/symbol_table.hpp"
#include "kernel/symbols/type_info.hpp"

namespace tlpstub::kernel {

// Bit positions in the u16 at byte 4 of struct orc_entry.
struct OrcFormat {
  unsigned type_shift = 8, type_bits = 3;
  int signal_bit = 11;   // -1: no signal field (before 6.3: signal = type != CALL)
  int end_bit = -1;      // -1: no end field (6.4+: END_OF_STACK is a type)
  std::string source;    // "BTF" or "release 6.1"
};

// ORC_REG_* (the same numbers in every version).
enum class OrcReg : std::uint8_t {
  undefined = 0, prev_sp = 1, dx = 2, di = 3, bp = 4, sp = 5, r10 = 6, r13 = 7,
  bp_indirect = 8, sp_indirect = 9,
};

// Types normalised to the 6.4+ names.
enum class OrcType : std::uint8_t { undefined, end_of_stack, call, regs, regs_partial, unknown };

struct OrcEntry {
  std::int16_t sp_offset = 0, bp_offset = 0;
  std::uint8_t sp_reg = 0, bp_reg = 0;  // OrcReg values (4 bits)
  OrcType type = OrcType::undefined;
  bool signal = false;
};

// From BTF's struct orc_entry when present, else from `release` ("6.1.0-27-amd64").
Result<OrcFormat> orc_format(const TypeInfo* types, std::string_view release);
// One 6-byte entry.
OrcEntry orc_decode(std::span<const std::uint8_t, 6> raw, const OrcFormat& f);

struct OrcStats {
  std::uint64_t batches = 0, bytes = 0;
};

class OrcTable {
 public:
  // From the raw arrays as read: `ip_va` is the address of the first s32.
  static Result<OrcTable> from_bytes(std::uint64_t ip_va, std::span<const std::uint8_t> ips,
                                     std::span<const std::uint8_t> entries, const OrcFormat& f);

  // The entry in force at `ip`: the last one starting at or below it (the rightmost among
  // equal starts, as the kernel's lookup takes). nullptr below the first or above the last
  // covered address (`limit`, the end of kernel text).
  const OrcEntry* find(std::uint64_t ip) const;
  std::size_t size() const { return starts_.size(); }
  std::uint64_t start(std::size_t i) const { return starts_[i]; }
  const OrcFormat& format() const { return format_; }

  std::uint64_t limit = ~0ull;          // no entry covers [limit, ...): _etext when known
  std::vector<std::string> warnings;    // e.g. orc_lookup disagreeing, table unsorted
  std::size_t lookup_checked = 0;       // orc_lookup blocks compared (0: not available)
  std::size_t lookup_bad = 0;           // of those, the ones naming another entry
  OrcStats stats;

 private:
  std::vector<std::uint64_t> starts_;   // absolute, sorted
  std::vector<OrcEntry> entries_;
  OrcFormat format_;
};

struct OrcLimits {
  std::uint64_t max_entries = 1u << 22;  // 24 MiB of entries; a distro kernel has ~200k
  std::uint64_t chunk = 1u << 20;        // bytes per range of the one batch
};

// Reads the tables named by kallsyms in one batch, through the image's linear mapping, and
// cross-checks them with orc_lookup when that is known. not_found: no ORC in this kernel
// (a frame-pointer kernel, or kallsyms without the symbols).
Result<OrcTable> read_orc_table(KernelReader& rd, const SymbolTable& syms, const OrcFormat& f,
                                const OrcLimits& lim = {});

}  // namespace tlpstub::kernel
