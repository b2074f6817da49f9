#include "app/session_state.hpp"

#include <gtest/gtest.h>

#include "tests/app/app_fixture.hpp"

namespace tlpstub::app::testing {
namespace {

// The thread list is built once per request, however many thread packets the request serves,
// and again for the next request (the target is live).
TEST(SessionState, ThreadListOncePerRequest) {
  AppFixture f;
  f.give_cr3();
  SessionState& s = f.target.state();
  int built = 0;
  s.set_thread_lister([&](SessionState&) {
    ++built;
    return std::vector<stub::ThreadInfo>{{1, "swapper/0", "pid 0"}, {2, "init", "pid 1"}};
  });
  f.begin();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(f.target.threads().size(), 2u);
    EXPECT_TRUE(f.target.registers(2));
  }
  EXPECT_EQ(built, 1);
  f.begin();
  f.target.threads();
  EXPECT_EQ(built, 2);
  EXPECT_EQ(s.thread_lists_built(), 2u);
}

TEST(SessionState, SnapshotOncePerRequestAndNotBeforeUse) {
  AppFixture f;
  SessionState& s = f.target.state();
  f.begin();
  EXPECT_FALSE(s.snapshot().space);
  f.give_cr3();  // e.g. discovery finishing in the background
  EXPECT_FALSE(s.snapshot().space) << "one snapshot per request";
  f.begin();
  EXPECT_TRUE(s.snapshot().space);
  EXPECT_EQ(s.snapshot().request, s.request());
}

TEST(SessionState, WaitsForRunningDiscoveryAtMostUntilTheDeadline) {
  AppFixture f;
  f.ctx.set_discovery_status({DiscoveryState::running, "scanning", nullptr});
  const auto t0 = SteadyClock::now();
  f.begin(std::chrono::milliseconds(50));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(f.target.state().snapshot().discovery.state,
                                        DiscoveryState::running);
  EXPECT_LT(SteadyClock::now() - t0, std::chrono::milliseconds(450));
}

}  // namespace
}  // namespace tlpstub::app::testing
