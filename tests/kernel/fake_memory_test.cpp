// The fake itself must be right, or the walker tests prove nothing.
#include "tests/support/fake_memory.hpp"

#include <gtest/gtest.h>

using namespace tlpstub;
using tlpstub::test::FakeMemory;
using tlpstub::test::PageTableBuilder;

TEST(FakeMemory, UnwrittenPagesAreUnbacked) {
  FakeMemory mem;
  mem.write_u64(PhysAddr(0x2ff8), 0x1122334455667788);
  EXPECT_EQ(mem.read_u64(PhysAddr(0x2ff8)).value(), 0x1122334455667788u);
  std::uint8_t buf[16];
  auto st = mem.read_one(PhysAddr(0x2ff8), buf);  // runs into page 0x3000
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::unbacked);
  EXPECT_EQ(st.error().address, 0x3000u);
}

TEST(FakeMemory, InjectedFailuresAndCounters) {
  FakeMemory mem;
  mem.back(PhysAddr(0), 0x4000);
  mem.fail_at(PhysAddr(0x2abc), Errc::timeout);
  std::uint8_t a[8], b[8];
  ReadRange r[2] = {{PhysAddr(0x1000), a}, {PhysAddr(0x2008), b}};
  ReadStatus st[2];
  mem.read(r, st);
  EXPECT_TRUE(st[0]);
  ASSERT_FALSE(st[1]);
  EXPECT_EQ(st[1].error().code, Errc::timeout);
  EXPECT_EQ(st[1].error().address, 0x2008u);
  EXPECT_EQ(mem.batches(), 1u);
  EXPECT_EQ(mem.ranges(), 2u);
  EXPECT_EQ(mem.bytes(), 16u);
  mem.clear_failures();
  EXPECT_TRUE(mem.read_one(PhysAddr(0x2008), b));
  mem.reset_counters();
  EXPECT_EQ(mem.batches(), 0u);
}

TEST(PageTableBuilder, WritesTheEntriesItIsAskedFor) {
  FakeMemory mem;
  PageTableBuilder b(mem, {.levels = 4, .first_table = 0x10000});
  EXPECT_EQ(b.top().value, 0x10000u);
  const VirtAddr va(0xffff888000201000);  // indices 273 / 0 / 1 / 1
  b.map_4k(va, PhysAddr(0x5000), PageTableBuilder::P);
  const std::uint64_t pml4e = mem.peek_u64(PhysAddr(0x10000 + 8 * 273));
  EXPECT_EQ(pml4e, 0x11000u | PageTableBuilder::kTableFlags);
  const std::uint64_t pdpte = mem.peek_u64(PhysAddr(0x11000));
  EXPECT_EQ(pdpte, 0x12000u | PageTableBuilder::kTableFlags);
  const std::uint64_t pde = mem.peek_u64(PhysAddr(0x12000 + 8));
  EXPECT_EQ(pde, 0x13000u | PageTableBuilder::kTableFlags);
  EXPECT_EQ(mem.peek_u64(PhysAddr(0x13000 + 8)), 0x5001u);
  EXPECT_THROW(b.map_2m(VirtAddr(0xffff888000200000), PhysAddr(0x200000)), std::logic_error);
}

TEST(PageTableBuilder, PtiPairIsEightKibAligned) {
  FakeMemory mem;
  PageTableBuilder b(mem, {.levels = 5, .first_table = 0x11000, .pti = true});
  EXPECT_EQ(b.top().value, 0x12000u);
  EXPECT_EQ(b.user_top().value, 0x13000u);
  EXPECT_EQ(b.cr3(3, true, true), 0x13003u | 1ull << 63);
}
