// qRcmd: streamed O packets, then OK.
#include <gtest/gtest.h>

#include "session_harness.hpp"

namespace tlpstub::stub::testing {
namespace {

std::string o(std::string_view text) { return rsp_frame("O" + hex_of(text)); }

TEST(Rcmd, StreamsOutputThenOk) {
  Harness h;
  // "monitor echo hi"
  EXPECT_EQ(h.ask("qRcmd," + hex_of("echo hi")), "$O6869200a#1f$OK#9a");
}

TEST(Rcmd, EmptyCommandShowsHelp) {
  Harness h;
  std::string help = h.target.monitor_.help_text();
  EXPECT_EQ(h.ask("qRcmd,"), o(help) + "$OK#9a");
  EXPECT_EQ(h.ask("qRcmd," + hex_of("help")), o(help) + "$OK#9a");
}

TEST(Rcmd, FailurePrintsTheMessageAndKeepsTheSession) {
  Harness h;
  EXPECT_EQ(h.ask("qRcmd," + hex_of("fail")),
            o("partial output\n") + o("error: fail was asked to fail\n") + "$OK#9a");
  EXPECT_EQ(h.ask("qRcmd," + hex_of("nosuch")),
            o("error: unknown monitor command 'nosuch'; try 'monitor help'\n") + "$OK#9a");
}

TEST(Rcmd, LongOutputIsSplitToFitThePacketSize) {
  Harness h({.packet_size = 256});
  std::string out = h.ask("qRcmd," + hex_of("big 1000"));
  std::string text;
  int packets = 0;
  for (std::size_t p = 0; (p = out.find('$', p)) != std::string::npos; ++p) {
    std::size_t end = out.find('#', p) + 3;
    std::string payload = gdb_unframe(out.substr(p, end - p));
    ASSERT_LE(payload.size(), 256u);
    if (payload == "OK") break;
    ASSERT_EQ(payload[0], 'O');
    auto bytes = from_hex(payload.substr(1));
    ASSERT_TRUE(bytes);
    text += *bytes;
    ++packets;
  }
  EXPECT_EQ(text.size(), 1000u);
  EXPECT_EQ(packets, 8);  // 127 bytes each
  EXPECT_TRUE(out.ends_with("$OK#9a"));
}

TEST(Rcmd, BadHexIsE01) {
  Harness h;
  EXPECT_EQ(h.ask("qRcmd,zz"), "$E01#a6");
  EXPECT_EQ(h.ask("qRcmd,123"), "$E01#a6");
}

TEST(Rcmd, AttachMessageShowsOnceBeforeTheFirstOutput) {
  Harness h;
  h.target.attach_message_ = "discovery still running";
  EXPECT_EQ(h.ask("qRcmd," + hex_of("echo a")),
            o("discovery still running\n") + o("a \n") + "$OK#9a");
  EXPECT_EQ(h.ask("qRcmd," + hex_of("echo a")), o("a \n") + "$OK#9a");
}

}  // namespace
}  // namespace tlpstub::stub::testing
