// RSP framing with no I/O: a byte-fed decoder for what gdb sends and an encoder for what we
// reply. Both are pure and never abort on any input (fuzz/rsp_decoder_fuzz.cpp).
//
//   $ <payload> # <c1><c2>      c1c2 = sum of the raw payload bytes mod 256, two hex digits
//   +  -                        ack / nak (only until QStartNoAckMode)
//   0x03                        interrupt request, outside a packet
//
// In the payload, '}' escapes the next byte (byte ^ 0x20); '$', '#', '}' and '*' are always
// escaped by the sender. "X*n" is run-length encoding: X then (n - 29) more copies of X.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tlpstub::stub {

struct RspEvent {
  enum class Kind {
    packet,        // a well-formed packet; payload is unescaped
    ack,           // '+'
    nak,           // '-'
    interrupt,     // 0x03 outside a packet
    bad_checksum,  // payload (unescaped) whose checksum did not match: NAK it
    overflow,      // a packet longer than the decoder accepts; its bytes were discarded
  };
  Kind kind;
  std::string payload;  // packet and bad_checksum only

  bool operator==(const RspEvent&) const = default;
};

// Byte-fed packet decoder. Bytes outside packets other than '+', '-', 0x03 and '$' are
// skipped. A '$' inside a packet abandons the unfinished one (gdb resynchronizes that way).
// The payload keeps '*' literally: gdb never run-length encodes what it sends.
class Decoder {
 public:
  // max_payload: the largest raw (escaped) payload accepted, i.e. our advertised PacketSize.
  explicit Decoder(std::size_t max_payload = 0x20000);

  // Feeds one chunk; returns the events completed by it, in order. A packet may span any
  // number of chunks.
  std::vector<RspEvent> feed(std::span<const std::uint8_t> bytes);
  std::vector<RspEvent> feed(std::string_view bytes);

 private:
  enum class State { idle, payload, escape, checksum1, checksum2, discard, discard_checksum };
  void step(std::uint8_t c, std::vector<RspEvent>& out);
  void step_idle(std::uint8_t c, std::vector<RspEvent>& out);
  void step_payload(std::uint8_t c);
  void step_discard(std::uint8_t c, std::vector<RspEvent>& out);
  void start_packet();
  void finish(std::vector<RspEvent>& out);

  std::size_t max_payload_;
  State state_ = State::idle;
  std::string payload_;       // unescaped so far
  std::size_t raw_size_ = 0;  // escaped bytes so far
  std::uint8_t sum_ = 0;      // running checksum of raw bytes
  int received_sum_ = 0;      // from the two digits after '#', -1 if not hex
  int discard_digits_ = 0;
};

// Sum of the bytes mod 256.
std::uint8_t rsp_checksum(std::string_view raw);

// Escapes '$', '#', '}' and '*' as '}' (byte ^ 0x20).
std::string rsp_escape(std::string_view payload);

// Run-length encodes an already-escaped payload. Escape pairs are left alone (gdb expands
// runs before it unescapes, so a run must never repeat the second byte of a pair). Runs of
// 4..98 copies become "X*n" with n = copies - 1 + 29; n is never '#' (35) or '$' (36): runs
// of 7 and 8 are shortened to 6 and the rest sent plainly.
std::string rsp_rle(std::string_view escaped);

// A complete frame "$<payload>#cs" with escapes and, if rle, run-length compression.
std::string rsp_frame(std::string_view payload, bool rle = false);

}  // namespace tlpstub::stub
