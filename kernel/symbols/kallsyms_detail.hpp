// Internals of kallsyms recovery shared by kallsyms.cpp (VMCOREINFO path, decoding a candidate)
// and kallsyms_scan.cpp (finding the tables without VMCOREINFO). Not part of the public API.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "kernel/address_space.hpp"
#include "kernel/kernel_image.hpp"
#include "kernel/symbols/kallsyms.hpp"

namespace tlpstub::kernel::detail {

// No single kallsyms read is larger (names of 4 M symbols would not be: Debian 6.12's whole
// tables are about 3 MiB).
inline constexpr std::uint64_t kMaxKallsymsRead = 64ull << 20;

// Reads virtual ranges once and serves later requests inside them from memory, so trying
// several layouts over the same tables costs no more reads.
class KallsymsReader {
 public:
  explicit KallsymsReader(AddressSpace& as) : as_(as) {}
  // The bytes [va, va + len), read whole or not at all.
  Result<std::span<const std::uint8_t>> get(std::uint64_t va, std::uint64_t len);
  Result<std::uint64_t> u64(std::uint64_t va);
  AddressSpace& space() { return as_; }

 private:
  std::optional<std::vector<std::uint8_t>> stitch(std::uint64_t va, std::uint64_t len) const;
  struct Window {
    std::uint64_t va;
    std::vector<std::uint8_t> bytes;
  };
  AddressSpace& as_;
  std::vector<Window> windows_;
};

// One hypothesis of where the tables are (virtual addresses).
struct Candidate {
  std::uint64_t num_syms = 0;
  std::uint64_t names_va = 0, markers_va = 0;
  unsigned marker_width = 4;
  bool seqs = false;      // seqs_of_names between markers and token table (<= 6.3 order)
  bool order_64 = false;  // 6.4+ order (addresses after the token index)
  std::uint64_t token_table_va = 0, token_index_va = 0;
  bool absolute = false;  // kallsyms_addresses instead of offsets + relative_base
  std::uint64_t addresses_va = 0, relative_base_va = 0;
};

struct Decoded {
  std::vector<Symbol> symbols;
  std::string layout;
  std::string note;
};

// Why these symbols do not belong to `img` (nullopt: they do; `note` says what was checked).
std::optional<std::string> validate_symbols(const std::vector<Symbol>& syms,
                                            const KernelImage& img, std::string* note);
Result<Decoded> decode_candidate(KallsymsReader& rd, const Candidate& c, const KernelImage& img);
struct TokenTables {
  std::uint64_t table = 0, index = 0;  // kallsyms_token_table, kallsyms_token_index
  std::string how;
};

// The token table, found by scanning the image from the banner (kallsyms_scan.cpp).
Result<TokenTables> scan_token_table(KallsymsReader& rd, const KernelImage& img);
// Candidates around it: markers ending at the token table (<= 6.0, 6.4+), or, a second stage
// read only when those fail, seqs between them (6.1.y..6.3).
Result<std::vector<Candidate>> scan_candidates(KallsymsReader& rd, const KernelImage& img,
                                               const TokenTables& t, bool seqs_layout);

}  // namespace tlpstub::kernel::detail
