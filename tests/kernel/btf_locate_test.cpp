// recover_btf on fake memory (tests/kernel/btf_fake_image.hpp): the BTF blob near the end of
// rodata, decoy headers that must be rejected.
#include "kernel/symbols/btf_locate.hpp"

#include <gtest/gtest.h>

#include "tests/kernel/btf_fake_image.hpp"

using namespace tlpstub;
using namespace tlpstub::kernel;
using tlpstub::test::FakeMemory;
using tlpstub::test::FakeImage;

namespace {

TEST(BtfLocate, FindsTheHeaderBelowSdataAndRejectsDecoys) {
  FakeImage f;
  // Decoys: a header above the real one that claims more than is left, and one that parses
  // but has no task_struct (a module's BTF, say).
  const std::uint8_t bad[] = {0x9F, 0xEB, 1, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x0f,
                              0, 0, 0, 0, 1, 0, 0, 0};
  f.mem.write(PhysAddr(FakeImage::kSdataPa - 0x1000), bad);
  test::BtfBlob other;
  other.w({other.str("int"), test::BtfBlob::info(test::kInt, 0), 4, 32});
  f.mem.write(PhysAddr(FakeImage::kSdataPa - 0x2000), other.bytes());
  auto r = recover_btf(f.mem, f.img);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->pa, FakeImage::kBtfPa);
  EXPECT_EQ(r->va, f.va(FakeImage::kBtfPa));
  EXPECT_EQ(r->size, f.blob.size());
  EXPECT_EQ(r->btf->type_count(), 30u);
  EXPECT_NE(r->how.find("2 candidate(s) rejected"), std::string::npos) << r->how;
  // Reads: the 3 MiB below _sdata in 1 MiB batches, plus a few page-table pages.
  EXPECT_GE(r->cost.bytes, 0x300000u - 0xc58);
  EXPECT_LE(r->cost.bytes, 0x300000u + 16 * 4096);
}

TEST(BtfLocate, UsesTheSymbolRangeWhenGiven) {
  FakeImage f;
  const std::uint64_t start = f.va(FakeImage::kBtfPa);
  auto r = recover_btf(f.mem, f.img, VaRange{start, start + f.blob.size()});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->how, "__start_BTF/__stop_BTF");
  EXPECT_EQ(r->pa, FakeImage::kBtfPa);
  EXPECT_LE(r->cost.bytes, f.blob.size() + 4 * 4096);
  EXPECT_FALSE(recover_btf(f.mem, f.img, VaRange{start, start}));
  EXPECT_FALSE(recover_btf(f.mem, f.img, VaRange{start + 8, start + f.blob.size()}));
}

TEST(BtfLocate, NoBtfSaysSo) {
  FakeImage f;
  std::vector<std::uint8_t> zeros(f.blob.size(), 0);
  f.mem.write(PhysAddr(FakeImage::kBtfPa), zeros);
  auto r = recover_btf(f.mem, f.img);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::not_found);
  EXPECT_NE(r.error().message.find("CONFIG_DEBUG_INFO_BTF"), std::string::npos);
}

}  // namespace

// kallsyms gives the BTF range only when both bounds are there and in order.
TEST(BtfRange, FromKallsymsBothBoundsInOrder) {
  using tlpstub::kernel::btf_range;
  using tlpstub::kernel::Symbol;
  using tlpstub::kernel::SymbolTable;
  const SymbolTable good({{"__start_BTF", 0xffffffff82000000, 'R'},
                          {"__stop_BTF", 0xffffffff824b0c0f, 'R'}});
  auto r = btf_range(good);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->start, 0xffffffff82000000u);
  EXPECT_EQ(r->stop, 0xffffffff824b0c0fu);
  EXPECT_FALSE(btf_range(SymbolTable({{"__start_BTF", 0xffffffff82000000, 'R'}})));
  EXPECT_FALSE(btf_range(SymbolTable({{"__start_BTF", 0xffffffff82000000, 'R'},
                                      {"__stop_BTF", 0xffffffff82000000, 'R'}})));
}
