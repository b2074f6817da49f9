// PhysicalMemory over NetTLP: DMA reads of a remote host's RAM through a NetTLP adapter
// (facts: shared/facts/nettlp.md). Pipelined: a batch is cut into MRds of at most MRRS bytes
// that never cross 4 KiB, and up to `window` of them (one per tag, 256 tags) are in flight.
//
// Correctness over a lossy datagram link:
//  - every received datagram is checked (size, type, tag == port, requester, Byte Count and
//    Lower Address against the request, no byte twice) and dropped and counted when it does not
//    fit; completions may arrive in any order;
//  - a silent request is re-sent on the same tag (reads are idempotent, so a late completion
//    of an earlier attempt carries the very bytes asked for) after the timeout, which adapts
//    to the observed round trips (never below `timeout`, at most 250 ms); on a link that
//    lost datagrams lately, already once the link has been silent for a while that adapts
//    to how fast the adapter answers (never below `min_timeout`, doubling per attempt);
//  - a completion names its request only by tag and (Lower Address + Byte Count) % 128 ==
//    (address + length) % 128, its "signature". A tag is not given a request with the same
//    signature as its previous one until stragglers cannot come: `tag_hold` after a clean
//    finish, twice the timeout after an answered retry, `abandon_hold` (3 s) after a request
//    was abandoned unanswered (a stalled adapter answers it when it resumes). Network duplicates are also
//    recognized by their NetTLP header (the adapter's frame counter and clock), and a socket is
//    drained right before its tag is reused;
//  - a range fails with Errc::timeout after `retries` further attempts and (retries + 1)
//    timeouts from its first send, however soon the retries went out; UR/CA completions fail
//    it with Errc::unsupported_request / Errc::completer_abort at the address concerned;
//  - when nothing at all answers (a probe of the last address that did answer included), the
//    batch fails fast with Errc::unreachable (the probe starts when a request meets silence
//    and is given up like any read: ~0.15 s with the defaults), and later batches try again.
//    With no address known to answer the probe reads physical 0.
// The client can only read: nothing in it builds a write TLP.
// Thread-safe: concurrent read() calls run side by side and share the tags.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "transport/physical_memory.hpp"
#include "transport/transport_stats.hpp"

namespace tlpstub {

struct NetTlpOptions {
  // The adapter's IP and ours. Both sides use ports 0x3000..0x3000+tags-1, so on one machine
  // tlpsim and the client need two loopback addresses (tlpsim 127.0.0.2, client 127.0.0.1).
  std::string adapter_ip = "127.0.0.2";
  std::string local_ip = "127.0.0.1";
  // Requester ID (bus<<8 | dev<<3 | fn) put in every MRd. The target's root complex routes
  // completions by this ID, so with real hardware it must be the adapter's own BB:DD.F as the
  // target enumerated it (lspci on the target). 00:00.0 is only a placeholder: tlpsim echoes
  // whatever it gets.
  std::uint16_t requester = 0;
  unsigned tags = 256;     // 1..256; 16 for adapter firmware before March 2020
  unsigned window = 0;     // requests in flight at most; 0 = tags (1 = libtlp's one-at-a-time)
  std::uint32_t mrrs = 512;  // bytes per MRd, a power of two 4..4096 (PCIe MRRS: 128..4096)
  // The longest an attempt waits; raised automatically to 4x the slowest recent round trip
  // (at most 250 ms). 20 ms is ~1000 round trips of the real platform. A read is given up
  // (retries + 1) timeouts after its first send, so silent (unbacked) addresses cost that.
  std::chrono::microseconds timeout{20'000};
  // The shortest silence after which requests out count as lost and are re-sent early, on a
  // link that lost datagrams in the last 2 s (on a clean one a silence is rather a stall, and
  // the timeout applies) and with at most 16 requests out (silence with more is a stall too).
  // The wait adapts to 4x the slowest recent wait for a completion and doubles per attempt,
  // but never goes below this: a lost datagram costs ~1 ms instead of a whole timeout.
  std::chrono::microseconds min_timeout{1'000};
  // Further attempts after the first. 6 keeps a read's failure odds near 1e-6 even at 5%
  // datagram loss (a 512-byte read is 3 datagrams), which real links never approach.
  unsigned retries = 6;
  // A tag that finished a request cleanly carries no request with the same completion
  // signature ((address + length) % 128) for this long; other signatures may use it at once.
  // Duplicates are recognized by their NetTLP header (frame counter + clock) whenever the
  // adapter stamps it; this hold covers adapters that leave it zero.
  std::chrono::microseconds tag_hold{100};
  // After a request was abandoned unanswered (given up, its deadline passed, the adapter
  // unreachable), its tag carries no request with the same signature for this long: a stalled
  // or hung adapter may still answer it when it resumes. A completion later than this could
  // still pass for a newer request's (the signature is all a completion carries).
  std::chrono::milliseconds abandon_hold{3'000};
  std::string pcap;            // record every datagram sent and received to this file
  std::uint64_t max_address = 0;  // reported by info(); 0 = unknown
};

// Parses "key=value,key=value": adapter=IP, local=IP, requester=BB:DD.F, tags=N, window=N,
// mrrs=BYTES, timeout=MS, min_timeout=US, retries=N, hold=US, abandon_hold=MS, pcap=FILE,
// max=SIZE. Starts from `base`.
Result<NetTlpOptions> parse_nettlp_options(std::string_view spec, NetTlpOptions base = {});

class NetTlpClient final : public PhysicalMemory {
 public:
  // Fails cleanly on bad options, a bad IP or a port already in use.
  static Result<std::unique_ptr<NetTlpClient>> open(const NetTlpOptions& options);
  ~NetTlpClient() override;
  NetTlpClient(const NetTlpClient&) = delete;
  NetTlpClient& operator=(const NetTlpClient&) = delete;

 protected:
  void do_read(std::span<const ReadRange> ranges, std::span<ReadStatus> results,
               Deadline deadline) override;

 public:
  MemoryInfo info() const override;

  const TransportStats& stats() const;
  TransportStats& stats();
  const NetTlpOptions& options() const;

 private:
  struct Impl;
  explicit NetTlpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tlpstub
