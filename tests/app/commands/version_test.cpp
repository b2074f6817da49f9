#include <gtest/gtest.h>

#include "tests/app/app_fixture.hpp"

namespace tlpstub::app::testing {
namespace {

TEST(VersionCommand, TextAndJson) {
  AppFixture f;
  f.discovered();
  EXPECT_EQ(f.run("version"), "Linux version 6.1.0-test (dev@example) #1 SMP\n");
  EXPECT_EQ(f.run("version --json"),
            "{\"banner\":\"Linux version 6.1.0-test (dev@example) #1 SMP\","
            "\"release\":\"6.1.0-test\"}\n");
}

TEST(VersionCommand, WithoutAKernelTheSharedMessage) {
  AppFixture f;
  f.give_cr3();  // a page table, but nothing discovered
  EXPECT_EQ(f.run("version"),
            "error: no kernel page table known: 'monitor cr3 discover', 'monitor cr3 VALUE', or "
            "'monitor phys on' for physical reads\n");
  f.ctx.set_discovery_status({DiscoveryState::failed, "no banner", nullptr});
  EXPECT_EQ(f.run("version --json"),
            "error: kernel discovery failed: no banner; physical reads work with 'monitor phys "
            "on', or give 'monitor cr3 VALUE'\n");
}

}  // namespace
}  // namespace tlpstub::app::testing
