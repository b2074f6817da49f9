// Session-level protocol: acks, resends, no-ack mode, interrupts, overflow, closing.
#include <gtest/gtest.h>

#include "session_harness.hpp"

namespace tlpstub::stub::testing {
namespace {

TEST(Session, AcksEachPacketUntilNoAckMode) {
  Harness h({}, /*ack_mode=*/true);
  EXPECT_EQ(h.raw("$vMustReplyEmpty#3a"), "+$#00");
  // QStartNoAckMode is still acked, and so is its OK by gdb ('+' is ignored).
  EXPECT_EQ(h.raw("$QStartNoAckMode#b0"), "+$OK#9a");
  EXPECT_EQ(h.raw("+"), "");
  EXPECT_EQ(h.raw("$vMustReplyEmpty#3a"), "$#00");
}

TEST(Session, ResendsLastPacketOnNak) {
  Harness h({}, true);
  EXPECT_EQ(h.raw("$qAttached#8f"), "+$1#31");
  EXPECT_EQ(h.raw("-"), "$1#31");
  EXPECT_EQ(h.raw("-"), "$1#31");
}

// gdb 13 writes '-' each time its remotetimeout passes, in no-ack mode too, and then keeps
// waiting. A resend there would be read as the reply to gdb's NEXT request: the wrong-bytes
// defect of issue 7 (a 64 KiB block answered with the previous block).
TEST(Session, NakInNoAckModeIsIgnored) {
  Harness h;  // no-ack mode
  EXPECT_EQ(h.raw("$qAttached#8f"), "$1#31");
  EXPECT_EQ(h.raw("-"), "");
  EXPECT_EQ(h.raw("$vMustReplyEmpty#3a-"), "$#00");
  EXPECT_EQ(h.raw("$qAttached#8f"), "$1#31");
}

TEST(Session, EveryRequestGetsADeadlineFromItsBudget) {
  Harness h({.reply_budget = std::chrono::milliseconds(700)});
  const auto before = SteadyClock::now();
  h.reply("qAttached");
  const auto after = SteadyClock::now();
  EXPECT_GE(h.target.deadline, before + std::chrono::milliseconds(700));
  EXPECT_LE(h.target.deadline, after + std::chrono::milliseconds(700));
}

TEST(Session, NakWithNothingSentIsIgnored) {
  Harness h({}, true);
  EXPECT_EQ(h.raw("-"), "");
}

TEST(Session, BadChecksumIsNakedInAckModeAndDroppedOtherwise) {
  Harness acked({}, true);
  EXPECT_EQ(acked.raw("$qAttached#00"), "-");
  EXPECT_EQ(acked.raw("$qAttached#8f"), "+$1#31");
  Harness h;
  EXPECT_EQ(h.raw("$qAttached#00"), "");
}

TEST(Session, InterruptGivesSigintStopReply) {
  Harness h;
  EXPECT_EQ(h.raw("\x03"), "$T02thread:1;#d4");
  Harness acked({}, true);
  EXPECT_EQ(acked.raw("\x03"), "$T02thread:1;#d4");  // not a packet: no ack
}

TEST(Session, OversizedPacketIsAckedAndRefused) {
  Harness h({.packet_size = 256}, true);
  EXPECT_EQ(h.raw("$" + std::string(300, 'q') + "#00"), "+$E01#a6");
  EXPECT_EQ(h.raw("$qAttached#8f"), "+$1#31");
}

TEST(Session, PacketsSplitAcrossFeeds) {
  Harness h;
  EXPECT_EQ(h.raw("$qAtt"), "");
  EXPECT_EQ(h.raw("ached#8"), "");
  EXPECT_EQ(h.raw("f$qAttached#8f$qAt"), "$1#31$1#31");
  EXPECT_EQ(h.raw("tached#8f"), "$1#31");
}

TEST(Session, GarbageBetweenPacketsIsSkipped) {
  Harness h;
  EXPECT_EQ(h.raw("hello\r\n$qAttached#8f\xff\xfe"), "$1#31");
}

TEST(Session, BeginRequestBeforeEachPacket) {
  Harness h;
  int before = h.target.requests;
  h.raw("$qAttached#8f$qAttached#8f+\x03");
  EXPECT_EQ(h.target.requests, before + 2);
}

TEST(Session, UnknownPacketsGetEmptyReply) {
  Harness h;
  for (std::string_view p :
       {"qFooBar", "qCRC:0,4", "vFile:setfs:0", "QAllow:WriteReg:1", "QPassSignals:e",
        "qGetTLSAddr:1,0,0", "Qbtrace:off", "!", "i", "bc", "qMemTags:0,4:1", "vStopped", "", "~"})
    EXPECT_EQ(h.ask(p), "$#00") << p;
}

TEST(Session, DetachRepliesThenCloses) {
  Harness h;
  EXPECT_EQ(h.ask("D"), "$OK#9a");
  EXPECT_TRUE(h.closed());
  EXPECT_EQ(h.ask("qAttached"), "");  // nothing after close
}

TEST(Session, DetachWithPid) {
  Harness h;
  EXPECT_EQ(h.reply("D;1"), "OK");
  EXPECT_TRUE(h.closed());
}

TEST(Session, KillClosesWithoutReply) {
  Harness h;
  EXPECT_EQ(h.raw("$k#6b$qAttached#8f"), "");
  EXPECT_TRUE(h.closed());
}

TEST(Session, VKillRepliesThenCloses) {
  Harness h;
  EXPECT_EQ(h.reply("vKill;1"), "OK");
  EXPECT_TRUE(h.closed());
}

TEST(Session, TinyPacketSizeIsRaisedToTheMinimum) {
  Harness h({.packet_size = 1});
  EXPECT_EQ(h.reply("qSupported"),
            "PacketSize=100;qXfer:features:read+;qXfer:threads:read+;QStartNoAckMode+");
}

}  // namespace
}  // namespace tlpstub::stub::testing
