// The monitor registry: common flags, argument counts, requirements, help CMD, duplicates.
#include "stub/monitor.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace tlpstub::stub::testing {
namespace {

struct Ran {
  MonitorArgs args;
  int calls = 0;
};

MonitorCommand recorder(std::string name, Ran& ran) {
  MonitorCommand c{name, name + " [PATTERN] [-n N]", "records its arguments",
                   [&ran](const MonitorArgs& a, const OutputFn&) -> Result<void> {
                     ran.args = a;
                     ++ran.calls;
                     return {};
                   },
                   0, 1};
  c.takes_count = true;
  c.takes_pattern = true;
  return c;
}

Result<void> run(const MonitorRegistry& r, std::string_view line, std::string* out = nullptr) {
  std::string sink;
  return r.run(line, [&](std::string_view t) { (out ? *out : sink) += t; });
}

TEST(MonitorRegistry, ParsesCommonFlagsInOnePlace) {
  MonitorRegistry r;
  Ran ran;
  r.add(recorder("ps", ran));
  ASSERT_TRUE(run(r, "ps  bash  -n 0x10 --json"));
  ASSERT_EQ(ran.args.words.size(), 1u);
  EXPECT_EQ(ran.args.pattern, "bash");
  EXPECT_EQ(ran.args.count, 16u);
  EXPECT_TRUE(ran.args.json);
  ASSERT_TRUE(run(r, "ps"));
  EXPECT_FALSE(ran.args.pattern);
  EXPECT_FALSE(ran.args.count);
  EXPECT_FALSE(ran.args.json);
}

TEST(MonitorRegistry, ValueOptionsOfOneCommand) {
  MonitorRegistry r;
  Ran ran;
  MonitorCommand c = recorder("kconfig", ran);
  c.value_options = {{"--out", "FILE", "write the result to FILE"}};
  r.add(std::move(c));
  Ran other;
  r.add(recorder("ps", other));
  ASSERT_TRUE(run(r, "kconfig SMP --out /tmp/x.config --json"));
  EXPECT_EQ(ran.args.pattern, "SMP");
  ASSERT_TRUE(ran.args.values.contains("--out"));
  EXPECT_EQ(ran.args.values.at("--out"), "/tmp/x.config");
  EXPECT_TRUE(ran.args.json);
  EXPECT_EQ(run(r, "kconfig --out").error().message, "kconfig: --out takes a FILE");
  EXPECT_EQ(run(r, "ps --out f").error().message,
            "ps: unknown option '--out'; try 'monitor help ps'");
  std::string help;
  ASSERT_TRUE(run(r, "help kconfig", &help));
  EXPECT_NE(help.find("  --out FILE  write the result to FILE\n"), std::string::npos);
}

TEST(MonitorRegistry, BadFlagsAndCountsNameTheUsage) {
  MonitorRegistry r;
  Ran ran;
  r.add(recorder("ps", ran));
  EXPECT_EQ(run(r, "ps -n").error().message, "usage: monitor ps [PATTERN] [-n N]");
  EXPECT_EQ(run(r, "ps -n many").error().message, "ps: -n takes a number, not 'many'");
  EXPECT_EQ(run(r, "ps --jsn").error().message,
            "ps: unknown option '--jsn'; try 'monitor help ps'");
  EXPECT_EQ(run(r, "ps a b").error().message, "usage: monitor ps [PATTERN] [-n N]");
  EXPECT_EQ(ran.calls, 0);
}

TEST(MonitorRegistry, RequirementMissingGivesTheOneSharedMessage) {
  MonitorRegistry r;
  Ran a, b;
  MonitorCommand ca = recorder("ps", a), cb = recorder("bt", b);
  ca.needs = cb.needs = "a discovered kernel";
  r.add(ca);
  r.add(cb);
  bool have = false;
  r.provide("a discovered kernel", [&]() -> std::optional<Error> {
    if (have) return std::nullopt;
    return Error{Errc::busy, "kernel discovery is still running", 0};
  });
  EXPECT_EQ(run(r, "ps").error().message, "kernel discovery is still running");
  EXPECT_EQ(run(r, "bt").error().message, "kernel discovery is still running");
  EXPECT_EQ(a.calls + b.calls, 0);
  have = true;
  EXPECT_TRUE(run(r, "bt"));
  EXPECT_EQ(b.calls, 1);
}

TEST(MonitorRegistry, DuplicateNamesAreRejected) {
  MonitorRegistry r;
  Ran ran;
  r.add(recorder("ps", ran));
  EXPECT_THROW(r.add(recorder("ps", ran)), std::logic_error);
  EXPECT_THROW(r.add(recorder("help", ran)), std::logic_error);
}

TEST(MonitorRegistry, HelpForOneCommand) {
  MonitorRegistry r;
  Ran ran;
  MonitorCommand c = recorder("ps", ran);
  c.needs = "a discovered kernel";
  r.add(c);
  std::string out;
  ASSERT_TRUE(run(r, "help ps", &out));
  EXPECT_EQ(out,
            "monitor ps [PATTERN] [-n N]\n  records its arguments\n  -n N    at most N results\n"
            "  --json  the result as JSON, for scripts\n  needs a discovered kernel\n");
  out.clear();
  ASSERT_TRUE(run(r, "help", &out));
  EXPECT_EQ(out,
            "help                 list monitor commands\n"
            "ps [PATTERN] [-n N]  records its arguments\n");
  out.clear();
  ASSERT_TRUE(run(r, "help --json", &out));
  EXPECT_EQ(out,
            "[{\"name\":\"help\",\"usage\":\"help\",\"help\":\"list monitor commands\"},{\"name\":\"ps\",\"usage\":\"ps [PATTERN] [-n N]\",\"help\":"
            "\"records its arguments\"}]\n");
  out.clear();
  ASSERT_TRUE(run(r, "help help", &out));
  EXPECT_EQ(out,
            "monitor help\n  list monitor commands\n  help CMD  describes one command\n"
            "  --json  the result as JSON, for scripts\n");
  EXPECT_EQ(run(r, "help nosuch").error().message,
            "unknown monitor command 'nosuch'; try 'monitor help'");
}

}  // namespace
}  // namespace tlpstub::stub::testing
