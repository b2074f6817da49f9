// Who may connect, how many, and what the log says about them (stub::Server over FakeTargets).
#include <gtest/gtest.h>

#include <cstdlib>

#include "common/parse.hpp"
#include "server_harness.hpp"
#include "tcp_driver.hpp"

using namespace tlpstub;
using namespace tlpstub::stub;
using namespace tlpstub::stub::testing;
using namespace std::chrono_literals;

TEST(ServerExposure, PeerOutsideAllowIsRefusedWithAMessageAndLogged) {
  LogCapture log;
  ServerOptions o;
  o.allow = parse_cidr_list("10.0.0.0/8,2001:db8::/32").value();
  ServerRig rig(o);
  Client c(rig.port());
  ASSERT_TRUE(c.connected());
  const std::string got = c.read_to_eof();
  EXPECT_EQ(got, "+" + rsp_frame("E.tlpstub: address 127.0.0.1 is not allowed to connect"));
  EXPECT_TRUE(c.eof());
  EXPECT_TRUE(log.has("refused gdb connection from 127.0.0.1:")) << log.text();
  EXPECT_EQ(rig.server().clients(), 0u);
}

TEST(ServerExposure, PeerInsideAllowIsServed) {
  LogCapture log;
  ServerOptions o;
  o.allow = parse_cidr_list("10.0.0.0/8,127.0.0.0/8").value();
  ServerRig rig(o);
  Client c(rig.port());
  ASSERT_TRUE(c.send_packet("qRcmd," + to_hex(reinterpret_cast<const std::uint8_t*>("echo hi"), 7)));
  EXPECT_NE(c.read_until("$OK#").find("$OK#"), std::string::npos);
  // The connection and the monitor command are logged with the peer's address and port.
  EXPECT_TRUE(log.has("gdb connected from 127.0.0.1:")) << log.text();
  EXPECT_TRUE(log.has(": monitor echo hi")) << log.text();
  EXPECT_TRUE(log.has("127.0.0.1:")) << log.text();
}

TEST(ServerExposure, MonitorLogLineCannotBeForged) {
  LogCapture log;
  ServerRig rig;
  Client c(rig.port());
  const std::string cmd = "echo a\nerror fake line";
  ASSERT_TRUE(c.send_packet("qRcmd," + to_hex(reinterpret_cast<const std::uint8_t*>(cmd.data()), cmd.size())));
  c.read_until("$OK#");
  EXPECT_TRUE(log.has(": monitor echo a?error fake line")) << log.text();
}

TEST(ServerExposure, ConnectionsBeyondTheLimitAreRefusedWithAMessage) {
  LogCapture log;
  ServerOptions o;
  o.max_clients = 2;
  ServerRig rig(o);
  Client a(rig.port()), b(rig.port());
  ASSERT_TRUE(rig.wait_clients(2));
  Client c(rig.port());
  EXPECT_EQ(c.read_to_eof(), "+" + rsp_frame("E.tlpstub: too many gdb clients (2 connected, "
                                             "--max-clients 2); try again later"));
  EXPECT_TRUE(log.has("refused gdb connection from 127.0.0.1:")) << log.text();
  EXPECT_TRUE(log.has("2 clients connected (--max-clients 2)")) << log.text();
  // Once a client leaves, its slot is free again.
  a.close();
  ASSERT_TRUE(rig.wait_clients(1));
  Client d(rig.port());
  ASSERT_TRUE(d.send_packet("?"));
  EXPECT_NE(d.read_until("#").find("$T"), std::string::npos);
  EXPECT_EQ(rig.server().clients(), 2u);
}

// What an engineer sees in stock gdb when the room is full.
TEST(ServerExposure, GdbPrintsTheRefusal) {
  if (std::system("gdb --version >/dev/null 2>&1") != 0) {
    if (const char* ci = std::getenv("CI"); ci && std::string(ci) == "true")
      FAIL() << "gdb not installed (CI=true)";
    GTEST_SKIP() << "gdb not installed";
  }
  ServerOptions o;
  o.max_clients = 1;
  ServerRig rig(o);
  Client a(rig.port());
  ASSERT_TRUE(rig.wait_clients(1));
  const std::string out = run_gdb(rig.port(), {}, {}, 30);
  EXPECT_NE(out.find("Remote failure reply: E.tlpstub: too many gdb clients"), std::string::npos)
      << out;
}

TEST(ServerExposure, ListeningBeyondLoopbackWarns) {
  {
    LogCapture log;
    ServerRig rig;  // 127.0.0.1
    EXPECT_FALSE(log.has("not a loopback address")) << log.text();
  }
  LogCapture log;
  ServerOptions o;
  o.host = "0.0.0.0";
  ServerRig rig(o);
  EXPECT_TRUE(log.has("not a loopback address")) << log.text();
  EXPECT_TRUE(log.has("(no --allow given)")) << log.text();
}
