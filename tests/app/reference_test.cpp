// `tlpstub --help-markdown`: the flag that asks for it, and the Markdown built from the monitor
// registry (README's generated reference; tools/readme-reference.sh compares the two).
#include "app/reference.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "app/options.hpp"

using namespace tlpstub;

TEST(Reference, HelpMarkdownFlagAsksForIt) {
  std::vector<std::string> args = {"tlpstub", "--memory", "ram.img", "--help-markdown"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  auto o = app::parse_options(static_cast<int>(argv.size()), argv.data());
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().code, Errc::not_found);
  EXPECT_EQ(o.error().message, "help-markdown");
  EXPECT_NE(app::usage_text().find("--help-markdown"), std::string::npos);
}

TEST(Reference, TableRowsComeFromTheRegistry) {
  stub::MonitorRegistry r;
  stub::MonitorCommand c("pick", "pick A|B [-n N]", "one line\nof help", nullptr, 1, 1);
  c.takes_count = true;
  c.value_options.push_back({"--out", "FILE", "where to write"});
  c.switches.push_back("--all");
  c.needs = "kernel symbols";
  r.add(std::move(c));
  const std::string md = app::monitor_reference_markdown(r);
  EXPECT_EQ(md,
            "| command | what it does | options | needs |\n"
            "| --- | --- | --- | --- |\n"
            "| `monitor help` | list monitor commands | `CMD`: describes one command; `--json` |  |\n"
            "| `monitor pick A\\|B [-n N]` | one line of help | `-n N`: at most N results; "
            "`--out FILE`: where to write; `--all`; `--json` | kernel symbols |\n");
}

TEST(Reference, EveryRegisteredCommandIsListed) {
  const std::string md = app::reference_markdown();
  EXPECT_NE(md.find("```text\nusage: tlpstub"), std::string::npos);
  for (const char* cmd : {"help", "info", "ps", "bt", "dmesg", "dump", "kconfig", "symbol-file"})
    EXPECT_NE(md.find(std::string("| `monitor ") + cmd), std::string::npos) << cmd;
}
