// kallsyms: the kernel's own compressed symbol table, decoded from memory (design.md step 3).
//
// Layout (kernel/kallsyms.c, kernel/kallsyms_internal.h, scripts/kallsyms.c; facts/linux.md §4):
//
//   kallsyms_num_syms      u64 (<= 4.19) | u32 (4.20+), then padding to 8
//   kallsyms_names         per symbol: length, then `length` token indices; the first expanded
//                          character is the nm type letter. Length: 1 byte (<= 6.0); ULEB128 of
//                          at most 2 bytes from 6.1 (0x80 bit: low 7 bits, then next byte << 7)
//   kallsyms_markers       offset in names of symbol 256*k; u64 (<= 4.19) | u32 (4.20+)
//   kallsyms_seqs_of_names 3 bytes big-endian per symbol (6.2+, backported to 6.1.y): only
//                          for lookups by name, not needed to decode; only its size matters
//   kallsyms_token_table   256 NUL-terminated strings, one per byte value
//   kallsyms_token_index   u16[256]: offset of each token in the token table
//   kallsyms_offsets       s32[n] + kallsyms_relative_base (u64, runtime, KASLR applied)
//   kallsyms_addresses     u64[n] instead, without KALLSYMS_BASE_RELATIVE (not on x86-64 4.6+)
//
// Order up to 6.3: offsets, relative_base, num_syms, names, markers, [seqs], token_table,
// token_index. From 6.4 (scripts/kallsyms.c "change the output order"): num_syms, names,
// markers, token_table, token_index, offsets, relative_base, seqs. Every table 8-byte aligned.
//
// Addresses (kallsyms_sym_address()):
//   absolute_percpu (x86-64 SMP <= 6.14, KALLSYMS_ABSOLUTE_PERCPU): off >= 0 is a per-CPU
//                   section offset, off < 0 is relative_base - 1 - off
//   relative        (6.15+, where ABSOLUTE_PERCPU was removed): relative_base + (u32)off
//   absolute        kallsyms_addresses[i]
//
// Nothing read from the target is trusted: every count, offset and index is bounds-checked,
// and a layout is chosen only when decoding it validates (markers agree with the name walk,
// `_text`/`_stext` decodes to the discovered _text, `linux_banner` to the discovered banner).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "kernel/kernel_image.hpp"
#include "kernel/symbols/symbol_table.hpp"
#include "transport/physical_memory.hpp"

namespace tlpstub::kernel {

// At most this many symbols (Debian 6.12 has 162,959 [obs]; allyesconfig a few hundred
// thousand): a larger num_syms is corrupt memory, not a kernel.
inline constexpr std::uint64_t kMaxKallsyms = 1u << 22;
// KSYM_NAME_LEN is 512 from 6.1 (128 before): a longer expansion is corrupt.
inline constexpr std::size_t kMaxSymbolName = 512;

enum class AddressEncoding { absolute_percpu, relative, absolute };
enum class NameLength { byte, uleb128 };

std::string_view encoding_name(AddressEncoding e);
std::string_view name_length_name(NameLength l);

using TokenTable = std::array<std::string, 256>;

// The 256 tokens. token_table is bounded by the caller (the bytes up to token_index).
Result<TokenTable> parse_tokens(std::span<const std::uint8_t> token_table,
                                std::span<const std::uint8_t> token_index);

struct DecodedNames {
  std::vector<std::string> names;  // type letter first, as stored
  std::size_t end = 0;             // bytes of `names` used
};

// Walks `count` entries of kallsyms_names. When `markers` is not empty (marker_width 4 or 8
// bytes each), every 256th entry must start where its marker says.
Result<DecodedNames> decode_names(std::span<const std::uint8_t> names, std::uint64_t count,
                                  const TokenTable& tokens, NameLength lengths,
                                  std::span<const std::uint8_t> markers, unsigned marker_width);

// `table` is kallsyms_offsets (4 bytes each) or kallsyms_addresses (8 bytes each, absolute).
Result<std::vector<Symbol>> decode_addresses(const DecodedNames& names,
                                             std::span<const std::uint8_t> table,
                                             AddressEncoding enc, std::uint64_t relative_base);

// Where the tables were found and what recovering them cost (monitor info).
struct KallsymsReport {
  std::string method;   // "vmcoreinfo" (SYMBOL(kallsyms_*)) or "scan"
  std::string layout;   // e.g. "absolute_percpu offsets, uleb128 lengths, 4-byte markers, ..."
  std::uint64_t names_va = 0, token_table_va = 0, addresses_va = 0;
  std::size_t count = 0, percpu = 0;
  std::uint64_t reads = 0, bytes = 0;
  double seconds = 0;
  std::vector<std::string> notes;
};

struct RecoveredSymbols {
  SymbolTable table;
  KallsymsReport report;
};

// Finds, reads and decodes the kallsyms tables of the kernel discovery found (through its page
// table), in a few large reads.
Result<RecoveredSymbols> recover_symbols(PhysicalMemory& mem, const KernelImage& img);

}  // namespace tlpstub::kernel
