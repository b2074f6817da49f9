#include "kernel/paging_probe.hpp"

#include <gtest/gtest.h>

#include "tests/support/fake_memory.hpp"

using namespace tlpstub;
using tlpstub::test::FakeMemory;
using tlpstub::test::PageTableBuilder;

namespace {

constexpr std::uint64_t kImageVa = 0xffffffff81000000ull;  // _text without KASLR
constexpr std::uint64_t kImagePa = 0x3000000ull;

// A kernel image of `pages2m` 2 MiB pages mapped like head_64.S does, plus decoys: a fixmap
// 4 KiB mapping and an espfix-like mapping, which are what the wrong interpretation reaches.
void map_image(PageTableBuilder& b, int pages2m) {
  for (int i = 0; i < pages2m; ++i)
    b.map_2m(VirtAddr(kImageVa + i * (2ull << 20)), PhysAddr(kImagePa + i * (2ull << 20)),
             PageTableBuilder::kKernelText);
  b.map_4k(VirtAddr(0xffffffffff5fd000ull), PhysAddr(0xfee00000ull));  // fixmap
  b.map_4k(VirtAddr(0xffffff0000000000ull), PhysAddr(0x200000ull));    // espfix
}

}  // namespace

TEST(PagingProbe, FourLevel) {
  FakeMemory mem;
  PageTableBuilder b(mem, {.levels = 4});
  map_image(b, 12);
  auto g = kernel::guess_paging_levels(mem, b.top());
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(g->levels, 4);
  EXPECT_EQ(g->score4, 12);
  EXPECT_LT(g->score5, 2);
  EXPECT_EQ(g->image_va, kImageVa);
  EXPECT_EQ(g->image_pa, kImagePa);
}

TEST(PagingProbe, FiveLevelWithSme) {
  FakeMemory mem;
  const std::uint64_t sme = 1ull << 47;
  PageTableBuilder b(mem, {.levels = 5, .sme_mask = sme});
  map_image(b, 9);
  auto g = kernel::guess_paging_levels(mem, b.top(), sme);
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(g->levels, 5);
  EXPECT_EQ(g->score5, 9);
  EXPECT_EQ(g->image_va, kImageVa);
  // Without stripping the C-bit the frames are garbage: not a clean guess.
  auto raw = kernel::guess_paging_levels(mem, b.top(), 0);
  EXPECT_TRUE(!raw || raw->score5 <= 9);
}

TEST(PagingProbe, NotAKernelTable) {
  FakeMemory mem;
  PageTableBuilder b(mem, {.levels = 4});
  b.map_4k(VirtAddr(0x400000), PhysAddr(0x5000), PageTableBuilder::kUserData);
  auto g = kernel::guess_paging_levels(mem, b.top());
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code, Errc::not_found);
  // Unbacked memory: a clear error, not a crash.
  EXPECT_FALSE(kernel::guess_paging_levels(mem, PhysAddr(0x7000000000ull)));
}
