#include "transport/tlp_codec.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstring>
#include <fmt/format.h>

#include "common/parse.hpp"

namespace tlpstub::tlp {

namespace {

std::uint16_t get16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }
std::uint32_t get32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}
void put16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void put32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

// Length field: 10 bits, 0 means 1024 dwords.
std::uint32_t length_field(const std::uint8_t* tlp) {
  std::uint32_t n = (std::uint32_t{tlp[2]} & 0x3) << 8 | tlp[3];
  return n == 0 ? 1024 : n;
}
bool td_bit(const std::uint8_t* tlp) { return tlp[2] & 0x80; }
bool ep_bit(const std::uint8_t* tlp) { return tlp[2] & 0x40; }

std::uint32_t ceil_dw(std::uint32_t bytes) { return (bytes + 3) / 4; }

}  // namespace

Result<std::uint16_t> parse_bdf(std::string_view s) {
  auto bad = [&] {
    return fail(Errc::invalid_argument,
                fmt::format("requester '{}' is not BB:DD.F (hex bus, device < 20, function < 8)", s));
  };
  auto colon = s.find(':');
  auto dot = s.find('.');
  if (colon == std::string_view::npos || dot == std::string_view::npos || dot < colon) return bad();
  auto bus = parse_u64(s.substr(0, colon), 16);
  auto dev = parse_u64(s.substr(colon + 1, dot - colon - 1), 16);
  auto fn = parse_u64(s.substr(dot + 1), 16);
  if (!bus || !dev || !fn || *bus > 0xff || *dev > 0x1f || *fn > 7) return bad();
  return static_cast<std::uint16_t>(*bus << 8 | *dev << 3 | *fn);
}

std::string format_bdf(std::uint16_t id) {
  return fmt::format("{:02x}:{:02x}.{:x}", id >> 8, (id >> 3) & 0x1f, id & 7);
}

void encode_nettlp_header(const NetTlpHeader& h, std::span<std::uint8_t, kNetTlpHeaderSize> out) {
  put16(out.data(), h.seq);
  put32(out.data() + 2, h.tstamp);
}

NetTlpHeader decode_nettlp_header(std::span<const std::uint8_t, kNetTlpHeaderSize> in) {
  return {get16(in.data()), get32(in.data() + 2)};
}

ByteEnables byte_enables(std::uint64_t addr, std::uint32_t len) {
  ByteEnables be;
  const std::uint64_t end = addr + len;
  be.length_dw = static_cast<std::uint32_t>(((end + 3) & ~std::uint64_t{3}) / 4 - addr / 4);
  std::uint8_t first = static_cast<std::uint8_t>((0xF << (addr & 3)) & 0xF);
  std::uint8_t last = (end & 3) == 0 ? 0xF : static_cast<std::uint8_t>((1u << (end & 3)) - 1);
  if (be.length_dw == 1) {
    be.first = first & last;
    be.last = 0;
  } else {
    be.first = first;
    be.last = last;
  }
  return be;
}

bool valid_mrrs(std::uint32_t mrrs) {
  return mrrs >= 4 && mrrs <= 4096 && std::has_single_bit(mrrs);
}

std::uint32_t next_chunk(std::uint64_t addr, std::uint64_t remaining, std::uint32_t mrrs) {
  std::uint64_t to_boundary = mrrs - (addr & (mrrs - 1));
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(remaining, to_boundary));
}

Frame encode_mrd(const MrdParams& p) {
  assert(p.len >= 1 && p.len <= kMaxPayload);
  assert((p.addr & 0xFFF) + p.len <= 4096);
  Frame f;
  std::uint8_t* t = f.bytes.data() + kNetTlpHeaderSize;  // NetTLP header stays zero
  const ByteEnables be = byte_enables(p.addr, p.len);
  const bool four_dw = p.addr >> 32 != 0;
  t[0] = four_dw ? kMRd64 : kMRd32;
  t[1] = 0;
  const std::uint32_t lf = be.length_dw & 0x3FF;  // 1024 encodes as 0
  t[2] = static_cast<std::uint8_t>(lf >> 8);
  t[3] = static_cast<std::uint8_t>(lf);
  put16(t + 4, p.requester);
  t[6] = p.tag;
  t[7] = static_cast<std::uint8_t>(be.last << 4 | be.first);
  if (four_dw) {
    put32(t + 8, static_cast<std::uint32_t>(p.addr >> 32));
    put32(t + 12, static_cast<std::uint32_t>(p.addr) & ~3u);
    f.size = kMrd4Size;
  } else {
    put32(t + 8, static_cast<std::uint32_t>(p.addr) & ~3u);
    f.size = kMrd3Size;
  }
  return f;
}

Result<RequestTlp> parse_request(std::span<const std::uint8_t> d) {
  if (d.size() < kNetTlpHeaderSize + 12)
    return fail(Errc::malformed, fmt::format("request of {} bytes is too short", d.size()));
  const std::uint8_t* t = d.data() + kNetTlpHeaderSize;
  const std::size_t tlp_size = d.size() - kNetTlpHeaderSize;
  RequestTlp r;
  r.fmt_type = t[0];
  r.requester = get16(t + 4);
  r.tag = t[6];
  r.length_dw = length_field(t);
  if (t[0] & 0x80) return r;  // a TLP prefix: Kind::other
  const bool with_data = t[0] & 0x40;
  const bool four_dw = t[0] & 0x20;
  const std::uint8_t type = t[0] & 0x1F;
  if (with_data && type != 0x0A && type != 0x0B) {
    r.kind = RequestTlp::Kind::write;  // MWr, IOWr, CfgWr, MsgD, AtomicOp: all forbidden
    return r;
  }
  if (type != 0x00 || with_data) return r;  // Kind::other (IORd, CfgRd, Msg, Cpl, MRdLk, ...)
  const std::size_t hdr = four_dw ? 16 : 12;
  const std::size_t expect = hdr + (td_bit(t) ? 4 : 0);
  if (tlp_size != expect)
    return fail(Errc::malformed, fmt::format("MRd of {} bytes, expected {}", tlp_size, expect));
  const std::uint64_t dwaddr =
      four_dw ? (std::uint64_t{get32(t + 8)} << 32 | (get32(t + 12) & ~3u)) : (get32(t + 8) & ~3u);
  const std::uint8_t first_be = t[7] & 0xF, last_be = t[7] >> 4;
  r.kind = RequestTlp::Kind::mem_read;
  if (r.length_dw == 1) {
    if (last_be != 0) return fail(Errc::malformed, "1-dword MRd with a non-zero Last BE");
    if (first_be == 0) {  // zero-length read: completes with one dword (PCIe 2.2.5)
      r.start = dwaddr;
      r.len = 0;
      return r;
    }
    const int lo = std::countr_zero(first_be), hi = 31 - std::countl_zero(std::uint32_t{first_be});
    r.start = dwaddr + lo;
    r.len = static_cast<std::uint32_t>(hi - lo + 1);
    return r;
  }
  if (first_be == 0 || last_be == 0) return fail(Errc::malformed, "MRd with an empty First/Last BE");
  const int lo = std::countr_zero(first_be), hi = 31 - std::countl_zero(std::uint32_t{last_be});
  r.start = dwaddr + lo;
  r.len = (r.length_dw - 1) * 4 + static_cast<std::uint32_t>(hi + 1) - static_cast<std::uint32_t>(lo);
  if ((dwaddr & 0xFFF) + r.length_dw * 4 > 4096)
    return fail(Errc::malformed, "MRd crosses a 4 KiB boundary");
  return r;
}

std::string_view drop_name(Drop d) {
  switch (d) {
    case Drop::truncated: return "truncated";
    case Drop::bad_type: return "bad_type";
    case Drop::malformed: return "malformed";
    case Drop::poisoned: return "poisoned";
    case Drop::wrong_tag: return "wrong_tag";
    case Drop::wrong_requester: return "wrong_requester";
    case Drop::stale: return "stale";
    case Drop::inconsistent: return "inconsistent";
    case Drop::duplicate: return "duplicate";
    case Drop::bad_status: return "bad_status";
    case Drop::count_: break;
  }
  return "?";
}

std::expected<Completion, ParseError> parse_completion(std::span<const std::uint8_t> d) {
  auto drop = [](Drop r) { return std::unexpected(ParseError{r}); };
  if (d.size() < kCplHeaderSize) return drop(Drop::truncated);
  const std::uint8_t* t = d.data() + kNetTlpHeaderSize;
  const std::size_t tlp_size = d.size() - kNetTlpHeaderSize;
  Completion c;
  if (t[0] == kCplD)
    c.has_data = true;
  else if (t[0] != kCpl)
    return drop(Drop::bad_type);
  const std::size_t digest = td_bit(t) ? 4 : 0;
  c.completer = get16(t + 4);
  c.status = static_cast<CplStatus>(t[6] >> 5);
  c.bcm = t[6] & 0x10;
  const std::uint32_t bc = (std::uint32_t{t[6]} & 0xF) << 8 | t[7];
  c.byte_count = bc == 0 ? 4096 : bc;
  c.requester = get16(t + 8);
  c.tag = t[10];
  c.lower_address = t[11] & 0x7F;
  if (!c.has_data) {
    if (tlp_size != 12 + digest) return drop(tlp_size < 12 + digest ? Drop::truncated : Drop::malformed);
    return c;
  }
  c.length_dw = length_field(t);
  const std::size_t expect = 12 + std::size_t{c.length_dw} * 4 + digest;
  if (tlp_size < expect) return drop(Drop::truncated);
  if (tlp_size > expect) return drop(Drop::malformed);
  if (ep_bit(t)) return drop(Drop::poisoned);
  if (c.status != CplStatus::sc) return drop(Drop::malformed);  // CplD is only for SC
  const std::uint32_t first = c.lower_address & 3;
  const std::uint32_t needed = ceil_dw(first + c.byte_count);  // dwords still outstanding
  if (c.length_dw > needed) return drop(Drop::malformed);      // more data than requested
  c.last = c.length_dw == needed;
  const std::uint32_t n = c.last ? c.byte_count : c.length_dw * 4 - first;
  if (n == 0) return drop(Drop::malformed);
  c.data = d.subspan(kCplHeaderSize + first, n);
  return c;
}

void encode_completion(const CplParams& p, std::span<const std::uint8_t> data,
                       std::vector<std::uint8_t>& out) {
  const std::uint32_t first = p.addr & 3;
  const std::uint32_t len_dw = data.empty() ? 0 : ceil_dw(first + static_cast<std::uint32_t>(data.size()));
  out.assign(kCplHeaderSize + std::size_t{len_dw} * 4, 0);
  encode_nettlp_header({p.seq, p.tstamp}, std::span<std::uint8_t, kNetTlpHeaderSize>(out.data(), kNetTlpHeaderSize));
  std::uint8_t* t = out.data() + kNetTlpHeaderSize;
  t[0] = data.empty() ? kCpl : kCplD;
  const std::uint32_t lf = len_dw & 0x3FF;
  t[2] = static_cast<std::uint8_t>(lf >> 8);
  t[3] = static_cast<std::uint8_t>(lf);
  put16(t + 4, p.completer);
  const std::uint32_t bc = p.byte_count & 0xFFF;  // 4096 encodes as 0
  t[6] = static_cast<std::uint8_t>(static_cast<std::uint8_t>(p.status) << 5 | bc >> 8);
  t[7] = static_cast<std::uint8_t>(bc);
  put16(t + 8, p.requester);
  t[10] = p.tag;
  t[11] = static_cast<std::uint8_t>(p.addr & 0x7F);
  if (!data.empty()) std::memcpy(t + 12 + first, data.data(), data.size());
}

std::uint32_t completion_split(std::uint64_t addr, std::uint32_t remaining,
                               std::uint32_t max_payload, std::uint32_t rcb) {
  // The payload counts whole dwords from the aligned start, so measure from addr & ~3.
  const std::uint64_t base = addr & ~std::uint64_t{3};
  std::uint64_t end = (base + max_payload) & ~std::uint64_t{rcb - 1};
  if (end <= addr) end = base + max_payload;  // rcb > max_payload: not a real configuration
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(remaining, end - addr));
}

void ReadAssembly::reset(std::uint64_t addr, std::uint32_t len) {
  addr_ = addr;
  len_ = len;
  received_ = 0;
  dwords_.fill(0);
}

ReadAssembly::Outcome ReadAssembly::accept(const Completion& c, std::span<std::uint8_t> out) {
  const Outcome reject{Verdict::rejected, Drop::inconsistent};
  if (len_ > kMaxPayload) return reject;
  if (c.byte_count > len_ || c.byte_count == 0) return reject;
  const std::uint32_t offset = len_ - c.byte_count;
  if (c.lower_address != ((addr_ + offset) & 0x7F)) return reject;
  if (!c.has_data) {
    if (c.status == CplStatus::ur || c.status == CplStatus::ca)
      return {Verdict::error_status, Drop::inconsistent, addr_ + offset};
    return {Verdict::rejected, Drop::bad_status};
  }
  const std::uint32_t n = static_cast<std::uint32_t>(c.data.size());
  if (n == 0 || n > c.byte_count || out.size() < len_) return reject;
  // Dwords touched, relative to the dword of the request's first byte.
  const std::uint64_t d0 = (addr_ + offset) / 4 - addr_ / 4;
  const std::uint64_t d1 = (addr_ + offset + n + 3) / 4 - addr_ / 4;
  for (std::uint64_t i = d0; i < d1; ++i)
    if (dwords_[i / 64] >> (i % 64) & 1) return {Verdict::rejected, Drop::duplicate};
  for (std::uint64_t i = d0; i < d1; ++i) dwords_[i / 64] |= std::uint64_t{1} << (i % 64);
  std::memcpy(out.data() + offset, c.data.data(), n);
  received_ += n;
  return {received_ == len_ ? Verdict::complete : Verdict::accepted};
}

}  // namespace tlpstub::tlp
