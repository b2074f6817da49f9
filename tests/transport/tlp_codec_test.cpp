// Golden vectors for the NetTLP codec. We have no copy of the public NetTLP captures here, so
// the byte vectors below are written by hand from the facts in shared/facts/nettlp.md (TLP
// header layout, byte-enable rules, the last-completion rule) and from what the captures are
// documented to contain: a 512-byte read answered by two 256-byte CplDs (byte counts 512 then
// 256) and a 476-byte read answered by byte counts 476 then 220.
#include "transport/tlp_codec.hpp"

#include <gtest/gtest.h>

#include <numeric>
#include <random>
#include <vector>

using namespace tlpstub;
using namespace tlpstub::tlp;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes frame_bytes(const Frame& f) { return Bytes(f.bytes.begin(), f.bytes.begin() + f.size); }

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes pattern(std::size_t n, std::uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + i * 13);
  return b;
}

const Bytes kZeroHdr = {0, 0, 0, 0, 0, 0};

}  // namespace

TEST(TlpCodec, Mrd3dwAligned512) {
  // 00:00.0, tag 0, 0x1000 + 512: Length 128 dwords, First/Last BE 0xF.
  Bytes want = concat({kZeroHdr,
                       {0x00, 0x00, 0x00, 0x80,    // MRd 3DW, Length 0x080
                        0x00, 0x00, 0x00, 0xFF,    // requester 0000, tag 00, BE FF
                        0x00, 0x00, 0x10, 0x00}}); // address 0x1000
  EXPECT_EQ(frame_bytes(encode_mrd({0x1000, 512, 0x0000, 0})), want);
}

TEST(TlpCodec, Mrd4dwAbove4GiB) {
  // 1b:00.0, tag 0x2a, 0x1_2345_6780 + 64: 4DW, Length 16.
  Bytes want = concat({kZeroHdr,
                       {0x20, 0x00, 0x00, 0x10,
                        0x1b, 0x00, 0x2a, 0xFF,
                        0x00, 0x00, 0x00, 0x01,
                        0x23, 0x45, 0x67, 0x80}});
  EXPECT_EQ(frame_bytes(encode_mrd({0x123456780ull, 64, 0x1b00, 0x2a})), want);
}

TEST(TlpCodec, Mrd3dwJustBelow4GiB) {
  Frame f = encode_mrd({0xFFFFF000ull, 4096, 0, 1});
  ASSERT_EQ(f.size, kMrd3Size);
  // Length 1024 encodes as 0.
  EXPECT_EQ(frame_bytes(f), concat({kZeroHdr, {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xFF,
                                               0xFF, 0xFF, 0xF0, 0x00}}));
}

TEST(TlpCodec, ByteEnablesUnalignedStartAndEnd) {
  // 0x2001 + 6 = bytes 1..3 of dword 0x2000 and 0..2 of 0x2004: Length 2, First 0xE, Last 0x7.
  Bytes want = concat({kZeroHdr, {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x07, 0x7E,
                                  0x00, 0x00, 0x20, 0x00}});
  EXPECT_EQ(frame_bytes(encode_mrd({0x2001, 6, 0, 7})), want);
}

TEST(TlpCodec, ByteEnablesOneDword) {
  // One dword: Last BE 0; First BE covers exactly the bytes.
  auto be = [](std::uint64_t a, std::uint32_t n) { auto b = byte_enables(a, n); return std::tuple(b.length_dw, b.first, b.last); };
  EXPECT_EQ(be(0x3005, 2), std::tuple(1u, std::uint8_t{0x6}, std::uint8_t{0}));
  EXPECT_EQ(be(0x4000, 4), std::tuple(1u, std::uint8_t{0xF}, std::uint8_t{0}));
  EXPECT_EQ(be(0x4003, 1), std::tuple(1u, std::uint8_t{0x8}, std::uint8_t{0}));
  EXPECT_EQ(be(0x4000, 1), std::tuple(1u, std::uint8_t{0x1}, std::uint8_t{0}));
  EXPECT_EQ(be(0x4000, 8), std::tuple(2u, std::uint8_t{0xF}, std::uint8_t{0xF}));
  EXPECT_EQ(be(0x4003, 2), std::tuple(2u, std::uint8_t{0x8}, std::uint8_t{0x1}));
  Bytes want = concat({kZeroHdr, {0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x09, 0x06,
                                  0x00, 0x00, 0x30, 0x04}});
  EXPECT_EQ(frame_bytes(encode_mrd({0x3005, 2, 0, 9})), want);
}

TEST(TlpCodec, ChunksRespectMrrsAnd4K) {
  EXPECT_EQ(next_chunk(0x1000, 10000, 512), 512u);
  EXPECT_EQ(next_chunk(0x1010, 1000, 512), 496u);  // ends at the next 512-byte boundary
  EXPECT_EQ(next_chunk(0xFF0, 0x100, 512), 0x10u); // never crosses 4 KiB
  EXPECT_EQ(next_chunk(0x1800, 1 << 20, 4096), 2048u);
  EXPECT_EQ(next_chunk(0x1000, 100, 512), 100u);
  EXPECT_EQ(next_chunk(0x1003, 1 << 20, 128), 125u);
  // Every chunk of an odd range: <= MRRS bytes of dwords, no 4 KiB crossing, contiguous.
  for (std::uint32_t mrrs : {128u, 256u, 512u, 1024u, 4096u}) {
    std::uint64_t a = 0xFFF3, left = 20000;
    while (left) {
      std::uint32_t n = next_chunk(a, left, mrrs);
      ASSERT_GT(n, 0u);
      EXPECT_LE(byte_enables(a, n).length_dw * 4, mrrs);
      EXPECT_EQ(a / 4096, (a + n - 1) / 4096);
      a += n;
      left -= n;
    }
  }
  EXPECT_TRUE(valid_mrrs(512));
  EXPECT_FALSE(valid_mrrs(500));
  EXPECT_FALSE(valid_mrrs(8192));
}

TEST(TlpCodec, ParseBdf) {
  EXPECT_EQ(parse_bdf("1b:00.0").value(), 0x1b00);
  EXPECT_EQ(parse_bdf("00:1f.7").value(), 0x00ff);
  EXPECT_EQ(format_bdf(0x1b08), "1b:01.0");
  EXPECT_FALSE(parse_bdf("1b:20.0"));
  EXPECT_FALSE(parse_bdf("1b:00.8"));
  EXPECT_FALSE(parse_bdf("1b00"));
}

TEST(TlpCodec, Cpld512AnsweredByTwo256) {
  // 1b:00.0 tag 3 reads 0x1000 + 512; the root complex answers 256 + 256.
  Bytes d1 = pattern(256, 1), d2 = pattern(256, 2);
  Bytes c1 = concat({{0x00, 0x01, 0x00, 0x00, 0x00, 0x10},  // NetTLP seq 1, tstamp 0x10
                     {0x4A, 0x00, 0x00, 0x40,                // CplD, Length 64
                      0x00, 0x00, 0x02, 0x00,                // completer 0000, SC, BC 512
                      0x1b, 0x00, 0x03, 0x00}, d1});         // requester, tag 3, LA 0
  Bytes c2 = concat({{0x00, 0x02, 0x00, 0x00, 0x00, 0x11},
                     {0x4A, 0x00, 0x00, 0x40, 0x00, 0x00, 0x01, 0x00, 0x1b, 0x00, 0x03, 0x00}, d2});
  auto p1 = parse_completion(c1);
  ASSERT_TRUE(p1);
  EXPECT_EQ(p1->byte_count, 512u);
  EXPECT_EQ(p1->requester, 0x1b00);
  EXPECT_EQ(p1->tag, 3);
  EXPECT_EQ(p1->length_dw, 64u);
  EXPECT_FALSE(p1->last);
  EXPECT_EQ(Bytes(p1->data.begin(), p1->data.end()), d1);
  auto p2 = parse_completion(c2);
  ASSERT_TRUE(p2);
  EXPECT_EQ(p2->byte_count, 256u);
  EXPECT_TRUE(p2->last);
  EXPECT_EQ(decode_nettlp_header(std::span<const std::uint8_t, 6>(c2.data(), 6)).seq, 2);

  // Reassembled, in either order.
  for (bool reversed : {false, true}) {
    ReadAssembly ra;
    ra.reset(0x1000, 512);
    Bytes out(512);
    auto first = ra.accept(reversed ? *p2 : *p1, out);
    EXPECT_EQ(first.verdict, ReadAssembly::Verdict::accepted);
    auto second = ra.accept(reversed ? *p1 : *p2, out);
    EXPECT_EQ(second.verdict, ReadAssembly::Verdict::complete);
    EXPECT_EQ(out, concat({d1, d2}));
  }
  // encode_completion produces the same bytes.
  Bytes enc;
  encode_completion({0, CplStatus::sc, 512, 0x1b00, 3, 0x1000, 1, 0x10}, d1, enc);
  EXPECT_EQ(enc, c1);
}

TEST(TlpCodec, Cpld476ThenByteCount220) {
  Bytes d = pattern(476, 9);
  Bytes c1 = concat({kZeroHdr, {0x4A, 0x00, 0x00, 0x40, 0x00, 0x00, 0x01, 0xDC,
                                0x00, 0x00, 0x11, 0x00},
                     Bytes(d.begin(), d.begin() + 256)});
  Bytes c2 = concat({kZeroHdr, {0x4A, 0x00, 0x00, 0x37, 0x00, 0x00, 0x00, 0xDC,  // Length 55, BC 220
                                0x00, 0x00, 0x11, 0x00},
                     Bytes(d.begin() + 256, d.end())});
  auto p1 = parse_completion(c1), p2 = parse_completion(c2);
  ASSERT_TRUE(p1 && p2);
  EXPECT_EQ(p1->byte_count, 476u);
  EXPECT_FALSE(p1->last);
  EXPECT_EQ(p2->byte_count, 220u);
  EXPECT_TRUE(p2->last);
  EXPECT_EQ(p2->data.size(), 220u);
  ReadAssembly ra;
  ra.reset(0x7f00, 476);
  Bytes out(476);
  EXPECT_EQ(ra.accept(*p1, out).verdict, ReadAssembly::Verdict::accepted);
  EXPECT_EQ(ra.accept(*p2, out).verdict, ReadAssembly::Verdict::complete);
  EXPECT_EQ(out, d);
  // tlpsim's split for this read.
  EXPECT_EQ(completion_split(0x7f00, 476), 256u);
  EXPECT_EQ(completion_split(0x8000, 220), 220u);
}

TEST(TlpCodec, CpldLowerAddressOffset) {
  // 0x1003 + 5: one CplD, Length 2, BC 5, LA 0x03; data starts at payload offset 3.
  Bytes c = concat({kZeroHdr, {0x4A, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x05,
                               0x00, 0x00, 0x00, 0x03,
                               0xEE, 0xEE, 0xEE, 0xA0, 0xA1, 0xA2, 0xA3, 0xA4}});
  auto p = parse_completion(c);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->last);
  EXPECT_EQ(Bytes(p->data.begin(), p->data.end()), (Bytes{0xA0, 0xA1, 0xA2, 0xA3, 0xA4}));
  ReadAssembly ra;
  ra.reset(0x1003, 5);
  Bytes out(5);
  EXPECT_EQ(ra.accept(*p, out).verdict, ReadAssembly::Verdict::complete);
  // The same completion does not fit a read at 0x1004 (lower address 0x04 expected).
  ra.reset(0x1004, 5);
  EXPECT_EQ(ra.accept(*p, out).verdict, ReadAssembly::Verdict::rejected);
}

TEST(TlpCodec, LastCompletionRule) {
  auto make = [](std::uint8_t la, std::uint32_t bc, std::uint32_t len_dw) {
    Bytes c = concat({kZeroHdr, {0x4A, 0x00, static_cast<std::uint8_t>(len_dw >> 8 & 3),
                                 static_cast<std::uint8_t>(len_dw), 0x00, 0x00,
                                 static_cast<std::uint8_t>(bc >> 8 & 0xF), static_cast<std::uint8_t>(bc),
                                 0x00, 0x00, 0x00, la}});
    c.resize(c.size() + (len_dw ? len_dw : 1024) * 4);
    return parse_completion(c);
  };
  auto last = make(0x02, 6, 2);  // ceil((2 + 6) / 4) == 2
  ASSERT_TRUE(last);
  EXPECT_TRUE(last->last);
  EXPECT_EQ(last->data.size(), 6u);
  auto mid = make(0x3E, 200, 1);  // 1 < ceil((2 + 200) / 4): 2 bytes now, more to come
  ASSERT_TRUE(mid);
  EXPECT_FALSE(mid->last);
  EXPECT_EQ(mid->data.size(), 2u);
  auto too_long = make(0x00, 8, 3);  // more data than outstanding
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().reason, Drop::malformed);
  auto bc4096 = make(0x00, 0, 0);  // BC 0 = 4096, Length 0 = 1024
  ASSERT_TRUE(bc4096);
  EXPECT_EQ(bc4096->byte_count, 4096u);
  EXPECT_EQ(bc4096->length_dw, 1024u);
  EXPECT_TRUE(bc4096->last);
}

TEST(TlpCodec, RejectsBadCompletions) {
  Bytes good;
  encode_completion({0, CplStatus::sc, 8, 0, 1, 0x100}, pattern(8, 0), good);
  ASSERT_TRUE(parse_completion(good));
  auto reason = [](Bytes b) { auto r = parse_completion(b); return r ? Drop::count_ : r.error().reason; };
  EXPECT_EQ(reason(Bytes(good.begin(), good.end() - 1)), Drop::truncated);
  EXPECT_EQ(reason(Bytes(good.begin(), good.begin() + 10)), Drop::truncated);
  Bytes extra = good;
  extra.push_back(0);
  EXPECT_EQ(reason(extra), Drop::malformed);
  Bytes mrd = frame_bytes(encode_mrd({0x100, 8, 0, 1}));
  EXPECT_EQ(reason(mrd), Drop::bad_type);
  Bytes zeroed = good;  // adapter FIFO overflow: zeroed TLP header
  std::fill(zeroed.begin() + 6, zeroed.begin() + 18, 0);
  EXPECT_EQ(reason(zeroed), Drop::bad_type);
  Bytes poisoned = good;
  poisoned[6 + 2] |= 0x40;
  EXPECT_EQ(reason(poisoned), Drop::poisoned);
  Bytes ur_with_data = good;
  ur_with_data[6 + 6] |= 0x20;
  EXPECT_EQ(reason(ur_with_data), Drop::malformed);
  // Cpl (no data) with UR parses, and ReadAssembly reports the address.
  Bytes ur;
  encode_completion({0, CplStatus::ur, 64, 0, 1, 0x1040}, {}, ur);
  EXPECT_EQ(ur.size(), kCplHeaderSize);
  auto p = parse_completion(ur);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->status, CplStatus::ur);
  ReadAssembly ra;
  ra.reset(0x1040, 64);
  Bytes out(64);
  auto o = ra.accept(*p, out);
  EXPECT_EQ(o.verdict, ReadAssembly::Verdict::error_status);
  EXPECT_EQ(o.error_address, 0x1040u);
}

TEST(TlpCodec, AssemblyRejectsMismatchAndDuplicates) {
  Bytes d = pattern(512, 4);
  Bytes c1, c2;
  encode_completion({0, CplStatus::sc, 512, 0, 1, 0x2000}, {d.data(), 256}, c1);
  encode_completion({0, CplStatus::sc, 256, 0, 1, 0x2100}, {d.data() + 256, 256}, c2);
  auto p1 = parse_completion(c1), p2 = parse_completion(c2);
  ReadAssembly ra;
  Bytes out(512);
  ra.reset(0x2000, 512);
  EXPECT_EQ(ra.accept(*p1, out).verdict, ReadAssembly::Verdict::accepted);
  auto dup = ra.accept(*p1, out);
  EXPECT_EQ(dup.verdict, ReadAssembly::Verdict::rejected);
  EXPECT_EQ(dup.reason, Drop::duplicate);
  EXPECT_EQ(ra.accept(*p2, out).verdict, ReadAssembly::Verdict::complete);
  // Byte count larger than the request.
  ra.reset(0x2000, 256);
  EXPECT_EQ(ra.accept(*p1, out).verdict, ReadAssembly::Verdict::rejected);
  // Same size, another address (lower address differs).
  ra.reset(0x2040, 512);
  EXPECT_EQ(ra.accept(*p1, out).verdict, ReadAssembly::Verdict::rejected);
  // Nothing is written for rejected completions.
  Bytes guard(512, 0x5A);
  ra.reset(0x2000, 128);
  EXPECT_EQ(ra.accept(*p2, guard).verdict, ReadAssembly::Verdict::rejected);
  EXPECT_EQ(guard, Bytes(512, 0x5A));
}

TEST(TlpCodec, CompletionSplitLikeRootComplex) {
  // Aligned 512: 256 + 256.  Unaligned start 0x1010 + 512: first ends at a 64-byte boundary.
  auto splits = [](std::uint64_t a, std::uint32_t n) {
    std::vector<std::uint32_t> v;
    while (n) {
      std::uint32_t k = completion_split(a, n);
      v.push_back(k);
      a += k;
      n -= k;
    }
    return v;
  };
  EXPECT_EQ(splits(0x1000, 512), (std::vector<std::uint32_t>{256, 256}));
  EXPECT_EQ(splits(0x1010, 512), (std::vector<std::uint32_t>{240, 256, 16}));
  EXPECT_EQ(splits(0x1003, 300), (std::vector<std::uint32_t>{253, 47}));
  EXPECT_EQ(splits(0x1000, 64), (std::vector<std::uint32_t>{64}));
}

TEST(TlpCodec, ParseRequest) {
  auto r = parse_request(frame_bytes(encode_mrd({0x2001, 6, 0x1b00, 7})));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, RequestTlp::Kind::mem_read);
  EXPECT_EQ(r->start, 0x2001u);
  EXPECT_EQ(r->len, 6u);
  EXPECT_EQ(r->tag, 7);
  EXPECT_EQ(r->requester, 0x1b00);
  auto r4 = parse_request(frame_bytes(encode_mrd({0x123456780ull, 4096 - 0x780, 0, 1})));
  ASSERT_TRUE(r4);
  EXPECT_EQ(r4->start, 0x123456780ull);
  EXPECT_EQ(r4->len, 4096u - 0x780);
  // A hand-made MWr is classified as a write (the codec cannot build one).
  Bytes mwr = concat({kZeroHdr, {0x40, 0, 0, 1, 0, 0, 0, 0x0F, 0, 0, 0x10, 0, 1, 2, 3, 4}});
  auto w = parse_request(mwr);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->kind, RequestTlp::Kind::write);
  EXPECT_FALSE(parse_request(Bytes(10)));
}

// Read-only by construction: encode_mrd is the only request builder the client has, and
// whatever it is given, what it builds is a memory read that the adapter side classifies as
// one (never as a write), for every length, alignment and address width.
TEST(TlpCodec, EveryRequestTheClientCanBuildIsARead) {
  std::mt19937_64 rng(12);
  for (int i = 0; i < 20000; ++i) {
    const std::uint64_t addr = rng() >> (1 + rng() % 63);  // physical: far below 2^64
    const std::uint32_t mrrs = 4u << (rng() % 11);
    const std::uint32_t len = next_chunk(addr, 1 + rng() % 8192, mrrs);
    const Frame f = encode_mrd({addr, len, static_cast<std::uint16_t>(rng()),
                                static_cast<std::uint8_t>(rng())});
    const std::uint8_t fmt_type = f.bytes[kNetTlpHeaderSize];
    ASSERT_TRUE(fmt_type == kMRd32 || fmt_type == kMRd64) << std::hex << addr << "+" << len;
    auto r = parse_request(f.view());
    ASSERT_TRUE(r) << std::hex << addr << "+" << len << ": " << r.error().message;
    ASSERT_EQ(r->kind, RequestTlp::Kind::mem_read) << std::hex << addr << "+" << len;
    ASSERT_EQ(r->start, addr);
    ASSERT_EQ(r->len, len);
  }
}
