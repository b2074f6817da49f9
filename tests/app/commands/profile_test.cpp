// monitor profile [save FILE] on the hand-built BTF of tests/kernel/btf_sample.hpp: the count
// by source, and a saved file that loads back with the same offsets.
#include <gtest/gtest.h>

#include <cstdio>

#include "kernel/symbols/profile.hpp"
#include "tests/app/app_fixture.hpp"
#include "tests/app/types_fixture.hpp"

namespace tlpstub::app::testing {

namespace {

TEST(ProfileCommand, CountsBySource) {
  AppFixture f;
  f.discovered();
  publish_sample_types(f.ctx);
  const std::string t = f.run("profile");
  EXPECT_NE(t.find("no --profile\nkernel 6.1.0-test (build id unknown)\n"), std::string::npos)
      << t;
  EXPECT_NE(t.find(" from BTF\n"), std::string::npos) << t;
  EXPECT_NE(t.find(" missing, of 98 members the views use"), std::string::npos) << t;
}

TEST(ProfileCommand, SaveWritesAProfileThatLoadsBack) {
  AppFixture f;
  f.discovered();
  publish_sample_types(f.ctx);
  const std::string path = ::testing::TempDir() + "monitor_profile_save.json";
  const std::string j = f.run("profile save " + path + " --json");
  EXPECT_NE(j.find("\"saved_to\":\"" + path + "\""), std::string::npos) << j;
  auto p = kernel::load_profile_file(path);
  std::remove(path.c_str());
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->release, "6.1.0-test");
  bool comm = false;
  for (const kernel::ProfileMember& m : p->members)
    if (m.struct_name == "task_struct" && m.path == "comm") {
      comm = true;
      EXPECT_EQ(m.field.offset, 48u);  // btf_sample.hpp
      EXPECT_EQ(m.field.size, 16u);
      EXPECT_EQ(m.field.source, "BTF");
    }
  EXPECT_TRUE(comm);
}

TEST(ProfileCommand, BadArgumentsAndUnwritablePaths) {
  AppFixture f;
  f.discovered();
  publish_sample_types(f.ctx);
  EXPECT_EQ(f.run("profile load x"), "error: usage: monitor profile [save FILE]\n");
  EXPECT_EQ(f.run("profile save /nonexistent/dir/p.json"),
            "error: cannot write /nonexistent/dir/p.json\n");
}

}  // namespace
}  // namespace tlpstub::app::testing
