#include "transport/counting_memory.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "tests/support/fake_memory.hpp"

using namespace tlpstub;

TEST(CountingMemory, CountsBatchesRangesBytesFailuresAndRoundTrips) {
  test::FakeMemory inner;
  inner.back(PhysAddr(0), 8 * kPageSize);
  CountingMemory cm(inner, /*in_flight=*/2);
  std::vector<std::uint8_t> a(16), b(4096), c(8);
  std::vector<ReadRange> rs{{PhysAddr(0), a}, {PhysAddr(0x1000), b}, {PhysAddr(0x100000), c}};
  std::vector<ReadStatus> st(rs.size());
  cm.read(rs, st);
  EXPECT_TRUE(st[0]);
  EXPECT_FALSE(st[2]);  // unbacked in the fake
  ASSERT_TRUE(cm.read_one(PhysAddr(8), std::span(a).first(8)));
  const MemoryCounters k = cm.counters();
  EXPECT_EQ(k.batches, 2u);
  EXPECT_EQ(k.ranges, 4u);
  EXPECT_EQ(k.bytes, 16u + 4096u + 8u + 8u);
  EXPECT_EQ(k.failed, 1u);
  EXPECT_EQ(k.round_trips, 2u + 1u);  // ceil(3/2) + ceil(1/2)
  EXPECT_EQ((k - k).ranges, 0u);
  EXPECT_NE(cm.format().find("ranges 4"), std::string::npos);
  EXPECT_EQ(cm.info().max_address, inner.info().max_address);
}
