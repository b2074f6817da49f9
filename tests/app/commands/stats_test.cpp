#include <gtest/gtest.h>

#include "tests/app/app_fixture.hpp"

namespace tlpstub::app::testing {
namespace {

TEST(StatsCommand, NoCountersAtAll) {
  AppFixture f;
  EXPECT_EQ(f.run("stats"), "no transport statistics\n");
  EXPECT_EQ(f.run("stats --json"), "{\"reads\":null,\"link\":null}\n");
}

TEST(StatsCommand, ReadCounters) {
  AppFixture f;
  CountingMemory counted(f.mem);
  f.ctx.read_counts = &counted;
  f.mem.back(PhysAddr(0x2345000), kPageSize);
  std::uint8_t buf[16];
  ASSERT_TRUE(counted.read_one(PhysAddr(0x2345000), buf));
  EXPECT_EQ(f.run("stats"), "reads asked for: " + counted.format());
  const std::string json = f.run("stats --json");
  EXPECT_TRUE(json.starts_with("{\"reads\":{\"batches\":1,\"ranges\":1,\"bytes\":16,\"failed\":0,"
                               "\"round_trips\":1,\"seconds\":"))
      << json;
  EXPECT_TRUE(json.ends_with("},\"link\":null}\n")) << json;
}

}  // namespace
}  // namespace tlpstub::app::testing
