#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "tests/app/app_fixture.hpp"

namespace tlpstub::app::testing {
namespace {

// A config file in one physical page of the fixture's memory (the page cache of a small
// machine), for the made-up kernel discovered() publishes ("6.1.0-test": header 6.1.0).
void give_config_page(AppFixture& f) {
  const std::string text =
      "#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 6.1.0 Kernel Configuration\n"
      "#\nCONFIG_A_B=y\n# CONFIG_BTF_THING is not set\nCONFIG_NUM=64\n";
  f.mem.write(PhysAddr(0x3000000), std::vector<std::uint8_t>(text.begin(), text.end()));
}

TEST(KconfigCommand, PageCacheCopyPatternAndOut) {
  AppFixture f;
  auto k = f.discovered();
  give_config_page(f);
  const std::string all = f.run("kconfig");
  EXPECT_NE(all.find("CONFIG_A_B=y\n# CONFIG_BTF_THING is not set\nCONFIG_NUM=64\n"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("CONFIG_RANDOMIZE_BASE=y  # inferred: _text at 0xffffffff9a000000"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("-- 5 options (2 inferred, 3 page cache); source: page cache: config file "
                     "at physical 0x3000000"),
            std::string::npos)
      << all;
  const std::string btf = f.run("kconfig btf");
  // Progress lines first (text mode), then the matching options and the summary.
  EXPECT_TRUE(btf.starts_with("kconfig: no IKCONFIG; looking for config files in the page cache\n"
                              "kconfig: probed 32 of 48 MiB, 0 pages look like config text\n"
                              "kconfig: probed 48 of 48 MiB, 1 pages look like config text\n"))
      << btf;
  EXPECT_NE(btf.find("\n# CONFIG_BTF_THING is not set\n-- 1 of 5 options match 'btf'\n"),
            std::string::npos)
      << btf;
  const std::string glob = f.run("kconfig 'A_*' --json");
  // --json: progress as {"progress": ...} lines, then the result object.
  EXPECT_TRUE(glob.starts_with("{\"progress\":\"kconfig: no IKCONFIG; looking for config files "
                               "in the page cache\"}\n{\"progress\":\"kconfig: probed 32 of"))
      << glob;
  EXPECT_NE(glob.find("\"options\":[{\"name\":\"CONFIG_A_B\",\"value\":\"y\",\"source\":\"page "
                      "cache\"}]"),
            std::string::npos)
      << glob;
  const std::string path = ::testing::TempDir() + "kconfig_test.config";
  const std::string o = f.run("kconfig --out " + path);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str().substr(0, 3), "#\n#");
  EXPECT_NE(ss.str().find("CONFIG_NUM=64\n"), std::string::npos);
  EXPECT_NE(o.find("-- wrote " + std::to_string(ss.str().size()) + " bytes to " + path),
            std::string::npos);
  std::remove(path.c_str());
  EXPECT_TRUE(f.run("kconfig --out /nonexistent-dir/x")
                  .ends_with("\nerror: kconfig: cannot write /nonexistent-dir/x\n"));
}

TEST(KconfigCommand, OtherKernelsConfigIsNotUsed) {
  AppFixture f;
  f.discovered();
  const std::string text =
      "#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 6.12.9 Kernel Configuration\n"
      "CONFIG_A_B=y\n";
  f.mem.write(PhysAddr(0x3000000), std::vector<std::uint8_t>(text.begin(), text.end()));
  const std::string out = f.run("kconfig");
  EXPECT_NE(out.find("source: inferred from memory only"), std::string::npos) << out;
  EXPECT_NE(out.find("-- copy at physical 0x3000000: Linux/x86 6.12.9 Kernel Configuration, 1 "
                     "pages, 1 options (physical adjacency): built for Linux 6.12.9, not the "
                     "running kernel"),
            std::string::npos)
      << out;
  EXPECT_EQ(f.run("kconfig a b"), "error: usage: monitor kconfig [PATTERN] [--out FILE]\n");
  AppFixture none;
  EXPECT_NE(none.run("kconfig").find("error: "), std::string::npos);
}

}  // namespace
}  // namespace tlpstub::app::testing
