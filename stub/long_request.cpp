#include "stub/long_request.hpp"

#include <spdlog/spdlog.h>

#include "stub/handlers/handler.hpp"

namespace tlpstub::stub {

namespace {

constexpr char kInterruptByte = 0x03;
// gdb 13 gives up one getpkt after this many timeouts (remote.c MAX_TRIES) and starts the
// next one only if no Ctrl-C is pending.
constexpr int kGdbTries = 3;
constexpr std::chrono::milliseconds kFinishPoll{100};

}  // namespace

LongRequest::LongRequest(InputProbe& input, PacketFn send_packet, Options opts)
    : input_(input),
      send_packet_(std::move(send_packet)),
      opts_(std::move(opts)),
      first_flush_at_(SteadyClock::now() + opts_.first_flush) {}

// Inside a getpkt that has not returned: nothing sent yet since the request, or a '-' since
// the last packet, unless that '-' was the one after which gdb leaves its getpkt.
bool LongRequest::gdb_waits() const {
  if (opts_.ack_mode) return true;
  if (naks_ == 0) return !sent_any_;
  return naks_ % kGdbTries != 0;
}

void LongRequest::send(std::string payload) {
  ++packets_;
  sent_any_ = true;
  naks_ = 0;
  last_payload_ = payload;
  send_packet_(payload);
}

void LongRequest::poll() {
  if (abandoned_) return;
  PeekedInput in = input_.peek();
  std::size_t taken = 0;
  bool nak = false;
  for (; taken < in.bytes.size(); ++taken) {
    const char ch = in.bytes[taken];
    if (ch == '+') continue;
    if (ch == '-') {
      nak = true;
      if (!opts_.ack_mode) ++naks_;
      continue;
    }
    if (ch == kInterruptByte) {
      if (!interrupted_)
        spdlog::info("{}: ^C during a long monitor command: stopping it (no stop reply: gdb "
                     "did not resume the target)",
                     opts_.peer);
      interrupted_ = true;
      continue;
    }
    break;  // the start of gdb's next packet (or junk, which the session will judge)
  }
  if (taken) input_.discard(taken);
  if (taken < in.bytes.size() || (in.closed && taken == in.bytes.size())) {
    abandoned_ = true;
    why_ = taken < in.bytes.size() ? "gdb sent its next request" : "gdb closed the connection";
    return;
  }
  if (opts_.ack_mode && nak && !last_payload_.empty()) send_packet_(last_payload_);
  if (finishing_ || !gdb_waits()) return;
  // Each '-' is answered at once (with an empty `O` if there is no output: it prints
  // nothing), so gdb never reaches its third timeout while a command runs.
  const bool answer_nak = naks_ > 0;
  const bool flush = !buffer_.empty() && SteadyClock::now() >= first_flush_at_;
  if (!answer_nak && !flush) return;
  std::string payload = "O" + hex_of(buffer_);
  buffer_.clear();
  send(std::move(payload));
}

void LongRequest::output(std::string_view text) {
  if (abandoned_) return;
  buffer_.append(text);
  poll();
}

bool LongRequest::stop_requested() {
  poll();
  return abandoned_ || interrupted_;
}

bool LongRequest::finish() {
  finishing_ = true;
  for (;;) {
    poll();
    if (abandoned_) return false;
    if (gdb_waits()) break;
    input_.wait(kFinishPoll);
  }
  // gdb 13 rcmd: a reply that is neither `O...`, `OK` nor `Exx` is hex text that it prints
  // and that ends the command; hex digits are never 'O' or 'E', and the text is not empty.
  send(buffer_.empty() ? std::string("OK") : hex_of(buffer_));
  buffer_.clear();
  return true;
}

}  // namespace tlpstub::stub
