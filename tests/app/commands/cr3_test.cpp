#include <gtest/gtest.h>

#include "tests/app/app_fixture.hpp"

namespace tlpstub::app::testing {
namespace {

TEST(Cr3Command, ShowSetAndJson) {
  AppFixture f;
  EXPECT_EQ(f.run("cr3"), "no page table known (no --cr3 given)\n");
  EXPECT_EQ(f.run("cr3 --json"), "{\"event\":\"shown\",\"space\":null}\n");
  f.give_cr3();
  EXPECT_EQ(f.run("cr3"), "cr3 0x100000 -> top-level table 0x100000, 4-level paging, from --cr3\n");
  EXPECT_EQ(f.run("cr3 0x5001"), "this session now uses top-level table 0x4000 (4-level)\n");
  EXPECT_EQ(f.run("cr3 --json"),
            "{\"event\":\"shown\",\"space\":{\"cr3\":\"0x5001\",\"table\":\"0x4000\","
            "\"levels\":4,\"sme_mask\":\"0x0\",\"source\":\"monitor cr3 (this session)\"}}\n");
  EXPECT_EQ(f.run("cr3 nope"), "error: cr3: 'nope' is not a number\n");
  EXPECT_EQ(f.run("cr3 1 2"), "error: usage: monitor cr3 [VALUE|discover]\n");
}

TEST(Cr3Command, AnOverrideIsSeenInTheSameRequest) {
  AppFixture f;
  f.give_cr3();
  f.begin();
  EXPECT_EQ(f.run_in_request("cr3 0x7000"),
            "this session now uses top-level table 0x6000 (4-level)\n");
  EXPECT_EQ(f.run_in_request("cr3"),
            "cr3 0x7000 -> top-level table 0x6000, 4-level paging, from monitor cr3 (this "
            "session)\n");
}

// Discovery that never ends: `monitor cr3` waits for it once, until the request's deadline,
// and answers then. A bound with a wide margin, not a benchmark.
TEST(Cr3Command, ReturnsWithinTheRequestBudgetWhileDiscoveryRunsForever) {
  AppFixture f;
  f.ctx.set_discovery_status({DiscoveryState::running, "scanning", nullptr});
  const auto budget = std::chrono::milliseconds(100);
  for (const char* line : {"cr3", "cr3 0x5000"}) {
    const auto t0 = SteadyClock::now();
    f.begin(budget);
    const std::string out = f.run_in_request(line);
    const auto took = SteadyClock::now() - t0;
    EXPECT_LT(took, budget + std::chrono::milliseconds(400)) << line;
    EXPECT_FALSE(out.empty()) << line;
  }
  EXPECT_EQ(f.run("cr3"),
            "cr3 0x5000 -> top-level table 0x4000, 4-level paging, from monitor cr3 (this "
            "session)\n");
}

}  // namespace
}  // namespace tlpstub::app::testing
