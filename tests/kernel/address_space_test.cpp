#include "kernel/address_space.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "tests/support/fake_memory.hpp"

using namespace tlpstub;
using namespace tlpstub::kernel;
using tlpstub::test::FakeMemory;
using tlpstub::test::PageTableBuilder;

namespace {

constexpr std::uint64_t kBase = 0xffffc90000000000;  // vmalloc area, 4-level

struct Fixture : ::testing::Test {
  FakeMemory mem;
  PageTableBuilder b{mem};
  PageWalker walker{mem};
  AddressSpace as{mem, walker, b.top()};

  // Maps one 4K page and fills its frame with the address-dependent pattern.
  void map_page(VirtAddr va, PhysAddr phys) {
    b.map_4k(va, phys);
    mem.fill_pattern(phys, kPageSize);
  }
  // Checks out[i] against the pattern of the physical byte at phys_of(i).
  template <class F>
  void expect_bytes(std::span<const std::uint8_t> out, std::size_t n, F phys_of) {
    for (std::size_t i = 0; i < n; ++i)
      ASSERT_EQ(out[i], FakeMemory::pattern_at(phys_of(i))) << "byte " << i;
  }
};

using AddressSpaceTest = Fixture;

}  // namespace

TEST_F(AddressSpaceTest, ReadsWithinOnePage) {
  map_page(VirtAddr(kBase + 0x5000), PhysAddr(0x30000));
  std::vector<std::uint8_t> out(100);
  ReadOutcome r = as.read(VirtAddr(kBase + 0x5f00), out);
  EXPECT_TRUE(r.complete());
  EXPECT_EQ(r.bytes_read, 100u);
  expect_bytes(out, 100, [](std::size_t i) { return 0x30f00 + i; });
}

TEST_F(AddressSpaceTest, EmptyReadReadsNothing) {
  mem.reset_counters();
  ReadOutcome r = as.read(VirtAddr(kBase), {});
  EXPECT_TRUE(r.complete());
  EXPECT_EQ(r.bytes_read, 0u);
  EXPECT_EQ(mem.batches(), 0u);
}

TEST_F(AddressSpaceTest, SpansScatteredPagesInOneDataBatch) {
  // Pages 0 and 1 are physically adjacent (one merged read), page 2 is elsewhere.
  map_page(VirtAddr(kBase), PhysAddr(0x40000));
  map_page(VirtAddr(kBase + 0x1000), PhysAddr(0x41000));
  map_page(VirtAddr(kBase + 0x2000), PhysAddr(0x90000));
  std::vector<std::uint8_t> out(0x2100);
  mem.reset_counters();
  ReadOutcome r = as.read(VirtAddr(kBase + 0x800), out);
  ASSERT_TRUE(r.complete()) << r.fault->message;
  EXPECT_EQ(r.bytes_read, out.size());
  expect_bytes(out, out.size(), [](std::size_t i) {
    const std::uint64_t off = 0x800 + i;
    return off < 0x2000 ? 0x40000 + off : 0x90000 + (off - 0x2000);
  });
  // 4 table batches (one per level) + 1 data batch holding 2 ranges.
  ASSERT_EQ(mem.batches(), 5u);
  ASSERT_EQ(mem.log()[4].size(), 2u);
  EXPECT_EQ(mem.log()[4][0].addr, 0x40800u);
  EXPECT_EQ(mem.log()[4][0].length, 0x1800u);
  EXPECT_EQ(mem.log()[4][1].addr, 0x90000u);
  EXPECT_EQ(mem.log()[4][1].length, 0x900u);

  // Same request again: tables are cached, only the data is read.
  mem.reset_counters();
  EXPECT_EQ(as.read(VirtAddr(kBase + 0x800), out).bytes_read, out.size());
  EXPECT_EQ(mem.batches(), 1u);
}

TEST_F(AddressSpaceTest, HoleInTheMiddleGivesAShortRead) {
  map_page(VirtAddr(kBase), PhysAddr(0x40000));
  map_page(VirtAddr(kBase + 0x1000), PhysAddr(0x41000));
  // kBase + 0x2000 is not mapped.
  map_page(VirtAddr(kBase + 0x3000), PhysAddr(0x43000));
  std::vector<std::uint8_t> out(0x3000);
  ReadOutcome r = as.read(VirtAddr(kBase + 0x10), out);
  EXPECT_EQ(r.bytes_read, 0x1ff0u);
  ASSERT_TRUE(r.fault);
  EXPECT_EQ(r.fault->code, Errc::not_present);
  EXPECT_EQ(r.fault->address, kBase + 0x2000);
  EXPECT_NE(r.fault->message.find("PTE not present"), std::string::npos) << r.fault->message;
  expect_bytes(out, r.bytes_read, [](std::size_t i) { return 0x40010 + i; });

  // Starting in the hole reads nothing and names the first byte.
  r = as.read(VirtAddr(kBase + 0x2abc), out);
  EXPECT_EQ(r.bytes_read, 0u);
  ASSERT_TRUE(r.fault);
  EXPECT_EQ(r.fault->address, kBase + 0x2abc);
}

TEST_F(AddressSpaceTest, PhysicalFailureInsideAMergedReadIsLocatedToItsPage) {
  map_page(VirtAddr(kBase), PhysAddr(0x40000));
  map_page(VirtAddr(kBase + 0x1000), PhysAddr(0x41000));
  map_page(VirtAddr(kBase + 0x2000), PhysAddr(0x42000));
  mem.fail_at(PhysAddr(0x42000), Errc::completer_abort);
  std::vector<std::uint8_t> out(0x3000);
  mem.reset_counters();
  ReadOutcome r = as.read(VirtAddr(kBase), out);
  EXPECT_EQ(r.bytes_read, 0x2000u);
  ASSERT_TRUE(r.fault);
  EXPECT_EQ(r.fault->code, Errc::completer_abort);
  EXPECT_EQ(r.fault->address, kBase + 0x2000);
  EXPECT_NE(r.fault->message.find("physical 0x42000"), std::string::npos) << r.fault->message;
  expect_bytes(out, r.bytes_read, [](std::size_t i) { return 0x40000 + i; });
  // Tables (4) + merged data read (1) + per-page retry (1).
  EXPECT_EQ(mem.batches(), 6u);
  EXPECT_EQ(mem.log()[4].size(), 1u);
  EXPECT_EQ(mem.log()[5].size(), 3u);
}

TEST_F(AddressSpaceTest, TableReadFailureStopsTheReadAtTheRightByte) {
  map_page(VirtAddr(kBase + 0x1ff000), PhysAddr(0x40000));
  map_page(VirtAddr(kBase + 0x200000), PhysAddr(0x41000));  // next PT
  mem.fail_at(b.table_at(1, VirtAddr(kBase + 0x200000)), Errc::timeout);
  std::vector<std::uint8_t> out(0x2000);
  ReadOutcome r = as.read(VirtAddr(kBase + 0x1ff000), out);
  EXPECT_EQ(r.bytes_read, 0x1000u);
  ASSERT_TRUE(r.fault);
  EXPECT_EQ(r.fault->code, Errc::timeout);
  EXPECT_EQ(r.fault->address, kBase + 0x200000);
}

TEST_F(AddressSpaceTest, ReadsAcross2MAnd1GBoundaries) {
  // Two 2 MiB pages, physically apart, then a 1 GiB page next to a 4K-mapped GiB.
  b.map_2m(VirtAddr(kBase + 0x40000000), PhysAddr(0x10000000));
  b.map_2m(VirtAddr(kBase + 0x40200000), PhysAddr(0x08000000));
  mem.fill_pattern(PhysAddr(0x10000000 + 0x1ff000), 0x1000);
  mem.fill_pattern(PhysAddr(0x08000000), 0x1000);
  std::vector<std::uint8_t> out(0x1000);
  ReadOutcome r = as.read(VirtAddr(kBase + 0x401ff800), out);
  ASSERT_TRUE(r.complete()) << r.fault->message;
  expect_bytes(out, out.size(), [](std::size_t i) {
    return i < 0x800 ? 0x101ff800 + i : 0x08000000 + (i - 0x800);
  });

  b.map_1g(VirtAddr(kBase + 0x80000000), PhysAddr(0x140000000));
  map_page(VirtAddr(kBase + 0xc0000000), PhysAddr(0x50000));
  mem.fill_pattern(PhysAddr(0x140000000 + 0x3ffff000), 0x1000);
  walker.new_epoch();  // the tables changed: a new request
  r = as.read(VirtAddr(kBase + 0xbffffc00), out);
  ASSERT_TRUE(r.complete()) << r.fault->message;
  expect_bytes(out, out.size(), [](std::size_t i) {
    return i < 0x400 ? 0x17ffffc00 + i : 0x50000 + (i - 0x400);
  });

  // Two consecutive 2 MiB pages that are physically adjacent are read as one range.
  b.map_2m(VirtAddr(kBase + 0x40400000), PhysAddr(0x08200000));
  mem.fill_pattern(PhysAddr(0x08200000 - 0x100), 0x200);
  walker.new_epoch();
  mem.reset_counters();
  std::vector<std::uint8_t> small(0x200);
  r = as.read(VirtAddr(kBase + 0x40400000 - 0x100), small);
  ASSERT_TRUE(r.complete()) << r.fault->message;
  ASSERT_EQ(mem.log().back().size(), 1u);
  EXPECT_EQ(mem.log().back()[0].addr, 0x081fff00u);
  expect_bytes(small, small.size(), [](std::size_t i) { return 0x081fff00 + i; });
}

TEST_F(AddressSpaceTest, StopsAtTheEndOfTheLowerHalf) {
  const VirtAddr last(0x00007ffffffff000);
  map_page(last, PhysAddr(0x60000));
  std::vector<std::uint8_t> out(0x2000);
  ReadOutcome r = as.read(last, out);
  EXPECT_EQ(r.bytes_read, 0x1000u);
  ASSERT_TRUE(r.fault);
  EXPECT_EQ(r.fault->code, Errc::non_canonical);
  EXPECT_EQ(r.fault->address, 0x0000800000000000u);
}

TEST_F(AddressSpaceTest, ReadU64AndToPhys) {
  map_page(VirtAddr(kBase), PhysAddr(0x40000));
  map_page(VirtAddr(kBase + 0x1000), PhysAddr(0x70000));
  mem.write_u64(PhysAddr(0x40ffc), 0x11223344aabbccdd);  // straddles the two pages:
  mem.write_u64(PhysAddr(0x70000 - 4), 0);               // (keeps the fake honest)
  std::uint8_t hi[4] = {0x55, 0x66, 0x77, 0x88};
  mem.write(PhysAddr(0x70000), hi);
  auto v = as.read_u64(VirtAddr(kBase + 0xffc));
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(*v, 0x88776655aabbccddu);

  auto p = as.to_phys(VirtAddr(kBase + 0x1234));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->value, 0x70234u);

  auto hole = as.read_u64(VirtAddr(kBase + 0x1ffc));
  ASSERT_FALSE(hole);
  EXPECT_EQ(hole.error().code, Errc::not_present);
  EXPECT_EQ(hole.error().address, kBase + 0x2000);
  EXPECT_FALSE(as.to_phys(VirtAddr(kBase + 0x2000)));
}

TEST_F(AddressSpaceTest, TopCanBeSwitched) {
  map_page(VirtAddr(0x400000), PhysAddr(0x40000));
  FakeMemory& m = mem;
  PageTableBuilder::Options o;
  o.first_table = 0x800000;
  o.pti = true;
  PageTableBuilder other(m, o);
  other.map_4k(VirtAddr(0x400000), PhysAddr(0x41000));
  EXPECT_EQ(as.to_phys(VirtAddr(0x400000))->value, 0x40000u);
  as.set_cr3(other.cr3(7, true, true));
  EXPECT_EQ(as.top(), other.top());
  EXPECT_EQ(as.to_phys(VirtAddr(0x400000))->value, 0x41000u);
  as.set_top(b.top());
  EXPECT_EQ(as.to_phys(VirtAddr(0x400000))->value, 0x40000u);
  as.set_levels(5);
  EXPECT_EQ(walker.levels(), 5);
}

// A read cut short by the request's deadline returns the prefix the transport did read (a
// short gdb reply), with no further batch: there is no time left for one.
TEST_F(AddressSpaceTest, DeadlineKeepsTheReadPrefixWithoutAnotherBatch) {
  for (int k = 0; k < 4; ++k)
    map_page(VirtAddr(kBase + k * kPageSize), PhysAddr(0x80000 + k * kPageSize));
  std::vector<std::uint8_t> out(4 * kPageSize - 0x100);
  walker.new_epoch();
  mem.reset_counters();
  ASSERT_TRUE(as.read(VirtAddr(kBase + 0x100), out).complete());
  const std::size_t clean_batches = mem.batches();

  mem.fail_at(PhysAddr(0x82000), Errc::deadline);
  walker.new_epoch();
  mem.reset_counters();
  ReadOutcome r = as.read(VirtAddr(kBase + 0x100), out);
  ASSERT_TRUE(r.fault);
  EXPECT_EQ(r.fault->code, Errc::deadline);
  EXPECT_EQ(r.bytes_read, 2 * kPageSize - 0x100);
  EXPECT_EQ(r.fault->address, kBase + 2 * kPageSize);
  EXPECT_EQ(mem.batches(), clean_batches);
  expect_bytes(out, r.bytes_read, [](std::size_t i) { return 0x80100 + i; });
}
