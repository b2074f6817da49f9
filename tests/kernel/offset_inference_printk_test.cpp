// The printk ring buffer's layout inferred from its records (offset_inference_printk.cpp),
// on rings filled by RingSim (tests/kernel/printk_sample.hpp) the way the kernel's writer
// fills them, with printk_info shifted by `pad` bytes so that offsets must be found, not
// known. Hostile headers and arrays must leave members missing with a reason, never wrong.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>

#include "kernel/symbols/offset_inference_detail.hpp"
#include "tests/kernel/printk_sample.hpp"

namespace tlpstub::kernel::infer {
namespace {

using test::RingSim;

constexpr std::uint64_t kPrbVa = 0xffffffff82000000, kLogBufVa = kPrbVa + 8,
                        kLogBufLenVa = kPrbVa + 16, kStaticRbVa = kPrbVa + 0x40,
                        kStaticDescsVa = kPrbVa + 0x1000, kStaticInfosVa = kPrbVa + 0x10000,
                        kStaticTextVa = kPrbVa + 0x40000;
constexpr std::uint64_t kDynRbVa = 0xffff888001000000, kDynDescsVa = 0xffff888001100000,
                        kDynInfosVa = 0xffff888001200000, kDynTextVa = 0xffff888001300000;

// Virtual memory as a few regions; a read is answered only when it lies inside one.
struct PkMemory {
  std::map<std::uint64_t, std::vector<std::uint8_t>> regions;
  std::size_t batches = 0, bytes = 0;

  void put(std::uint64_t va, std::vector<std::uint8_t> b) { regions[va] = std::move(b); }
  void put64(std::uint64_t va, std::uint64_t v) {
    std::vector<std::uint8_t> b(8);
    RingSim::put64(b, 0, v);
    put(va, b);
  }
  VirtualReader reader() {
    return [this](std::span<const VirtualRead> rs) {
      ++batches;
      std::vector<std::optional<std::vector<std::uint8_t>>> out;
      for (const VirtualRead& r : rs) {
        bytes += r.len;
        auto it = regions.upper_bound(r.va);
        if (it == regions.begin()) {
          out.emplace_back();
          continue;
        }
        --it;
        const std::uint64_t off = r.va - it->first;
        if (off > it->second.size() || it->second.size() - off < r.len) {
          out.emplace_back();
          continue;
        }
        out.emplace_back(std::vector<std::uint8_t>(it->second.begin() + off,
                                                   it->second.begin() + off + r.len));
      }
      return out;
    };
  }
};

// A ring of 64 descriptors and 4 KiB of text with `n` records (the kernel's writer marks a
// line's end with LOG_NEWLINE, which RingSim leaves to us).
RingSim filled(int n, std::uint32_t pad = 16) {
  RingSim sim(6, 12, pad);
  for (int i = 0; i < n; ++i) {
    const std::string text = i % 3 ? fmt::format("line {} of the boot log, long enough to matter", i)
                                   : fmt::format("short {}", i);
    sim.push(text, 1000000ull * static_cast<std::uint64_t>(i + 1), i % 8);
  }
  for (const RingSim::Rec& r : sim.live) sim.infos[sim.slot(r.id) * sim.info_size() + pad + 19] |= 2;
  return sim;
}

struct PkRig {
  PkMemory mem;
  PrintkInputs in;

  // The static ring (printk_rb_static) or a dynamic one (log_buf_len=): the arrays where the
  // symbols say, or in the direct map.
  void load(const RingSim& sim, bool dynamic = false) {
    const std::uint64_t rb = dynamic ? kDynRbVa : kStaticRbVa,
                        d = dynamic ? kDynDescsVa : kStaticDescsVa,
                        i = dynamic ? kDynInfosVa : kStaticInfosVa,
                        t = dynamic ? kDynTextVa : kStaticTextVa;
    mem.put64(kPrbVa, rb);
    mem.put64(kLogBufVa, t);
    mem.put64(kLogBufLenVa, sim.data.size());
    auto h = sim.header(d, i, t);
    h.resize(128);
    mem.put(rb, h);
    auto pad = [](std::vector<std::uint8_t> b) {
      b.resize(b.size() + 64 * 256);  // what follows the array: zeros
      return b;
    };
    mem.put(d, pad(sim.descs));
    mem.put(i, pad(sim.infos));
    mem.put(t, sim.data);
    in = {kPrbVa, kStaticRbVa, kStaticDescsVa, kStaticDescsVa + sim.descs.size(),
          kStaticInfosVa, kStaticInfosVa + sim.infos.size(), kLogBufVa, kLogBufLenVa};
  }
  PrintkOutcome run() { return infer_printk(in, mem.reader()); }
};

std::optional<std::uint64_t> at(const PrintkOutcome& o, const char* key) {
  auto it = o.findings.find(key);
  return it == o.findings.end() ? std::nullopt : it->second.offset;
}

void expect_all(const PrintkOutcome& o, std::uint64_t pad) {
  const std::pair<const char*, std::uint64_t> want[] = {
      {kPkCountBits, 0},  {kPkDescs, 8},     {kPkInfos, 16},      {kPkHeadId, 24},
      {kPkTailId, 32},    {kPkSizeBits, 48}, {kPkData, 56},       {kPkHeadLpos, 64},
      {kPkTailLpos, 72},  {kPkStateVar, 0},  {kPkBegin, 8},       {kPkNext, 16},
      {kPkSeq, pad},      {kPkTsNsec, pad + 8}, {kPkTextLen, pad + 16}, {kPkFacility, pad + 18},
      {kPkFlags, pad + 19}, {kPkLevel, pad + 19}, {kPkCallerId, pad + 20}};
  for (const auto& [key, off] : want) {
    auto it = o.findings.find(key);
    ASSERT_NE(it, o.findings.end()) << key;
    EXPECT_EQ(it->second.offset, off) << key << ": " << it->second.why;
  }
  ASSERT_TRUE(o.sizes.count(kSizeDesc) && o.sizes.count(kSizeInfo));
  EXPECT_EQ(o.sizes.at(kSizeDesc).offset, 24u) << o.sizes.at(kSizeDesc).why;
  EXPECT_EQ(o.sizes.at(kSizeInfo).offset, 88u + pad) << o.sizes.at(kSizeInfo).why;
}

TEST(PrintkInference, StaticRingEveryMemberAndBothSizes) {
  PkRig rig;
  rig.load(filled(200));  // wrapped several times
  const PrintkOutcome o = rig.run();
  expect_all(o, 16);
  EXPECT_NE(o.sizes.at(kSizeInfo).why.find("agrees with the span"), std::string::npos);
  // Few batches, bounded bytes.
  EXPECT_LE(rig.mem.batches, 6u);
  EXPECT_LT(rig.mem.bytes, 64u << 10);
}

TEST(PrintkInference, DynamicRingAndAnotherPad) {
  PkRig rig;
  rig.load(filled(150, 0), true);
  expect_all(rig.run(), 0);
  PkRig young;  // a ring that has not wrapped yet: ids from DESC0_ID + 1, tail_lpos BLK0_LPOS
  young.load(filled(30, 8), true);
  expect_all(young.run(), 8);
}

TEST(PrintkInference, TooFewRecordsProveNothing) {
  PkRig rig;
  rig.load(filled(4));
  const PrintkOutcome o = rig.run();
  for (const char* k : kPrintkKeys)
    if (std::string_view(k) != kPkData && std::string_view(k) != kPkSizeBits) {
      EXPECT_FALSE(at(o, k)) << k;
      EXPECT_FALSE(o.findings.at(k).why.empty()) << k;
    }
}

TEST(PrintkInference, HostileHeadersAreMissingNotWrong) {
  const RingSim sim = filled(200);
  auto run_with = [&](auto mutate) {
    PkRig rig;
    rig.load(sim);
    mutate(rig);
    return rig.run();
  };
  auto header = [](PkRig& r) -> std::vector<std::uint8_t>& { return r.mem.regions[kStaticRbVa]; };
  // count_bits that overflows a shift, and one that is not the ring's.
  for (std::uint64_t bits : {63ull, 200ull, 0xffffffffull, 5ull, 7ull}) {
    const PrintkOutcome o = run_with([&](PkRig& r) { RingSim::put64(header(r), 0, bits); });
    EXPECT_FALSE(at(o, kPkCountBits)) << bits;
    EXPECT_FALSE(at(o, kPkSeq)) << bits;
    EXPECT_FALSE(o.sizes.at(kSizeDesc).offset) << bits;
  }
  // descs pointing nowhere, infos pointing at the descriptors.
  PrintkOutcome o = run_with([&](PkRig& r) { RingSim::put64(header(r), 8, 0xffffc90000000000); });
  EXPECT_FALSE(at(o, kPkDescs));
  EXPECT_NE(o.findings.at(kPkDescs).why.find("_printk_rb_static_descs"), std::string::npos)
      << o.findings.at(kPkDescs).why;
  o = run_with([&](PkRig& r) { r.in.static_rb_va = 0; RingSim::put64(header(r), 16, kStaticDescsVa); });
  EXPECT_FALSE(at(o, kPkInfos));
  // log_buf_len not a power of two, or huge; log_buf pointing elsewhere; prb unreadable.
  for (std::uint64_t len : {3000ull, 1ull << 40, 0ull}) {
    o = run_with([&](PkRig& r) { r.mem.put64(kLogBufLenVa, len); });
    EXPECT_FALSE(at(o, kPkSizeBits)) << len;
    EXPECT_FALSE(at(o, kPkSeq)) << len;
  }
  o = run_with([&](PkRig& r) { r.mem.put64(kLogBufVa, 0xffffffff99000000); });
  EXPECT_FALSE(at(o, kPkData));
  EXPECT_NE(o.findings.at(kPkData).why.find("equal log_buf"), std::string::npos);
  o = run_with([&](PkRig& r) { r.mem.put64(kPrbVa, 0xffffffffdead0000); });
  EXPECT_FALSE(at(o, kPkDescs));
  EXPECT_NE(o.findings.at(kPkDescs).why.find("unreadable"), std::string::npos);
  // The static arrays' span disagrees with the stride: the sizes are missing, not guessed.
  o = run_with([&](PkRig& r) { r.in.static_infos_end = kStaticInfosVa + 64 * 80; });
  EXPECT_FALSE(o.sizes.at(kSizeInfo).offset);
  EXPECT_NE(o.sizes.at(kSizeInfo).why.find("spans"), std::string::npos);
  // Garbage descriptors: no fit at all.
  o = run_with([&](PkRig& r) {
    for (std::size_t k = 0; k < r.mem.regions[kStaticDescsVa].size(); ++k)
      r.mem.regions[kStaticDescsVa][k] = static_cast<std::uint8_t>(k * 37 + 11);
  });
  for (const char* k : kPrintkKeys)
    if (std::string_view(k) != kPkData && std::string_view(k) != kPkSizeBits) {
      EXPECT_FALSE(at(o, k)) << k;
    }
}

TEST(PrintkInference, BlocksNotHoldingTheirIdGiveNoLpos) {
  RingSim sim = filled(200);
  std::fill(sim.data.begin(), sim.data.end(), 0);  // the text ring wiped: no block has its id
  PkRig rig;
  rig.load(sim);
  const PrintkOutcome o = rig.run();
  EXPECT_EQ(at(o, kPkSeq), 16u);  // the descriptors and infos still fit
  EXPECT_FALSE(at(o, kPkBegin));
  EXPECT_FALSE(at(o, kPkTextLen));
  EXPECT_FALSE(at(o, kPkHeadLpos));
}

}  // namespace
}  // namespace tlpstub::kernel::infer
