#include "stub/session.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "stub/handlers/handler.hpp"

namespace tlpstub::stub {

namespace {

// Smallest packet size we run with: qSupported and stop replies must always fit.
constexpr std::size_t kMinPacketSize = 256;
constexpr std::size_t kLogLimit = 200;
constexpr int kSigInt = 2;

std::string_view log_text(std::string_view s) { return s.substr(0, kLogLimit); }
const char* log_more(std::string_view s) { return s.size() > kLogLimit ? "..." : ""; }

}  // namespace

Session::Session(Target& target, SendFn send, SessionOptions opts, InputProbe* input)
    : target_(target),
      send_(std::move(send)),
      input_(input),
      opts_(std::move(opts)),
      decoder_(std::max(opts_.packet_size, kMinPacketSize)) {
  opts_.packet_size = std::max(opts_.packet_size, kMinPacketSize);
  ctx_ = std::make_unique<Context>(target_, opts_.packet_size,
                                   [this](std::string_view payload) { send_packet(payload); });
  ctx_->peer = opts_.peer;
  ctx_->input = input_;
}

Session::~Session() = default;

bool Session::closed() const { return closed_; }

void Session::feed(std::span<const std::uint8_t> bytes) {
  if (closed_) return;
  const std::vector<RspEvent> events = decoder_.feed(bytes);
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (closed_) return;
    // What gdb sent behind this event, acks aside: for a long monitor command, gdb's next
    // request (it has moved on).
    const std::size_t queued = static_cast<std::size_t>(
        std::count_if(events.begin() + static_cast<std::ptrdiff_t>(i) + 1, events.end(),
                      [](const RspEvent& e) {
                        return e.kind != RspEvent::Kind::ack && e.kind != RspEvent::Kind::nak;
                      }));
    on_event(events[i], queued);
  }
}

void Session::on_event(const RspEvent& ev, std::size_t queued) {
  if (ev.kind != RspEvent::Kind::interrupt && ev.kind != RspEvent::Kind::ack &&
      ev.kind != RspEvent::Kind::nak)
    ctx_->drop_next_interrupt = false;
  switch (ev.kind) {
    case RspEvent::Kind::packet:
      if (ack_mode_) send_raw("+");
      ctx_->ack_mode = ack_mode_;
      ctx_->queued_events = queued;
      return on_packet(ev.payload);
    case RspEvent::Kind::ack:
      return;
    case RspEvent::Kind::nak:
      // Without acks a '-' is not a resend request: gdb writes one each time its 2 s
      // `remotetimeout` passes while it still waits for our reply (remote.c, getpkt). Resending
      // the previous reply then would answer the request gdb sends next with stale bytes.
      if (!ack_mode_) {
        spdlog::debug("{}: '-' in no-ack mode (gdb timed out waiting): ignored", opts_.peer);
        return;
      }
      if (!last_frame_.empty()) send_raw(last_frame_);
      return;
    case RspEvent::Kind::interrupt:
      spdlog::trace("{} <- ^C", opts_.peer);
      // The ^C stopped a long monitor command that gdb has left: gdb waits for no stop
      // reply, so one now would answer its next request (stub/long_request.hpp).
      if (ctx_->drop_next_interrupt) {
        ctx_->drop_next_interrupt = false;
        spdlog::debug("{}: ^C behind an abandoned monitor command: no stop reply", opts_.peer);
        return;
      }
      return send_packet(ctx_->stop_reply(kSigInt, ctx_->stop_thread()));
    case RspEvent::Kind::bad_checksum:
      spdlog::debug("{}: bad checksum on '{}'{}", opts_.peer, log_text(ev.payload),
                    log_more(ev.payload));
      if (ack_mode_) send_raw("-");  // without acks there is no resend: drop it
      return;
    case RspEvent::Kind::overflow:
      // A NAK would only bring the same oversized packet back: accept it and refuse it.
      spdlog::debug("{}: packet longer than {} bytes", opts_.peer, opts_.packet_size);
      if (ack_mode_) send_raw("+");
      return send_packet(error_reply(Errc::malformed, "packet too long").payload);
  }
}

void Session::on_packet(std::string_view payload) {
  spdlog::trace("{} <- ${}{}", opts_.peer, log_text(payload), log_more(payload));
  target_.begin_request(SteadyClock::now() + opts_.reply_budget);
  std::string_view args;
  const Route* route = find_route(payload, args);
  Reply reply = route ? route->fn(*ctx_, args) : Reply::empty();
  if (reply.kind == Reply::Kind::packet) send_packet(reply.payload, reply.rle);
  if (reply.start_no_ack) ack_mode_ = false;
  if (reply.close) closed_ = true;
}

void Session::send_packet(std::string_view payload, bool rle) {
  spdlog::trace("{} -> ${}{}", opts_.peer, log_text(payload), log_more(payload));
  last_frame_ = rsp_frame(payload, rle);
  send_raw(last_frame_);
}

void Session::send_raw(std::string_view bytes) { send_(bytes); }

}  // namespace tlpstub::stub
