#include "stub/packet_codec.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace tlpstub::stub {

namespace {

int hex_digit(std::uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr std::uint8_t kInterrupt = 0x03;

}  // namespace

Decoder::Decoder(std::size_t max_payload) : max_payload_(max_payload) {}

std::vector<RspEvent> Decoder::feed(std::string_view bytes) {
  return feed(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

std::vector<RspEvent> Decoder::feed(std::span<const std::uint8_t> bytes) {
  std::vector<RspEvent> out;
  for (std::uint8_t c : bytes) step(c, out);
  return out;
}

void Decoder::start_packet() {
  state_ = State::payload;
  payload_.clear();
  raw_size_ = 0;
  sum_ = 0;
  received_sum_ = 0;
}

void Decoder::finish(std::vector<RspEvent>& out) {
  auto kind = received_sum_ == sum_ ? RspEvent::Kind::packet : RspEvent::Kind::bad_checksum;
  out.push_back({kind, std::move(payload_)});
  payload_.clear();
  state_ = State::idle;
}

void Decoder::step(std::uint8_t c, std::vector<RspEvent>& out) {
  switch (state_) {
    case State::idle:
      return step_idle(c, out);
    case State::payload:
    case State::escape:
      return step_payload(c);
    case State::checksum1:
      received_sum_ = hex_digit(c) < 0 ? -1 : hex_digit(c) << 4;
      state_ = State::checksum2;
      return;
    case State::checksum2:
      received_sum_ = (received_sum_ < 0 || hex_digit(c) < 0) ? -1 : received_sum_ | hex_digit(c);
      return finish(out);
    case State::discard:
    case State::discard_checksum:
      return step_discard(c, out);
  }
}

void Decoder::step_idle(std::uint8_t c, std::vector<RspEvent>& out) {
  if (c == '$') return start_packet();
  if (c == '+') return out.push_back({RspEvent::Kind::ack, {}});
  if (c == '-') return out.push_back({RspEvent::Kind::nak, {}});
  if (c == kInterrupt) return out.push_back({RspEvent::Kind::interrupt, {}});
  // anything else between packets is noise
}

void Decoder::step_payload(std::uint8_t c) {
  if (c == '$') return start_packet();  // the unfinished packet is abandoned
  if (c == '#') {                       // a dangling '}' before '#' is dropped
    state_ = State::checksum1;
    return;
  }
  if (++raw_size_ > max_payload_) {
    payload_.clear();
    payload_.shrink_to_fit();
    state_ = State::discard;
    return;
  }
  sum_ = static_cast<std::uint8_t>(sum_ + c);
  if (state_ == State::escape) {
    payload_.push_back(static_cast<char>(c ^ 0x20));
    state_ = State::payload;
  } else if (c == '}') {
    state_ = State::escape;
  } else {
    payload_.push_back(static_cast<char>(c));
  }
}

// An oversized packet: skip to its checksum (or to the next '$') and report it once.
void Decoder::step_discard(std::uint8_t c, std::vector<RspEvent>& out) {
  if (state_ == State::discard_checksum) {
    if (++discard_digits_ == 2) {
      out.push_back({RspEvent::Kind::overflow, {}});
      state_ = State::idle;
    }
  } else if (c == '$') {
    out.push_back({RspEvent::Kind::overflow, {}});
    start_packet();
  } else if (c == '#') {
    discard_digits_ = 0;
    state_ = State::discard_checksum;
  }
}

std::uint8_t rsp_checksum(std::string_view raw) {
  std::uint8_t sum = 0;
  for (char c : raw) sum = static_cast<std::uint8_t>(sum + static_cast<std::uint8_t>(c));
  return sum;
}

std::string rsp_escape(std::string_view payload) {
  std::string out;
  out.reserve(payload.size());
  for (char c : payload) {
    if (c == '$' || c == '#' || c == '}' || c == '*') {
      out.push_back('}');
      out.push_back(static_cast<char>(c ^ 0x20));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

namespace {

// Copies of one byte sent as "X*n": n = copies - 1 + 29 must be printable (32..126) and not
// '#' or '$' (manual, "Debugging with GDB", appendix E.1). We also avoid '}' as a count so that
// a client that unescapes before expanding cannot misread it.
std::size_t rle_take(std::size_t copies) {
  std::size_t take = std::min<std::size_t>(copies, 98);
  if (take == 7 || take == 8) take = 6;  // counts '#' and '$'
  if (take == 97) take = 96;             // count '}'
  return take;
}

void append_run(std::string& out, char c, std::size_t copies) {
  while (copies >= 4) {
    std::size_t take = rle_take(copies);
    out.push_back(c);
    out.push_back('*');
    out.push_back(static_cast<char>(take - 1 + 29));
    copies -= take;
  }
  out.append(copies, c);
}

}  // namespace

std::string rsp_rle(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '}') {  // an escape pair is copied as is
      out.append(s.substr(i, 2));
      i += 2;
      continue;
    }
    std::size_t j = i + 1;
    while (j < s.size() && s[j] == s[i]) ++j;
    append_run(out, s[i], j - i);
    i = j;
  }
  return out;
}

std::string rsp_frame(std::string_view payload, bool rle) {
  std::string body = rsp_escape(payload);
  if (rle) body = rsp_rle(body);
  return fmt::format("${}#{:02x}", body, rsp_checksum(body));
}

}  // namespace tlpstub::stub
