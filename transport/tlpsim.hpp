// tlpsim: a software NetTLP adapter. It serves memory reads (MRd) from a MemoryFile over the
// NetTLP port scheme (UDP sockets IP:0x3000..0x30FF, answering each request to its sender's
// address and port) and behaves like the target's root complex behind a real adapter:
// completions carry at most `max_payload` (256) bytes and all but the last end on an
// `rcb` (64) byte boundary. Unbacked addresses get silence (what real captures show) or, on
// request, a UR completion. Any write TLP is a violation: logged and counted, never applied.
//
// Network effects for tests: a fixed latency (a timer queue, so one slow answer never delays
// the others), random loss of requests and completions, reordering (a completion is held back
// an extra 20..200 us plus 1..4 latencies) and duplication (a completion is sent twice, back
// to back). Stalls: every `stall_every`, the adapter goes quiet for `stall` (it still takes
// requests in, but sends nothing until the stall ends, then everything that came due), as a
// host or adapter that pauses a few hundred milliseconds would.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "common/error.hpp"
#include "transport/memory_file.hpp"

namespace tlpstub {

struct TlpSimOptions {
  std::string listen_ip = "127.0.0.2";
  std::chrono::nanoseconds latency{0};
  double loss = 0;       // probability that a datagram (request or completion) is lost
  double reorder = 0;    // probability that a completion is held back
  double duplicate = 0;  // probability that a completion is sent twice
  enum class Unbacked { silent, ur } unbacked = Unbacked::silent;
  std::string pcap;               // record every datagram received and sent
  std::uint16_t completer = 0;    // completer ID in completions (the root port, 00:00.0)
  unsigned ports = 256;           // tags served: 0x3000 .. 0x3000 + ports - 1
  std::uint32_t max_payload = 256;  // MPS
  std::uint32_t rcb = 64;           // read completion boundary
  std::uint64_t seed = 0;           // random seed for loss/reorder/duplicate; 0 = random
  std::chrono::nanoseconds stall{0};        // length of each stall (0: none)
  std::chrono::nanoseconds stall_every{0};  // period of the stalls; each ends a period
};

struct TlpSimCounters {
  std::uint64_t datagrams = 0;        // received
  std::uint64_t reads = 0;            // MRds served or refused
  std::uint64_t completions = 0;      // completions sent (duplicates included)
  std::uint64_t bytes = 0;            // data bytes sent (duplicates excluded)
  std::uint64_t unbacked = 0;         // MRds of memory the file does not back
  std::uint64_t write_violations = 0; // write TLPs received
  std::uint64_t other = 0;            // other TLPs, ignored
  std::uint64_t malformed = 0;
  std::uint64_t lost = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t reordered = 0;
  std::uint64_t send_errors = 0;
  std::uint64_t stalled = 0;          // sends held back to the end of a stall
};

class TlpSim {
 public:
  // Binds the sockets (fails cleanly: bad IP, port in use, pcap not writable).
  static Result<std::unique_ptr<TlpSim>> open(std::shared_ptr<const MemoryFile> memory,
                                              TlpSimOptions options);
  ~TlpSim();  // stops and joins the thread started by start()
  TlpSim(const TlpSim&) = delete;
  TlpSim& operator=(const TlpSim&) = delete;

  void run();    // serves on the calling thread until stop()
  void start();  // serves on an internal thread
  void stop();   // from any thread
  TlpSimCounters counters() const;
  std::uint64_t write_violations() const;
  std::string format_counters() const;
  const TlpSimOptions& options() const;

 private:
  struct Impl;
  explicit TlpSim(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
};

}  // namespace tlpstub
