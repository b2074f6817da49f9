// Drives a Session over a FakeTarget in memory and returns exactly the bytes it wrote.
#pragma once

#include <string>
#include <string_view>

#include "common/parse.hpp"
#include "fake_target.hpp"
#include "stub/handlers/handler.hpp"
#include "stub/packet_codec.hpp"
#include "stub/session.hpp"

namespace tlpstub::stub::testing {

// What gdb does with a frame it receives (gdb 13 remote.c read_frame, then the packet's own
// unescaping): checks the checksum, expands "X*n" runs, then undoes '}' escapes. Returns
// the payload, or "<bad frame>".
inline std::string gdb_unframe(std::string_view frame) {
  if (frame.size() < 4 || frame[0] != '$' || frame[frame.size() - 3] != '#') return "<bad frame>";
  std::string_view body = frame.substr(1, frame.size() - 4);
  if (fmt::format("{:02x}", rsp_checksum(body)) != frame.substr(frame.size() - 2))
    return "<bad frame>";
  std::string expanded;
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '*' && !expanded.empty() && i + 1 < body.size()) {
      expanded.append(static_cast<std::size_t>(body[i + 1] - 29), expanded.back());
      ++i;
    } else {
      expanded += body[i];
    }
  }
  std::string out;
  for (std::size_t i = 0; i < expanded.size(); ++i)
    out += expanded[i] == '}' && i + 1 < expanded.size() ? static_cast<char>(expanded[++i] ^ 0x20)
                                                         : expanded[i];
  return out;
}

class Harness {
 public:
  explicit Harness(SessionOptions opts = {}, bool ack_mode = false)
      : session_(
            target, [this](std::string_view b) { out_.append(b); }, std::move(opts)) {
    if (!ack_mode) raw("$QStartNoAckMode#b0");
  }

  // Feeds raw bytes; returns what the session wrote in response.
  std::string raw(std::string_view bytes) {
    out_.clear();
    session_.feed(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
    return out_;
  }
  // Sends one packet; returns the raw reply bytes.
  std::string ask(std::string_view payload) { return raw(rsp_frame(payload)); }
  // Sends one packet; returns the reply payload as gdb would see it (one frame expected).
  std::string reply(std::string_view payload) { return gdb_unframe(ask(payload)); }
  bool closed() const { return session_.closed(); }

  FakeTarget target;

 private:
  std::string out_;
  Session session_;
};

}  // namespace tlpstub::stub::testing
