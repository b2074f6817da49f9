// Transport counters for `monitor stats` (design.md, performance model: "Counters for requests,
// bytes and round trips are part of the product"). Updated by the NetTLP client while a batch
// runs and read at any time from other threads, so every counter is a relaxed atomic.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "transport/tlp_codec.hpp"

namespace tlpstub {

class TransportStats {
 public:
  // Round trips in log2 microsecond buckets: bucket 0 holds < 1 us, bucket i holds
  // [2^(i-1), 2^i) us, the last bucket everything above.
  static constexpr std::size_t kRttBuckets = 24;

  std::atomic<std::uint64_t> batches{0};
  std::atomic<std::uint64_t> ranges{0};
  std::atomic<std::uint64_t> requests{0};      // MRds sent, retries included
  std::atomic<std::uint64_t> bytes{0};         // bytes delivered to callers
  std::atomic<std::uint64_t> completions{0};   // completions accepted
  std::atomic<std::uint64_t> datagrams_in{0};  // every datagram received, accepted or not
  std::atomic<std::uint64_t> retries{0};
  std::atomic<std::uint64_t> timeouts{0};      // ranges failed with Errc::timeout
  std::atomic<std::uint64_t> unreachable{0};   // batches that found the adapter unreachable
  std::atomic<std::uint64_t> deadline_misses{0};  // batches cut short by their reply deadline
  std::atomic<std::uint64_t> ur{0};
  std::atomic<std::uint64_t> ca{0};
  std::atomic<std::uint64_t> send_errors{0};
  std::atomic<std::uint64_t> probes{0};
  std::atomic<std::uint64_t> inflight_peak{0};
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(tlp::Drop::count_)> drops{};
  std::array<std::atomic<std::uint64_t>, kRttBuckets> rtt{};

  void drop(tlp::Drop d) { add(drops[static_cast<std::size_t>(d)]); }
  void record_rtt(std::chrono::nanoseconds d);
  void note_inflight(std::uint64_t n) {
    if (n > inflight_peak.load(std::memory_order_relaxed))
      inflight_peak.store(n, std::memory_order_relaxed);
  }
  std::uint64_t total_drops() const;
  static std::size_t rtt_bucket(std::chrono::nanoseconds d);
  // Multi-line text for `monitor stats` and the log at exit.
  std::string format() const;
  void reset();

  static void add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) {
    c.fetch_add(n, std::memory_order_relaxed);
  }
};

}  // namespace tlpstub
