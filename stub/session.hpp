// One gdb connection's protocol state, with no I/O: the server feeds received bytes and
// Session writes every reply through SendFn. Handles framing, acks (until QStartNoAckMode),
// resends on '-', interrupts, and dispatches each packet to its family's handler
// (stub/handlers/).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "stub/long_request.hpp"
#include "stub/packet_codec.hpp"
#include "stub/target.hpp"

namespace tlpstub::stub {

class Context;
struct Reply;

struct SessionOptions {
  std::size_t packet_size = 0x20000;  // PacketSize we advertise (and the largest we accept)
  std::string peer = "gdb";           // for logs
  // Time from a request's arrival to its reply's deadline. gdb 13 waits 2 s (`remotetimeout`)
  // and then writes '-' and waits again; a reply that comes after that is taken as the answer
  // to its NEXT request (shared/facts/gdb-rsp.md). 1.5 s leaves room to encode and send.
  std::chrono::milliseconds reply_budget{1500};
};

class Session {
 public:
  using SendFn = std::function<void(std::string_view bytes)>;  // writes raw bytes to the peer

  // `input` sees the connection's unread bytes (the server's socket): a long monitor command
  // stops when gdb moves on (stub/long_request.hpp). Without it, long commands run to
  // their end.
  Session(Target& target, SendFn send, SessionOptions opts = {}, InputProbe* input = nullptr);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Handles every complete packet in `bytes` (partial packets wait for the next call).
  void feed(std::span<const std::uint8_t> bytes);
  // True after 'k', after 'D' was replied to, etc.: the server should close the connection.
  bool closed() const;

 private:
  void on_event(const RspEvent& ev, std::size_t queued);
  void on_packet(std::string_view payload);
  void send_packet(std::string_view payload, bool rle = false);
  void send_raw(std::string_view bytes);

  Target& target_;
  SendFn send_;
  InputProbe* input_;
  SessionOptions opts_;
  Decoder decoder_;
  std::unique_ptr<Context> ctx_;
  bool ack_mode_ = true;
  bool closed_ = false;
  std::string last_frame_;  // resent on '-'
};

}  // namespace tlpstub::stub
