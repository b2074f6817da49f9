// Finding and reading the kallsyms tables (kernel/symbols/kallsyms.hpp).
//
// Where: VMCOREINFO (6.0+, kernel/vmcore_info.c) names kallsyms_names, _num_syms,
// _token_table, _token_index and _offsets + _relative_base (or _addresses) but not the markers
// or seqs: the markers end at the token table (<= 6.0, 6.4+) or 3*n bytes earlier (seqs, 6.1.y
// to 6.3). Without VMCOREINFO the token table is found by scanning the image (kallsyms_scan.cpp).
// Either way every candidate layout is decoded and the one that validates is taken.
//
// Reads: the tables are read whole, in a few large AddressSpace reads (names..token_index in
// one, the address table in another); hypotheses reuse the bytes already read.
#include "kernel/symbols/kallsyms.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "common/bytes.hpp"
#include "kernel/symbols/kallsyms_detail.hpp"
#include "transport/counting_memory.hpp"
#include "kernel/vmcoreinfo.hpp"

namespace tlpstub::kernel::detail {

Result<std::span<const std::uint8_t>> KallsymsReader::get(std::uint64_t va, std::uint64_t len) {
  for (const auto& w : windows_)
    if (va >= w.va && va - w.va <= w.bytes.size() && len <= w.bytes.size() - (va - w.va))
      return std::span<const std::uint8_t>(w.bytes).subspan(va - w.va, len);
  if (auto stitched = stitch(va, len)) {
    windows_.push_back(Window{va, std::move(*stitched)});
    return std::span<const std::uint8_t>(windows_.back().bytes);
  }
  if (len > kMaxKallsymsRead)
    return fail(Errc::malformed, fmt::format("refusing to read {} bytes at {:#x} for kallsyms",
                                             len, va));
  if (va + len < va) return fail(Errc::malformed, "kallsyms range wraps around");
  Window w{va, std::vector<std::uint8_t>(len)};
  auto r = as_.read(VirtAddr(va), w.bytes);
  if (!r.complete())
    return fail(r.fault->code, fmt::format("kallsyms: cannot read {} bytes at {:#x}: {}", len, va,
                                           r.fault->message),
                va);
  windows_.push_back(std::move(w));
  const auto& b = windows_.back().bytes;
  return std::span<const std::uint8_t>(b);
}

// [va, va + len) from windows read before that together cover it (a scan's chunks cover the
// names the decoder then asks for): no second read of the same bytes.
std::optional<std::vector<std::uint8_t>> KallsymsReader::stitch(std::uint64_t va,
                                                                std::uint64_t len) const {
  if (len == 0 || va + len < va) return std::nullopt;
  std::vector<std::uint8_t> out(len);
  std::uint64_t have = 0;  // bytes [va, va + have) filled
  bool progress = true;
  while (have < len && progress) {
    progress = false;
    for (const auto& w : windows_) {
      const std::uint64_t at = va + have;
      if (at < w.va || at - w.va >= w.bytes.size()) continue;
      const std::uint64_t n = std::min<std::uint64_t>(w.bytes.size() - (at - w.va), len - have);
      std::copy_n(w.bytes.begin() + static_cast<std::ptrdiff_t>(at - w.va), n,
                  out.begin() + static_cast<std::ptrdiff_t>(have));
      have += n;
      progress = true;
      if (have == len) break;
    }
  }
  if (have < len) return std::nullopt;
  return out;
}

Result<std::uint64_t> KallsymsReader::u64(std::uint64_t va) {
  auto b = get(va, 8);
  if (!b) return std::unexpected(b.error());
  return load_le64(b->data());
}

namespace {

std::string describe(const Candidate& c, NameLength nl, AddressEncoding enc) {
  return fmt::format("{}, {}, {}-byte markers{}, order {}", encoding_name(enc),
                     name_length_name(nl), c.marker_width, c.seqs ? ", seqs_of_names" : "",
                     c.order_64 ? "6.4+" : "<= 6.3");
}

const Symbol* by_name(const std::vector<Symbol>& syms, std::string_view name) {
  for (const Symbol& s : syms)
    if (s.name == name && !s.percpu) return &s;
  return nullptr;
}

}  // namespace

// The checks that make a decoding believable: _text (or _stext) at the discovered _text, and
// linux_banner at the discovered banner (only with KALLSYMS_ALL: absent otherwise).
std::optional<std::string> validate_symbols(const std::vector<Symbol>& syms,
                                            const KernelImage& img, std::string* note) {
  const Symbol* text = by_name(syms, "_text");
  if (!text) text = by_name(syms, "_stext");
  if (!text) return "neither _text nor _stext decoded";
  if (text->address != img.text_va)
    return fmt::format("{} decodes to {:#x}, discovery found _text at {:#x}", text->name,
                       text->address, img.text_va);
  if (!img.banner_va) {
    *note = "linux_banner not checked: discovery did not find the banner";
    return std::nullopt;
  }
  const Symbol* banner = by_name(syms, "linux_banner");
  if (!banner) {
    *note = "no linux_banner symbol (kernel without KALLSYMS_ALL?): only _text checked";
    return std::nullopt;
  }
  if (banner->address != img.banner_va)
    return fmt::format("linux_banner decodes to {:#x}, discovery found it at {:#x}",
                       banner->address, img.banner_va);
  *note = fmt::format("{} and linux_banner decode to the discovered addresses", text->name);
  return std::nullopt;
}

// Reads the address entry of _text (or _stext) alone and checks it can be the discovered _text.
Result<void> text_probe(KallsymsReader& rd, const Candidate& c, const DecodedNames& dn,
                        std::uint64_t base, std::uint64_t text_va) {
  std::size_t idx = dn.names.size();
  for (std::size_t i = 0; i < dn.names.size() && idx == dn.names.size(); ++i)
    if (std::string_view(dn.names[i]).substr(1) == "_text") idx = i;
  for (std::size_t i = 0; i < dn.names.size() && idx == dn.names.size(); ++i)
    if (std::string_view(dn.names[i]).substr(1) == "_stext") idx = i;
  if (idx == dn.names.size()) return fail(Errc::not_found, "neither _text nor _stext decoded");
  const std::uint64_t width = c.absolute ? 8 : 4;
  auto e = rd.get(c.addresses_va + idx * width, width);
  if (!e) return std::unexpected(e.error());
  DecodedNames one;
  one.names.push_back(dn.names[idx]);
  std::string seen;
  for (AddressEncoding enc : {AddressEncoding::absolute_percpu, AddressEncoding::relative,
                              AddressEncoding::absolute}) {
    if ((enc == AddressEncoding::absolute) != c.absolute) continue;
    auto s = decode_addresses(one, *e, enc, base);
    if (!s) continue;
    if ((*s)[0].address == text_va) return {};
    seen += fmt::format("{}{:#x} ({})", seen.empty() ? "" : " or ", (*s)[0].address,
                        encoding_name(enc));
  }
  return fail(Errc::not_found, fmt::format("{} decodes to {}, discovery found _text at {:#x}",
                                           dn.names[idx].substr(1), seen, text_va));
}

// Decodes one candidate layout, trying the name-length and address encodings it allows.
Result<Decoded> decode_candidate(KallsymsReader& rd, const Candidate& c, const KernelImage& img) {
  const std::uint64_t markers = (c.num_syms + 255) / 256;
  if (c.num_syms == 0 || c.num_syms > kMaxKallsyms)
    return fail(Errc::malformed, fmt::format("kallsyms_num_syms = {}", c.num_syms));
  if (c.token_index_va <= c.token_table_va || c.token_index_va - c.token_table_va > 64 * 1024)
    return fail(Errc::malformed, "token index not right after a token table of at most 64 KiB");
  if (c.markers_va < c.names_va) return fail(Errc::malformed, "markers before names");
  auto tt = rd.get(c.token_table_va, c.token_index_va - c.token_table_va);
  if (!tt) return std::unexpected(tt.error());
  auto ti = rd.get(c.token_index_va, 512);
  if (!ti) return std::unexpected(ti.error());
  auto tokens = parse_tokens(*tt, *ti);
  if (!tokens) return std::unexpected(tokens.error());
  auto names = rd.get(c.names_va, c.markers_va - c.names_va);
  if (!names) return std::unexpected(names.error());
  auto mk = rd.get(c.markers_va, markers * c.marker_width);
  if (!mk) return std::unexpected(mk.error());

  std::optional<DecodedNames> dn;
  NameLength nl = NameLength::uleb128;
  std::string why;
  for (NameLength l : {NameLength::uleb128, NameLength::byte}) {
    auto d = decode_names(*names, c.num_syms, *tokens, l, *mk, c.marker_width);
    if (d && c.markers_va - c.names_va - d->end < 8) {
      dn = std::move(*d);
      nl = l;
      break;
    }
    why = d ? fmt::format("names end {} bytes before the markers", c.markers_va - c.names_va - d->end)
            : d.error().message;
  }
  if (!dn) return fail(Errc::malformed, why);

  const std::uint64_t width = c.absolute ? 8 : 4;
  std::uint64_t base = 0;
  if (!c.absolute) {
    auto b = rd.u64(c.relative_base_va);
    if (!b) return std::unexpected(b.error());
    base = *b;
  }
  // One entry before the whole table: the one of _text (or _stext) must decode to the
  // discovered _text under some encoding, or this placement is wrong (saves reading a table
  // of n entries per wrong hypothesis).
  if (auto probe = text_probe(rd, c, *dn, base, img.text_va); !probe)
    return std::unexpected(probe.error());
  auto table = rd.get(c.addresses_va, c.num_syms * width);
  if (!table) return std::unexpected(table.error());
  std::vector<AddressEncoding> encs;
  if (c.absolute)
    encs = {AddressEncoding::absolute};
  else
    encs = {AddressEncoding::absolute_percpu, AddressEncoding::relative};
  std::vector<std::string> rejected;
  for (AddressEncoding e : encs) {
    auto syms = decode_addresses(*dn, *table, e, base);
    if (!syms) return std::unexpected(syms.error());
    std::string note;
    if (auto bad = validate_symbols(*syms, img, &note)) {
      rejected.push_back(fmt::format("{}: {}", encoding_name(e), *bad));
      continue;
    }
    return Decoded{std::move(*syms), describe(c, nl, e), std::move(note)};
  }
  std::string all;
  for (const auto& r : rejected) all += (all.empty() ? "" : "; ") + r;
  return fail(Errc::not_found, all);
}

}  // namespace tlpstub::kernel::detail

namespace tlpstub::kernel {

using detail::Candidate;
using detail::KallsymsReader;

namespace {

std::uint64_t align8(std::uint64_t v) { return (v + 7) & ~7ull; }

// Candidates from VMCOREINFO's SYMBOL(kallsyms_*): the markers' place depends on whether seqs
// sit between them and the token table, and their width on the version (both tried).
Result<std::vector<Candidate>> vmcoreinfo_candidates(KallsymsReader& rd, const KernelImage& img) {
  Vmcoreinfo vi;
  vi.entries = img.vmcoreinfo;
  auto names = vi.symbol("kallsyms_names"), num = vi.symbol("kallsyms_num_syms"),
       tt = vi.symbol("kallsyms_token_table"), ti = vi.symbol("kallsyms_token_index"),
       offsets = vi.symbol("kallsyms_offsets"), base = vi.symbol("kallsyms_relative_base"),
       addrs = vi.symbol("kallsyms_addresses");
  if (!names || !num || !tt || !ti || !(offsets && base) == !addrs)
    return fail(Errc::not_found, "VMCOREINFO has no SYMBOL(kallsyms_*) set");
  auto n = rd.u64(*num);
  if (!n) return std::unexpected(n.error());
  // u32 (4.20+) followed by zero padding, or u64: either way the u64 read is the count.
  if (*n == 0 || *n > kMaxKallsyms)
    return fail(Errc::malformed, fmt::format("kallsyms_num_syms at {:#x} reads {}", *num, *n));
  if (*tt <= *names) return fail(Errc::malformed, "kallsyms_token_table before kallsyms_names");
  std::vector<Candidate> out;
  for (unsigned width : {4u, 8u})
    for (bool seqs : {false, true}) {
      Candidate c;
      c.num_syms = *n;
      c.names_va = *names;
      c.marker_width = width;
      c.seqs = seqs;
      c.order_64 = *names < (offsets ? *offsets : *addrs);
      const std::uint64_t below = align8((*n + 255) / 256 * width) + (seqs ? align8(3 * *n) : 0);
      if (*tt - *names < below) continue;
      c.markers_va = *tt - below;
      c.token_table_va = *tt;
      c.token_index_va = *ti;
      c.absolute = !offsets;
      c.addresses_va = offsets ? *offsets : *addrs;
      c.relative_base_va = base.value_or(0);
      out.push_back(c);
    }
  // One read for names..token_index (markers and seqs included) before the hypotheses slice it.
  if (*ti > *names && *ti - *names < detail::kMaxKallsymsRead) {
    auto whole = rd.get(*names, *ti + 512 - *names);
    if (!whole) return std::unexpected(whole.error());
  }
  return out;
}

}  // namespace

Result<RecoveredSymbols> recover_symbols(PhysicalMemory& memory, const KernelImage& img) {
  const auto t0 = std::chrono::steady_clock::now();
  CountingMemory mem(memory);
  PageWalker walker(mem, img.levels, img.sme_mask);
  AddressSpace as(mem, walker, img.top);
  KallsymsReader rd(as);
  KallsymsReport rep;

  std::vector<std::string> tried;
  auto attempt = [&](std::string method,
                     Result<std::vector<Candidate>> cands) -> std::optional<RecoveredSymbols> {
    if (!cands) {
      tried.push_back(method + ": " + cands.error().message);
      return std::nullopt;
    }
    for (const Candidate& c : *cands) {
      auto d = detail::decode_candidate(rd, c, img);
      if (!d) {
        tried.push_back(fmt::format("{} (names {:#x}, {}-byte markers{}): {}", method, c.names_va,
                                    c.marker_width, c.seqs ? ", seqs" : "", d.error().message));
        continue;
      }
      rep.method = method;
      rep.layout = d->layout;
      rep.names_va = c.names_va;
      rep.token_table_va = c.token_table_va;
      rep.addresses_va = c.addresses_va;
      rep.count = d->symbols.size();
      rep.percpu = static_cast<std::size_t>(std::count_if(
          d->symbols.begin(), d->symbols.end(), [](const Symbol& s) { return s.percpu; }));
      rep.notes.push_back(fmt::format("kallsyms_names at {:#x}, token table at {:#x}, addresses "
                                      "at {:#x}: {}",
                                      c.names_va, c.token_table_va, c.addresses_va, d->layout));
      if (!d->note.empty()) rep.notes.push_back(d->note);
      return RecoveredSymbols{SymbolTable(std::move(d->symbols)), std::move(rep)};
    }
    return std::nullopt;
  };

  std::optional<RecoveredSymbols> found;
  if (!img.vmcoreinfo.empty()) found = attempt("vmcoreinfo", vmcoreinfo_candidates(rd, img));
  if (!found) {
    auto t = detail::scan_token_table(rd, img);
    if (!t) {
      tried.push_back("scan: " + t.error().message);
    } else {
      found = attempt("scan", detail::scan_candidates(rd, img, *t, false));
      if (!found) found = attempt("scan", detail::scan_candidates(rd, img, *t, true));
      if (found) found->report.notes.push_back(t->how);
    }
  }
  if (!found) {
    std::string all;
    for (const auto& t : tried) all += (all.empty() ? "" : "; ") + t;
    return fail(Errc::not_found, "kallsyms tables not found: " + all);
  }
  for (const auto& t : tried) found->report.notes.insert(found->report.notes.begin(), "rejected: " + t);
  const MemoryCounters mc = mem.counters();
  found->report.reads = mc.ranges;
  found->report.bytes = mc.bytes;
  found->report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return std::move(*found);
}

}  // namespace tlpstub::kernel
