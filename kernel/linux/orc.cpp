#include "kernel/linux/orc.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <numeric>
#include <optional>

#include "common/bytes.hpp"

namespace tlpstub::kernel {

namespace {

std::uint16_t orc_le16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] | p[1] << 8);
}

std::optional<std::uint64_t> orc_symbol(const SymbolTable& syms, std::string_view name) {
  const Symbol* s = syms.find_address(name);
  return s ? std::optional(s->address) : std::nullopt;
}

// The bit position within the flags u16 of a BTF bitfield of struct orc_entry.
std::optional<FieldInfo> orc_btf_bits(const TypeInfo& ti, std::string_view name) {
  auto m = ti.member("orc_entry", name);
  if (!m || m->bit_size == 0 || m->bit_offset < 32 || m->bit_offset + m->bit_size > 48)
    return std::nullopt;
  return *m;
}

OrcType orc_type_of(unsigned raw, const OrcFormat& f, std::uint8_t sp_reg, bool end) {
  if (f.end_bit < 0) {  // 6.4+
    switch (raw) {
      case 0: return OrcType::undefined;
      case 1: return OrcType::end_of_stack;
      case 2: return OrcType::call;
      case 3: return OrcType::regs;
      case 4: return OrcType::regs_partial;
      default: return OrcType::unknown;
    }
  }
  // Before 6.4 an undefined sp_reg marks both the end of the stack (end = 1, UNWIND_HINT_EMPTY
  // at entry points) and code with no valid data (end = 0).
  if (sp_reg == static_cast<std::uint8_t>(OrcReg::undefined))
    return end ? OrcType::end_of_stack : OrcType::undefined;
  switch (raw) {
    case 0: return OrcType::call;
    case 1: return OrcType::regs;
    case 2: return OrcType::regs_partial;
    default: return OrcType::unknown;
  }
}

}  // namespace

Result<OrcFormat> orc_format(const TypeInfo* types, std::string_view release) {
  if (types) {
    auto type = orc_btf_bits(*types, "type");
    auto sp = orc_btf_bits(*types, "sp_reg");
    if (type && sp && sp->bit_offset == 32) {
      OrcFormat f;
      f.type_shift = static_cast<unsigned>(type->bit_offset - 32);
      f.type_bits = type->bit_size;
      auto sig = orc_btf_bits(*types, "signal");
      auto end = orc_btf_bits(*types, "end");
      f.signal_bit = sig ? static_cast<int>(sig->bit_offset - 32) : -1;
      f.end_bit = end ? static_cast<int>(end->bit_offset - 32) : -1;
      f.source = type->source;  // "BTF", or "profile"
      return f;
    }
  }
  unsigned major = 0, minor = 0;
  const char* p = release.data();
  const char* e = p + release.size();
  auto r1 = std::from_chars(p, e, major);
  if (r1.ec != std::errc() || r1.ptr == e || *r1.ptr != '.' ||
      std::from_chars(r1.ptr + 1, e, minor).ec != std::errc())
    return fail(Errc::not_found,
                fmt::format("ORC: no struct orc_entry in BTF and release '{}' has no version",
                            release));
  const unsigned v = major * 1000 + minor;
  OrcFormat f;
  f.source = fmt::format("release {}.{}", major, minor);
  if (v < 4014) return fail(Errc::unsupported, fmt::format("ORC: none before 4.14 ({})", release));
  if (v >= 6004) return f;  // type:3 signal:1
  f.type_bits = 2;
  if (v >= 6003) {
    f.signal_bit = 10;
    f.end_bit = 11;
  } else {
    f.signal_bit = -1;
    f.end_bit = v >= 4018 ? 10 : -1;
  }
  return f;
}

OrcEntry orc_decode(std::span<const std::uint8_t, 6> raw, const OrcFormat& f) {
  OrcEntry e;
  e.sp_offset = static_cast<std::int16_t>(orc_le16(raw.data()));
  e.bp_offset = static_cast<std::int16_t>(orc_le16(raw.data() + 2));
  const unsigned flags = orc_le16(raw.data() + 4);
  e.sp_reg = flags & 0xf;
  e.bp_reg = (flags >> 4) & 0xf;
  const unsigned t = (flags >> f.type_shift) & ((1u << f.type_bits) - 1);
  const bool end = f.end_bit >= 0 && ((flags >> f.end_bit) & 1);
  e.type = orc_type_of(t, f, e.sp_reg, end);
  // Before 6.3 the kernel derived it: every non-CALL frame was entered by a signal/interrupt.
  e.signal = f.signal_bit >= 0 ? ((flags >> f.signal_bit) & 1) != 0
                               : (e.type == OrcType::regs || e.type == OrcType::regs_partial);
  return e;
}

Result<OrcTable> OrcTable::from_bytes(std::uint64_t ip_va, std::span<const std::uint8_t> ips,
                                      std::span<const std::uint8_t> entries, const OrcFormat& f) {
  if (ips.size() % 4 != 0 || entries.size() % 6 != 0 || ips.size() / 4 != entries.size() / 6)
    return fail(Errc::malformed,
                fmt::format("ORC: {} bytes of addresses do not pair with {} bytes of entries",
                            ips.size(), entries.size()));
  const std::size_t n = ips.size() / 4;
  if (n == 0) return fail(Errc::not_found, "ORC: the table is empty");
  OrcTable t;
  t.format_ = f;
  t.starts_.resize(n);
  t.entries_.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto rel = static_cast<std::int32_t>(load_le32(ips.data() + 4 * i));
    t.starts_[i] = ip_va + 4 * i + static_cast<std::uint64_t>(static_cast<std::int64_t>(rel));
    t.entries_[i] = orc_decode(entries.subspan(6 * i).first<6>(), f);
  }
  if (!std::is_sorted(t.starts_.begin(), t.starts_.end())) {
    // Sorted at build time since 5.6 (and at boot before): an unsorted table was read while
    // being sorted, or is not ORC at all. Sort it (stably: terminators first among equals).
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return t.starts_[a] < t.starts_[b]; });
    std::vector<std::uint64_t> s(n);
    std::vector<OrcEntry> e(n);
    for (std::size_t i = 0; i < n; ++i) {
      s[i] = t.starts_[order[i]];
      e[i] = t.entries_[order[i]];
    }
    t.starts_ = std::move(s);
    t.entries_ = std::move(e);
    t.warnings.push_back("ORC: the address table was not sorted (sorted here)");
  }
  return t;
}

const OrcEntry* OrcTable::find(std::uint64_t ip) const {
  if (ip >= limit) return nullptr;
  auto it = std::upper_bound(starts_.begin(), starts_.end(), ip);
  if (it == starts_.begin()) return nullptr;
  return &entries_[static_cast<std::size_t>(it - starts_.begin()) - 1];
}

Result<OrcTable> read_orc_table(KernelReader& rd, const SymbolTable& syms, const OrcFormat& f,
                                const OrcLimits& lim) {
  auto ip0 = orc_symbol(syms, "__start_orc_unwind_ip");
  auto ip1 = orc_symbol(syms, "__stop_orc_unwind_ip");
  auto en0 = orc_symbol(syms, "__start_orc_unwind");
  if (!ip0 || !ip1 || !en0)
    return fail(Errc::not_found,
                "ORC: kallsyms has no __start_orc_unwind_ip/__stop_orc_unwind_ip/"
                "__start_orc_unwind (a kernel without CONFIG_UNWINDER_ORC?)");
  if (*ip1 <= *ip0 || (*ip1 - *ip0) % 4 != 0 || (*ip1 - *ip0) / 4 > lim.max_entries)
    return fail(Errc::malformed,
                fmt::format("ORC: implausible address table [{:#x}, {:#x})", *ip0, *ip1));
  const std::uint64_t n = (*ip1 - *ip0) / 4;
  if (auto en1 = orc_symbol(syms, "__stop_orc_unwind"); en1 && *en1 - *en0 != 6 * n)
    return fail(Errc::malformed,
                fmt::format("ORC: {} addresses but {} bytes of entries", n, *en1 - *en0));
  std::vector<std::uint8_t> ipb(4 * n), enb(6 * n);
  std::vector<VaRead> reads;
  const std::uint64_t chunk = std::max<std::uint64_t>(lim.chunk, 4096);
  auto plan = [&](std::uint64_t va, std::span<std::uint8_t> out) {
    for (std::uint64_t off = 0; off < out.size(); off += chunk)
      reads.push_back({va + off, out.subspan(off, std::min<std::uint64_t>(chunk, out.size() - off))});
  };
  plan(*ip0, ipb);
  plan(*en0, enb);
  // orc_lookup (filled at boot by unwind_init()): a second, independent fact to confirm the
  // table against. Optional: it is not needed to look entries up in local memory.
  auto lk0 = orc_symbol(syms, "orc_lookup");
  auto lk1 = orc_symbol(syms, "orc_lookup_end");
  auto stext = orc_symbol(syms, "_stext");
  auto etext = orc_symbol(syms, "_etext");
  std::vector<std::uint8_t> lkb;
  const std::size_t lookup_first = reads.size();
  if (lk0 && lk1 && stext && etext && *lk1 > *lk0 && *lk1 - *lk0 <= (64u << 20) / 64 &&
      (*lk1 - *lk0) % 4 == 0) {
    lkb.resize(*lk1 - *lk0);
    plan(*lk0, lkb);
  }
  auto st = rd.read(reads);
  for (std::size_t i = 0; i < st.size(); ++i)
    if (!st[i]) {
      if (i >= lookup_first) {
        lkb.clear();  // only the cross-check is lost
        continue;
      }
      return fail(st[i].error().code,
                  fmt::format("ORC: table at {:#x} unreadable: {}", reads[i].va,
                              st[i].error().message),
                  reads[i].va);
    }
  auto t = OrcTable::from_bytes(*ip0, ipb, enb, f);
  if (!t) return t;
  t->stats.batches = 1;
  t->stats.bytes = ipb.size() + enb.size() + lkb.size();
  if (etext) t->limit = *etext;
  if (!lkb.empty()) {
    // Slot i names the entry in force at _stext + i*256 (LOOKUP_BLOCK_ORDER 8): unwind_init()
    // stores __orc_find()'s answer, the rightmost entry starting at or below the block, or
    // entry 0 for a block below every entry. Count the slots that name another one.
    std::size_t bad = 0;
    const std::size_t blocks = lkb.size() / 4;
    for (std::size_t i = 0; i + 1 < blocks; ++i) {
      const std::uint32_t idx = load_le32(lkb.data() + 4 * i);
      const std::uint64_t block = *stext + 256 * i;
      if (block >= *etext) break;
      ++t->lookup_checked;
      const bool below_all = t->start(0) > block;
      if (idx >= t->size() || (below_all ? idx != 0
                                         : t->start(idx) > block ||
                                               (idx + 1 < t->size() && t->start(idx + 1) <= block)))
        ++bad;
    }
    t->lookup_bad = bad;
    if (bad)
      t->warnings.push_back(
          fmt::format("ORC: orc_lookup disagrees with the table in {} of {} blocks", bad, blocks));
  }
  return t;
}

}  // namespace tlpstub::kernel
