#include <gtest/gtest.h>

#include "tests/app/app_fixture.hpp"

namespace tlpstub::app::testing {
namespace {

TEST(PhysCommand, TextAndJson) {
  AppFixture f;
  EXPECT_EQ(f.run("phys"), "memory accesses use kernel virtual addresses\n");
  EXPECT_EQ(f.run("phys on"), "memory accesses use physical addresses\n");
  EXPECT_EQ(f.run("phys --json"), "{\"phys\":true}\n");
  EXPECT_EQ(f.run("phys off --json"), "{\"phys\":false}\n");
  EXPECT_EQ(f.run("phys maybe"), "error: usage: monitor phys [on|off]\n");
  EXPECT_EQ(f.run("phys on off"), "error: usage: monitor phys [on|off]\n");
}

TEST(PhysCommand, NeedsNoKernel) {
  AppFixture f;  // no --cr3, discovery never run
  EXPECT_EQ(f.run("phys on"), "memory accesses use physical addresses\n");
}

}  // namespace
}  // namespace tlpstub::app::testing
