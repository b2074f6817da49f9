// Finding the kallsyms tables without VMCOREINFO (kernels before 6.0, or VMCOREINFO absent).
//
// 1. The token table: every character that occurs in symbol names is its own token
//    (scripts/kallsyms.c, insert_real_symbols_in_table), so the table holds "0\0" "1\0" ...
//    "9\0" in a row at indices 0x30..0x39; ':' never occurs in core-kernel names, so its slot
//    holds a compressed token, not ":". kallsyms_token_index follows the table (8-aligned) and
//    must describe it exactly: index[0] == 0, and the last token ends where the index begins.
//    The search starts at linux_banner (6.1+: linked right before the tables; <= 6.0 it is
//    early in .rodata and the tables sit at its end) and streams forward through the image.
// 2. The rest, by layout:
//    - markers end at the token table (<= 6.0 and 6.4+): walked backwards (a 0-based
//      ascending array), then num_syms sits 8 bytes before names, which end at the markers;
//      the address table is before num_syms (<= 6.3) or after the token index (6.4+).
//    - seqs_of_names between markers and token table (6.1.y..6.3): kallsyms_relative_base
//      holds the runtime _text (the lowest symbol on x86-64) right before num_syms, which is
//      searched backwards from the token table.
// decode_candidate() then decides: only a layout that decodes and validates is taken.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "common/bytes.hpp"
#include "kernel/symbols/kallsyms_detail.hpp"

namespace tlpstub::kernel::detail {

namespace {

constexpr std::uint64_t kScanChunk = 1ull << 20;
constexpr std::uint64_t kScanLimit = 64ull << 20;  // past the banner, then give up
constexpr std::uint64_t kMaxMarkers = (kMaxKallsyms + 255) / 256;
// Bytes the last 256 names can take (length prefix + tokens, each name < KSYM_NAME_LEN).
constexpr std::uint64_t kLastBlockMax = 256 * (2 + kMaxSymbolName);
// How far below the token table the seqs layout's relative_base is searched.
// (Debian 6.1: names, markers and seqs take 1.5 MiB.)
constexpr std::uint64_t kAnchorWindow = 8ull << 20;

std::uint64_t align8(std::uint64_t v) { return (v + 7) & ~7ull; }
std::uint64_t load_le16(const std::uint8_t* p) { return p[0] | std::uint64_t{p[1]} << 8; }

constexpr char kDigits[] = "0\0" "1\0" "2\0" "3\0" "4\0" "5\0" "6\0" "7\0" "8\0" "9\0";
constexpr std::size_t kDigitsLen = sizeof(kDigits) - 1;  // 20 bytes

// The token table whose digit run is at `digits_va`, if its index confirms it.
std::optional<TokenTables> confirm_tokens(KallsymsReader& rd, std::uint64_t digits_va) {
  // Tokens 0x30..0xff follow the digit run's start: 208 short strings.
  std::vector<std::uint8_t> buf(8192);
  auto r = rd.space().read(VirtAddr(digits_va), buf);
  buf.resize(r.bytes_read);
  std::size_t pos = 0;
  for (int t = 0x30; t <= 0xff; ++t) {
    auto* nul = static_cast<const std::uint8_t*>(std::memchr(buf.data() + pos, 0, buf.size() - pos));
    if (!nul) return std::nullopt;
    pos = static_cast<std::size_t>(nul - buf.data()) + 1;
  }
  const std::uint64_t index_va = align8(digits_va + pos);
  auto idx = rd.get(index_va, 512);
  if (!idx) return std::nullopt;
  const std::uint64_t x = load_le16(idx->data() + 2 * 0x30);
  if (load_le16(idx->data()) != 0 || x > digits_va || x >= 64 * 1024) return std::nullopt;
  const std::uint64_t table_va = digits_va - x;
  auto tt = rd.get(table_va, index_va - table_va);
  if (!tt) return std::nullopt;
  auto tokens = parse_tokens(*tt, *idx);
  if (!tokens) return std::nullopt;
  const std::uint64_t last_end = load_le16(idx->data() + 2 * 255) + (*tokens)[255].size() + 1;
  if (align8(table_va + last_end) != index_va) return std::nullopt;
  for (int c = '0'; c <= '9'; ++c)
    if ((*tokens)[c] != std::string(1, static_cast<char>(c))) return std::nullopt;
  return TokenTables{table_va, index_va, {}};
}

std::optional<TokenTables> find_token_table(KallsymsReader& rd, std::uint64_t from,
                                            std::string* how) {
  // Chunks overlap by 32 bytes so a run across a chunk boundary is seen.
  std::vector<std::uint8_t> buf(kScanChunk + 32);
  std::uint64_t scanned = 0;
  for (std::uint64_t va = from; va - from < kScanLimit; va += kScanChunk) {
    // Whole chunks go through the reader, so the decoder later reuses them (names).
    ReadOutcome r;
    if (auto whole = rd.get(va, buf.size())) {
      std::copy(whole->begin(), whole->end(), buf.begin());
      r.bytes_read = buf.size();
    } else {
      r = rd.space().read(VirtAddr(va), buf);
    }
    scanned += r.bytes_read;
    const std::uint8_t* b = buf.data();
    const std::uint8_t* end = b + r.bytes_read;
    constexpr auto kNeed = static_cast<std::ptrdiff_t>(kDigitsLen + 2);
    for (const std::uint8_t* p = b; end - p >= kNeed; ++p) {
      p = static_cast<const std::uint8_t*>(std::memchr(p, '0', end - p));
      if (!p || end - p < kNeed) break;
      if (std::memcmp(p, kDigits, kDigitsLen) != 0 || (p[kDigitsLen] == ':' && p[kDigitsLen + 1] == 0))
        continue;
      if (auto t = confirm_tokens(rd, va + (p - b))) {
        *how = fmt::format("token table found at {:#x} after scanning {} KiB from {:#x}", t->table,
                           (va + (p - b) - from) / 1024, from);
        return t;
      }
    }
    if (!r.complete()) {
      *how = fmt::format("no token table in {} KiB from {:#x} (stopped: {})", scanned / 1024, from,
                         r.fault->message);
      return std::nullopt;
    }
  }
  *how = fmt::format("no token table in {} MiB from {:#x}", kScanLimit >> 20, from);
  return std::nullopt;
}

void add_address_placements(std::vector<Candidate>& out, Candidate c, std::uint64_t num_va,
                            const TokenTables& t) {
  const std::uint64_t n = c.num_syms;
  // <= 6.3: [offsets][relative_base] num_syms, or [addresses] num_syms.
  c.order_64 = false;
  c.absolute = false;
  c.relative_base_va = num_va - 8;
  c.addresses_va = num_va - 8 - align8(4 * n);
  out.push_back(c);
  c.absolute = true;
  c.addresses_va = num_va - 8 * n;
  out.push_back(c);
  if (c.seqs) return;
  // 6.4+: token_index, offsets, relative_base (or addresses).
  c.order_64 = true;
  c.absolute = false;
  c.addresses_va = t.index + 512;
  c.relative_base_va = c.addresses_va + align8(4 * n);
  out.push_back(c);
  c.absolute = true;
  out.push_back(c);
}

// Markers ending at the token table, walked backwards; then num_syms below the names.
void markers_before_tokens(KallsymsReader& rd, const TokenTables& t,
                           std::vector<Candidate>& out) {
  for (unsigned w : {4u, 8u}) {
    const std::uint64_t span = kMaxMarkers * w + 8;
    if (t.table < span) continue;
    auto b = rd.get(t.table - span, span);
    if (!b) continue;
    auto at = [&](std::uint64_t i_from_end) {  // element i from the end, 1-based
      const std::uint8_t* p = b->data() + b->size() - i_from_end * w;
      return w == 4 ? std::uint64_t{load_le32(p)} : load_le64(p);
    };
    std::uint64_t skip = 0;
    if (w == 4 && at(1) == 0 && at(2) != 0) skip = 1;  // an odd count is padded to 8 bytes
    std::uint64_t k = skip + 1, prev = ~0ull;
    for (; k * w <= span - 8; ++k) {
      const std::uint64_t v = at(k);
      if (v >= prev) break;
      prev = v;
      if (v == 0) break;
    }
    if (prev != 0) continue;
    const std::uint64_t count = k - skip;
    const std::uint64_t markers_va = t.table - k * w;
    const std::uint64_t last = at(skip + 1);
    // num_syms is 8 bytes before names; the last block of <= 256 names follows `last`.
    // names end 0..7 bytes before the markers, and hold at least `last` + 2 bytes.
    if (markers_va < last + 10 + 8) continue;
    const std::uint64_t hi = (markers_va - last - 10) & ~7ull;
    const std::uint64_t lo = hi > kLastBlockMax + 8 ? hi - kLastBlockMax - 8 : 0;
    auto region = rd.get(lo, markers_va - lo);
    if (!region) continue;
    for (std::uint64_t s = hi;; s -= 8) {
      const std::uint64_t n = load_le64(region->data() + (s - lo));
      if (n > (count - 1) * 256 && n <= count * 256) {
        Candidate c;
        c.num_syms = n;
        c.names_va = s + 8;
        c.markers_va = markers_va;
        c.marker_width = w;
        c.token_table_va = t.table;
        c.token_index_va = t.index;
        add_address_placements(out, c, s, t);
      }
      if (s - lo < 8) break;
    }
  }
}

// 6.1.y..6.3 with seqs_of_names: relative_base (== runtime _text) right before num_syms.
void seqs_before_tokens(KallsymsReader& rd, const KernelImage& img, const TokenTables& t,
                        std::vector<Candidate>& out) {
  for (std::uint64_t hi = t.table & ~7ull; hi > t.table - kAnchorWindow; hi -= kScanChunk) {
    auto b = rd.get(hi - kScanChunk, kScanChunk + 16);
    if (!b) return;
    for (std::uint64_t off = kScanChunk; off >= 8; off -= 8) {
      if (load_le64(b->data() + off - 8) != img.text_va) continue;
      const std::uint64_t base_va = hi - kScanChunk + off - 8;
      const std::uint64_t n = load_le64(b->data() + off);
      if (n == 0 || n > kMaxKallsyms) continue;
      Candidate c;
      c.num_syms = n;
      c.names_va = base_va + 16;
      c.marker_width = 4;
      c.seqs = true;
      const std::uint64_t below = align8((n + 255) / 256 * 4) + align8(3 * n);
      if (t.table - c.names_va < below) continue;
      c.markers_va = t.table - below;
      c.token_table_va = t.table;
      c.token_index_va = t.index;
      c.relative_base_va = base_va;
      c.addresses_va = base_va - align8(4 * n);
      out.push_back(c);
      return;  // the first anchor below the tables; decode_candidate decides
    }
  }
}

}  // namespace

Result<TokenTables> scan_token_table(KallsymsReader& rd, const KernelImage& img) {
  const std::uint64_t from = img.banner_va ? img.banner_va & ~7ull : img.text_va;
  std::string how;
  auto t = find_token_table(rd, from, &how);
  if (!t) return fail(Errc::not_found, how);
  t->how = how;
  return *t;
}

Result<std::vector<Candidate>> scan_candidates(KallsymsReader& rd, const KernelImage& img,
                                               const TokenTables& t, bool seqs_layout) {
  std::vector<Candidate> out;
  if (seqs_layout)
    seqs_before_tokens(rd, img, t, out);
  else
    markers_before_tokens(rd, t, out);
  if (out.empty())
    return fail(Errc::not_found,
                fmt::format("{}, but {}", t.how,
                            seqs_layout ? "no relative_base == _text below it"
                                        : "no markers and num_syms end at it"));
  return out;
}

}  // namespace tlpstub::kernel::detail
