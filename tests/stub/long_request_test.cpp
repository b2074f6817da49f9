// Long monitor commands (stub/long_request.hpp): when a packet may go out (right after the
// request, and after each '-' gdb writes on a timeout, never after a third), and what a
// session does when gdb moves on mid-command: no reply for the abandoned request, the next
// request answered as if nothing happened, the command's partial file removed.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "fake_connection.hpp"
#include "session_harness.hpp"

namespace tlpstub::stub::testing {
namespace {

using namespace std::chrono_literals;

std::string frame(std::string_view payload) { return rsp_frame(payload); }

struct Sent {
  std::vector<std::string> packets;
  LongRequest::PacketFn fn() {
    return [this](std::string_view p) { packets.emplace_back(p); };
  }
};

LongRequest::Options now_opts(bool ack = false) {
  return {.ack_mode = ack, .first_flush = 0ms, .peer = "test"};
}

TEST(LongRequest, OnePacketRightAwayThenOnePerNak) {
  FakeConnection c;
  Sent s;
  LongRequest lr(c, s.fn(), now_opts());
  lr.output("a");  // gdb sits in the getpkt the request started: one packet may go
  lr.output("b");  // it may have quit after the first: held
  EXPECT_EQ(s.packets, std::vector<std::string>{"O61"});
  c.unread = "-";  // gdb timed out once in its next getpkt: it still waits
  EXPECT_FALSE(lr.stop_requested());
  EXPECT_EQ(s.packets, (std::vector<std::string>{"O61", "O62"}));
  c.unread = "-";  // answered even with nothing to say, so gdb never times out thrice
  EXPECT_FALSE(lr.stop_requested());
  EXPECT_EQ(s.packets.back(), "O");
  EXPECT_EQ(c.discarded, "--");
}

TEST(LongRequest, ThirdNakMeansGdbLeftItsGetpkt) {
  FakeConnection c;
  Sent s;
  LongRequest lr(c, s.fn(), now_opts());
  lr.output("a");
  // A long step: three timeouts pile up. After the third gdb 13 prints "Ignoring packet
  // error, continuing..." and leaves that getpkt (and quits there if Ctrl-C was pressed).
  c.unread = "---";
  lr.output("b");
  EXPECT_EQ(s.packets.size(), 1u);
  c.unread = "-";  // the first timeout of its next getpkt: it waits again
  EXPECT_FALSE(lr.stop_requested());
  EXPECT_EQ(s.packets, (std::vector<std::string>{"O61", "O62"}));
}

TEST(LongRequest, FinishSendsTheRestAsTheReplyOrOk) {
  FakeConnection c;
  Sent s;
  LongRequest lr(c, s.fn(), {.first_flush = 1h});
  lr.output("hi\n");
  EXPECT_TRUE(s.packets.empty());  // held: a command that ends soon sends one packet
  EXPECT_TRUE(lr.finish());
  EXPECT_EQ(s.packets, std::vector<std::string>{"68690a"});  // gdb prints hex text and ends

  FakeConnection c2;
  Sent s2;
  LongRequest quiet(c2, s2.fn(), now_opts());
  EXPECT_TRUE(quiet.finish());
  EXPECT_EQ(s2.packets, std::vector<std::string>{"OK"});
}

TEST(LongRequest, FinishWaitsForGdbToShowItStillWaits) {
  FakeConnection c;
  Sent s;
  LongRequest lr(c, s.fn(), now_opts());
  lr.output("a");
  lr.output("b");
  c.arrive_at_peek(5, "-");
  EXPECT_TRUE(lr.finish());
  EXPECT_EQ(s.packets, (std::vector<std::string>{"O61", "62"}));
  EXPECT_EQ(c.waits, 2);
}

TEST(LongRequest, NextRequestAbandonsAndIsLeftForTheSession) {
  FakeConnection c;
  Sent s;
  LongRequest lr(c, s.fn(), now_opts());
  lr.output("a");
  c.unread = "-$m10000,4#8d";
  lr.output("b");
  EXPECT_TRUE(lr.stop_requested());
  EXPECT_TRUE(lr.abandoned());
  EXPECT_FALSE(lr.finish());
  EXPECT_EQ(s.packets, std::vector<std::string>{"O61"});  // nothing after gdb moved on
  EXPECT_EQ(c.unread, "$m10000,4#8d");                    // the session reads it next
  EXPECT_EQ(lr.why(), "gdb sent its next request");
}

TEST(LongRequest, ClosedConnectionAbandons) {
  FakeConnection c;
  Sent s;
  LongRequest lr(c, s.fn(), now_opts());
  c.closed = true;
  EXPECT_TRUE(lr.stop_requested());
  EXPECT_FALSE(lr.finish());
  EXPECT_TRUE(s.packets.empty());
  EXPECT_EQ(lr.why(), "gdb closed the connection");
}

TEST(LongRequest, InterruptStopsTheCommandAndIsTakenHere) {
  FakeConnection c;
  Sent s;
  LongRequest lr(c, s.fn(), now_opts());
  lr.output("a");
  c.unread = "\x03";
  EXPECT_TRUE(lr.stop_requested());
  EXPECT_TRUE(lr.interrupted());
  EXPECT_FALSE(lr.abandoned());
  EXPECT_EQ(c.unread, "");
  lr.output("stopped\n");
  c.arrive_at_peek(c.peeks + 2, "-");  // gdb still waits: it gets the last words
  EXPECT_TRUE(lr.finish());
  EXPECT_EQ(s.packets, (std::vector<std::string>{"O61", hex_of("stopped\n")}));
}

TEST(LongRequest, AckModeStreamsFreely) {
  // Before QStartNoAckMode gdb drops stale packets itself (it reads until the '+' for its
  // next packet): no need to wait for a '-'.
  FakeConnection c;
  Sent s;
  LongRequest lr(c, s.fn(), now_opts(true));
  lr.output("a");
  c.unread = "+";
  lr.output("b");
  EXPECT_TRUE(lr.finish());
  EXPECT_EQ(s.packets, (std::vector<std::string>{"O61", "O62", "OK"}));
  EXPECT_EQ(c.discarded, "+");
}

// A Session on a FakeConnection, pumped like stub/server.cpp: whatever gdb wrote and the
// session has not read is fed to it, until nothing is left.
class LongSession {
 public:
  LongSession() : session_(target, [this](std::string_view b) { out.append(b); }, {}, &conn) {
    gdb_writes("$QStartNoAckMode#b0");
    out.clear();
    // steps N [PATH]: N steps of output, checking for gdb between steps; PATH is written
    // first and removed when stopped (as `monitor dump` does with its partial file).
    MonitorCommand steps{
        "steps", "steps N [PATH]", "a long command",
        [this](const MonitorArgs& a, const OutputFn& o) -> Result<void> {
          const int n = std::stoi(std::string(a.words.at(0)));
          const std::string path = a.words.size() > 1 ? std::string(a.words[1]) : "";
          if (!path.empty()) std::ofstream(path) << "partial";
          for (int i = 0; i < n; ++i) {
            if (a.stop_requested()) {
              if (!path.empty()) std::filesystem::remove(path);
              stopped_at = i;
              return fail(Errc::deadline, fmt::format("steps: stopped at {}", i));
            }
            o(fmt::format("step {}\n", i));
          }
          return {};
        },
        1, 2};
    steps.long_running = true;
    target.monitor_.add(std::move(steps));
  }

  std::string gdb_writes(std::string_view bytes) {
    out.clear();
    conn.unread += bytes;
    while (!conn.unread.empty()) {
      std::string b = std::move(conn.unread);
      conn.unread.clear();
      session_.feed(std::span(reinterpret_cast<const std::uint8_t*>(b.data()), b.size()));
    }
    return out;
  }

  FakeTarget target;
  FakeConnection conn;
  std::string out;
  int stopped_at = -1;

 private:
  Session session_;
};

const std::string kRead = frame("m10000,4");  // gdb's next request
const std::string kReadReply = frame("00010203");

TEST(LongSession, ShortRunIsOnePacket) {
  LongSession h;
  EXPECT_EQ(h.gdb_writes(frame("qRcmd," + hex_of("steps 2"))),
            frame(hex_of("step 0\nstep 1\n")));
  EXPECT_EQ(h.gdb_writes(kRead), kReadReply);
}

TEST(LongSession, NextRequestMidCommandGetsTheOnlyReplyAndTheFileIsRemoved) {
  LongSession h;
  const std::string path =
      (std::filesystem::temp_directory_path() / fmt::format("longcmd-{}", ::getpid())).string();
  h.conn.arrive_at_peek(50, kRead);
  const std::string out = h.gdb_writes(frame("qRcmd," + hex_of("steps 100000 " + path)));
  // No reply (and no `O`) for the abandoned request: the read's reply is all gdb gets.
  EXPECT_EQ(out, kReadReply);
  EXPECT_GT(h.stopped_at, 0);
  EXPECT_LT(h.stopped_at, 100000);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(h.gdb_writes(frame("qRcmd," + hex_of("steps 1"))), frame(hex_of("step 0\n")));
}

TEST(LongSession, InterruptThenNextRequestGetsNoStopReply) {
  LongSession h;
  h.conn.arrive_at_peek(20, "\x03" + kRead);
  EXPECT_EQ(h.gdb_writes(frame("qRcmd," + hex_of("steps 100000"))), kReadReply);
  EXPECT_GT(h.stopped_at, 0);
}

TEST(LongSession, InterruptWhileGdbStillWaitsEndsTheCommandWithItsMessage) {
  LongSession h;
  h.conn.arrive_at_peek(5, "\x03");  // two peeks per step: before it, and at its output
  const std::string out = h.gdb_writes(frame("qRcmd," + hex_of("steps 100000")));
  EXPECT_EQ(h.stopped_at, 2);
  EXPECT_EQ(out, frame(hex_of("step 0\nstep 1\nerror: steps: stopped at 2\n")));
  EXPECT_EQ(h.gdb_writes(kRead), kReadReply);
}

TEST(LongSession, RequestQueuedBehindInTheSameReadAbandonsAtOnce) {
  LongSession h;
  EXPECT_EQ(h.gdb_writes(frame("qRcmd," + hex_of("steps 100000")) + "\x03" + kRead),
            kReadReply);
  EXPECT_EQ(h.stopped_at, 0);
}

TEST(LongSession, ClosedConnectionGetsNothing) {
  LongSession h;
  h.conn.close_at_peek(5);
  EXPECT_EQ(h.gdb_writes(frame("qRcmd," + hex_of("steps 100000"))), "");
  EXPECT_GT(h.stopped_at, 0);
}

TEST(LongSession, ShortCommandsKeepStreamingAsBefore) {
  LongSession h;
  EXPECT_EQ(h.gdb_writes(frame("qRcmd," + hex_of("echo hi"))), "$O6869200a#1f$OK#9a");
}

}  // namespace
}  // namespace tlpstub::stub::testing
