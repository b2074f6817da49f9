// NetTLP wire codec: pure functions, no I/O (facts: shared/facts/nettlp.md).
//
// A NetTLP datagram is the UDP payload:
//
//   +--------+------------+------------------------------------------+
//   | seq 16 | tstamp 32  | TLP (big-endian dwords)                  |
//   +--------+------------+------------------------------------------+
//    0        2            6
//
// MRd, 3DW (address < 4 GiB) / 4DW (address >= 4 GiB):
//
//   DW0 | fmt/type 0x00|0x20 | TC   | TD EP Attr AT Len[9:8] | Len[7:0] |
//   DW1 | requester ID (bus<<8|devfn)  | tag  | LastBE<<4 | FirstBE     |
//   DW2 | address[31:2] << 2                  (4DW: address[63:32])     |
//   DW3 |                                     (4DW: address[31:2] << 2) |
//
// Cpl (0x0A, no data) / CplD (0x4A):
//
//   DW0 | fmt/type | TC | TD EP Attr Len[9:8] | Len[7:0] |
//   DW1 | completer ID | status[7:5] BCM[4] BC[11:8] | BC[7:0] |
//   DW2 | requester ID | tag | R | lower address[6:0]  |
//   payload: Len dwords; data begins at (lower address & 3)
//
// The codec deliberately has no memory-write builder: tlpstub never writes target memory, and
// nothing reachable from the client can produce an MWr.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace tlpstub::tlp {

inline constexpr std::size_t kNetTlpHeaderSize = 6;
inline constexpr std::uint16_t kTagPortBase = 0x3000;  // request with tag T uses 0x3000 + T
inline constexpr std::uint32_t kDefaultMrrs = 512;
inline constexpr std::uint32_t kMaxPayload = 4096;
inline constexpr std::size_t kMrd3Size = kNetTlpHeaderSize + 12;
inline constexpr std::size_t kMrd4Size = kNetTlpHeaderSize + 16;
inline constexpr std::size_t kCplHeaderSize = kNetTlpHeaderSize + 12;
inline constexpr std::size_t kMaxDatagram = kCplHeaderSize + kMaxPayload + 4;  // + ECRC

// fmt/type byte values.
enum : std::uint8_t {
  kMRd32 = 0x00,
  kMRd64 = 0x20,
  kMWr32 = 0x40,
  kMWr64 = 0x60,
  kCpl = 0x0A,
  kCplD = 0x4A,
};

enum class CplStatus : std::uint8_t { sc = 0, ur = 1, crs = 2, ca = 4 };

// "BB:DD.F" (hex bus, hex device < 32, function < 8) -> bus<<8 | dev<<3 | fn.
Result<std::uint16_t> parse_bdf(std::string_view s);
std::string format_bdf(std::uint16_t id);

struct NetTlpHeader {
  std::uint16_t seq = 0;
  std::uint32_t tstamp = 0;
};
void encode_nettlp_header(const NetTlpHeader& h, std::span<std::uint8_t, kNetTlpHeaderSize> out);
NetTlpHeader decode_nettlp_header(std::span<const std::uint8_t, kNetTlpHeaderSize> in);

// ---- Requests -------------------------------------------------------------------------------

// One read request: [addr, addr+len), 1 <= len, fits in one MRd (see next_chunk).
struct MrdParams {
  std::uint64_t addr = 0;
  std::uint32_t len = 0;
  std::uint16_t requester = 0;
  std::uint8_t tag = 0;
};

struct Frame {
  std::array<std::uint8_t, kMrd4Size> bytes{};
  std::size_t size = 0;
  std::span<const std::uint8_t> view() const { return {bytes.data(), size}; }
};

// First BE, Last BE and Length (dwords) of a read of [addr, addr+len).
struct ByteEnables {
  std::uint8_t first = 0;
  std::uint8_t last = 0;
  std::uint32_t length_dw = 0;
};
ByteEnables byte_enables(std::uint64_t addr, std::uint32_t len);

// NetTLP header (zeros) + MRd. 3DW when addr < 4 GiB, else 4DW. Precondition: the request is a
// valid chunk (1..4096 bytes, does not cross a 4 KiB boundary); asserted in debug builds.
Frame encode_mrd(const MrdParams& p);

// Length of the next MRd of a read starting at `addr` with `remaining` bytes: at most `mrrs`
// (a power of two, 4..4096) and ending at or before the next multiple of `mrrs`, so that it
// never spans more than mrrs bytes of dwords nor crosses a 4 KiB boundary.
std::uint32_t next_chunk(std::uint64_t addr, std::uint64_t remaining, std::uint32_t mrrs);
bool valid_mrrs(std::uint32_t mrrs);

// A request TLP as the adapter (tlpsim) sees it.
struct RequestTlp {
  enum class Kind { mem_read, write, other } kind = Kind::other;
  std::uint8_t fmt_type = 0;
  std::uint16_t requester = 0;
  std::uint8_t tag = 0;
  std::uint32_t length_dw = 0;
  std::uint64_t start = 0;  // first enabled byte (mem_read)
  std::uint32_t len = 0;    // bytes from the first to the last enabled byte (mem_read)
};
// Classifies any TLP with data that is not a completion as a write (MWr, IOWr, CfgWr, MsgD,
// AtomicOps). Malformed requests (truncated, wrong size) are an error.
Result<RequestTlp> parse_request(std::span<const std::uint8_t> datagram);

// ---- Completions ----------------------------------------------------------------------------

struct Completion {
  std::uint16_t completer = 0;
  CplStatus status = CplStatus::sc;
  bool bcm = false;
  std::uint32_t byte_count = 0;  // 1..4096 (field 0 means 4096)
  std::uint16_t requester = 0;
  std::uint8_t tag = 0;
  std::uint8_t lower_address = 0;  // 7 bits
  std::uint32_t length_dw = 0;     // payload dwords (0 for Cpl)
  bool has_data = false;           // CplD
  bool last = false;               // the last completion of its request (CplD)
  std::span<const std::uint8_t> data;  // the request's bytes this completion carries
};

// Why a datagram was rejected; the client counts drops by this reason.
enum class Drop : std::uint8_t {
  truncated,      // shorter than its headers or its Length says
  bad_type,       // not a Cpl/CplD
  malformed,      // inconsistent fields (CplD with error status, data beyond the byte count)
  poisoned,       // EP bit set
  wrong_tag,      // tag does not match the port it arrived on
  wrong_requester,
  stale,          // no request in flight on this tag
  inconsistent,   // byte count / lower address / length do not fit the request
  duplicate,      // bytes already received for this request
  bad_status,     // CRS or a reserved status
  count_
};
std::string_view drop_name(Drop d);

// Parses a NetTLP datagram (header + TLP) as a completion. Checks type, sizes and the
// internal consistency of Length, Byte Count and Lower Address (the last-completion rule:
// a completion is the last of its request iff Length == ceil(((LA & 3) + BC) / 4)).
struct ParseError {
  Drop reason;
};
std::expected<Completion, ParseError> parse_completion(std::span<const std::uint8_t> datagram);

// Builds a completion datagram (the adapter side; tests and tlpsim). For CplD, `data` holds the
// bytes [addr, addr + data.size()) of a request of `byte_count` outstanding bytes whose next byte
// is at `addr`; the payload is padded with zeros to dwords. For Cpl, data is empty.
struct CplParams {
  std::uint16_t completer = 0;
  CplStatus status = CplStatus::sc;
  std::uint32_t byte_count = 0;
  std::uint16_t requester = 0;
  std::uint8_t tag = 0;
  std::uint64_t addr = 0;  // lower address = addr & 0x7f
  std::uint16_t seq = 0;
  std::uint32_t tstamp = 0;
};
void encode_completion(const CplParams& p, std::span<const std::uint8_t> data,
                       std::vector<std::uint8_t>& out);

// How a root complex splits a read: completions of at most `max_payload` bytes (MPS), every one
// but the last ending on a `rcb`-byte boundary. Returns the byte length of the completion that
// starts at `addr` with `remaining` bytes outstanding.
std::uint32_t completion_split(std::uint64_t addr, std::uint32_t remaining,
                               std::uint32_t max_payload = 256, std::uint32_t rcb = 64);

// ---- Reassembly -----------------------------------------------------------------------------

// Accepts the completions of one MRd [addr, addr+len) into `out`, in any order, checking each
// against the request: Lower Address and Byte Count must point at bytes of this request (for
// every completion, offset = len - BC and LA == (addr + offset) & 0x7f), and no byte may arrive
// twice. Bytes are never written outside out[0, len).
class ReadAssembly {
 public:
  enum class Verdict { accepted, complete, error_status, rejected };
  struct Outcome {
    Verdict verdict;
    Drop reason = Drop::inconsistent;  // when rejected
    std::uint64_t error_address = 0;   // when error_status
  };

  void reset(std::uint64_t addr, std::uint32_t len);
  Outcome accept(const Completion& c, std::span<std::uint8_t> out);
  std::uint32_t received() const { return received_; }
  std::uint32_t len() const { return len_; }
  bool complete() const { return len_ != 0 && received_ == len_; }

 private:
  std::uint64_t addr_ = 0;
  std::uint32_t len_ = 0;
  std::uint32_t received_ = 0;
  std::array<std::uint64_t, 17> dwords_{};  // up to 1025 dwords touched by a 4096-byte read
};

}  // namespace tlpstub::tlp
