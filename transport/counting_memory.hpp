// A PhysicalMemory decorator that counts what passes through it: batches, ranges (one DMA
// request each, before any MRRS split), bytes asked for, ranges that failed, and the time
// spent in the inner read. Used for `monitor stats` on any transport and for discovery's cost
// report. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "transport/physical_memory.hpp"

namespace tlpstub {

struct MemoryCounters {
  std::uint64_t batches = 0, ranges = 0, bytes = 0, failed = 0;
  // Round trips if every batch kept `in_flight` requests outstanding: the sum over batches of
  // ceil(ranges / in_flight). At a link's latency this is the time a batch costs on the wire.
  std::uint64_t round_trips = 0;
  double seconds = 0;  // wall time inside the inner read()

  MemoryCounters operator-(const MemoryCounters& o) const {
    return {batches - o.batches, ranges - o.ranges, bytes - o.bytes, failed - o.failed,
            round_trips - o.round_trips, seconds - o.seconds};
  }
};

class CountingMemory final : public PhysicalMemory {
 public:
  // in_flight: requests a batch keeps outstanding (NetTlpClient's default of 256 tags).
  explicit CountingMemory(PhysicalMemory& inner, std::uint64_t in_flight = 256)
      : inner_(inner), in_flight_(in_flight ? in_flight : 1) {}
  std::uint64_t in_flight() const { return in_flight_; }

 protected:
  void do_read(std::span<const ReadRange> ranges, std::span<ReadStatus> results,
               Deadline deadline) override;

 public:
  MemoryInfo info() const override { return inner_.info(); }

  MemoryCounters counters() const;
  // One line: "batches N  ranges N  bytes N  failed N  time S s".
  std::string format() const;

 private:
  PhysicalMemory& inner_;
  std::uint64_t in_flight_;
  std::atomic<std::uint64_t> batches_{0}, ranges_{0}, bytes_{0}, failed_{0}, rounds_{0},
      nanos_{0};
};

}  // namespace tlpstub
