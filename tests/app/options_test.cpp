// Exposure flags: loopback by default, --allow and --max-clients parsed or refused clearly;
// --run parsed and refused beside --dump or --make-profile.
#include "app/options.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace tlpstub;

namespace {

Result<app::Options> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "tlpstub");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return app::parse_options(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

TEST(Options, ListensOnLoopbackByDefault) {
  auto o = parse({"--memory", "ram.img"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->listen_host, "127.0.0.1");
  EXPECT_TRUE(o->allow.empty());
  EXPECT_EQ(o->max_clients, 32u);
  auto port_only = parse({"--memory", "ram.img", "--listen", ":2345"});
  ASSERT_TRUE(port_only);
  EXPECT_EQ(port_only->listen_host, "127.0.0.1");
}

TEST(Options, AllowAndMaxClients) {
  auto o = parse({"--memory", "ram.img", "--allow", "10.0.0.0/8,::1", "--allow", "192.0.2.7",
                  "--max-clients", "4"});
  ASSERT_TRUE(o) << o.error().message;
  ASSERT_EQ(o->allow.size(), 3u);
  EXPECT_EQ(o->allow[0].to_string(), "10.0.0.0/8");
  EXPECT_EQ(o->allow[2].to_string(), "192.0.2.7/32");
  EXPECT_EQ(o->max_clients, 4u);
}

TEST(Options, BadAllowOrLimitIsAClearError) {
  auto a = parse({"--memory", "ram.img", "--allow", "10.0.0.0/33"});
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("--allow '10.0.0.0/33'"), std::string::npos) << a.error().message;
  for (const char* n : {"0", "1025", "many"}) {
    auto m = parse({"--memory", "ram.img", "--max-clients", n});
    ASSERT_FALSE(m) << n;
    EXPECT_NE(m.error().message.find("--max-clients"), std::string::npos) << m.error().message;
  }
}

TEST(Options, RunIsRepeatableAndExcludesDumpAndMakeProfile) {
  auto o = parse({"--memory", "ram.img", "--run", "ps --threads", "--run", "dmesg -n 5"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->run_commands, (std::vector<std::string>{"ps --threads", "dmesg -n 5"}));
  auto d = parse({"--memory", "ram.img", "--run", "ps", "--dump", "x.vmcore"});
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().message, "give --run or --dump, not both");
  auto m = parse({"--make-profile", "vmlinux", "--out", "p.json", "--run", "ps"});
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("--run"), std::string::npos) << m.error().message;
  auto none = parse({"--run", "ps"});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message, "give exactly one of --memory FILE or --nettlp IP");
}
