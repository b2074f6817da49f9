// A monitor command that may outlive gdb's 2 s `remotetimeout` (`dump`, `bt`, `ps` on
// thousands of tasks), and that stops when gdb moves on.
//
// What gdb 13 does while a qRcmd is outstanding (remote.c rcmd; observed with Debian gdb 13.1
// and a scripted stub, see README "Long monitor commands"):
//   - it loops on getpkt: an `O` packet is printed, `OK` (or other hex text, printed) ends it;
//   - a read that times out (2 s) writes '-' (no-ack mode too) and reads on; after 3 timeouts
//     in one getpkt it prints "Ignoring packet error, continuing..." and starts another;
//   - Ctrl-C sends nothing: gdb notes it, and throws "Quit" only once a read returns, i.e.
//     after the NEXT packet (or timeout) arrives. It then forgets the request: every packet
//     the stub sends from then on (until gdb's next request) is taken as the reply to gdb's
//     next request, and every later reply is off by one. Measured: a stub streaming `O`
//     packets every 0.3 s while the user paused 2 s after "Quit" broke `x` ("Invalid hex
//     digit 79") and shifted every reply after it.
// So a long request sends a packet only while gdb is known to sit inside a getpkt that has
// not returned yet: right after the request (one packet), and after each '-' gdb writes on a
// timeout (one packet each; not after a third '-', when gdb has left that getpkt). Output
// in between is buffered and goes out as one `O` packet per such chance, which also resets
// gdb's timeout. After a Ctrl-C gdb therefore reads exactly one more packet and quits, and
// nothing is left in its socket to misread.
//
// The request is abandoned when the connection holds anything but '+'/'-' (gdb's next
// request) or was closed: the command stops at its next check, and no reply and no further
// `O` packet is sent. A ^C (0x03) stops the command too; it is consumed here and answered
// with no stop reply (gdb waits for no stop: the target was not resumed). If gdb still
// waits (its next '-' comes), it gets the command's last output as the reply; if it moved on,
// it gets nothing.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "common/deadline.hpp"

namespace tlpstub::stub {

// What the connection holds that the session has not read, seen without consuming it.
struct PeekedInput {
  std::string bytes;    // a prefix of the unread input
  bool closed = false;  // the peer closed the connection, or it failed
};

// The connection's unread input (stub/server.cpp: recv with MSG_PEEK on the socket).
class InputProbe {
 public:
  virtual ~InputProbe() = default;
  virtual PeekedInput peek() = 0;
  // Drops the first n bytes; only bytes peek() returned (acks, '-', a ^C taken here).
  virtual void discard(std::size_t n) = 0;
  // Returns once input is pending or `timeout` has passed.
  virtual void wait(std::chrono::milliseconds timeout) = 0;
};

class LongRequest {
 public:
  using PacketFn = std::function<void(std::string_view payload)>;
  struct Options {
    bool ack_mode = false;  // before QStartNoAckMode gdb acks and drops stale packets itself
    // Output is held this long from the start, so a command that ends sooner sends all of
    // it in its one reply packet.
    std::chrono::milliseconds first_flush{1000};
    std::string peer = "gdb";
  };

  LongRequest(InputProbe& input, PacketFn send_packet, Options opts);

  // Console text of the command: buffered, sent while gdb is known to wait.
  void output(std::string_view text);
  // Checks the connection (call between steps): true once gdb moved on or sent ^C, and the
  // command should stop. Also sends buffered output when gdb is known to wait.
  bool stop_requested();
  bool abandoned() const { return abandoned_; }
  bool interrupted() const { return interrupted_; }
  // Sends the final reply (the remaining output as the reply's hex text, which gdb prints
  // and which ends the command, or "OK") once gdb is known to wait for it, however long
  // that takes. False, with nothing sent, if gdb moved on first.
  bool finish();
  // Why the request was abandoned, for the log.
  const std::string& why() const { return why_; }
  std::size_t packets_sent() const { return packets_; }

 private:
  void poll();
  bool gdb_waits() const;
  void send(std::string payload);

  InputProbe& input_;
  PacketFn send_packet_;
  Options opts_;
  Deadline first_flush_at_;
  std::string buffer_;
  std::string last_payload_;  // resent on '-' in ack mode
  bool sent_any_ = false;     // a packet went out since the request
  int naks_ = 0;              // '-' since the request or the last packet sent
  bool abandoned_ = false, interrupted_ = false, finishing_ = false;
  std::size_t packets_ = 0;
  std::string why_;
};

}  // namespace tlpstub::stub
