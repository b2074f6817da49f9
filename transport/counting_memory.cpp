#include "transport/counting_memory.hpp"

#include <fmt/format.h>

namespace tlpstub {

void CountingMemory::do_read(std::span<const ReadRange> ranges, std::span<ReadStatus> results,
                             Deadline deadline) {
  std::uint64_t bytes = 0;
  for (const ReadRange& r : ranges) bytes += r.out.size();
  const auto t0 = std::chrono::steady_clock::now();
  inner_.read(ranges, results, deadline);
  const auto dt = std::chrono::steady_clock::now() - t0;
  std::uint64_t failed = 0;
  for (const ReadStatus& s : results.first(ranges.size()))
    if (!s) ++failed;
  batches_ += 1;
  ranges_ += ranges.size();
  bytes_ += bytes;
  failed_ += failed;
  rounds_ += (ranges.size() + in_flight_ - 1) / in_flight_;
  nanos_ += static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(dt).count());
}

MemoryCounters CountingMemory::counters() const {
  return {batches_.load(), ranges_.load(), bytes_.load(), failed_.load(), rounds_.load(),
          static_cast<double>(nanos_.load()) / 1e9};
}

std::string CountingMemory::format() const {
  const MemoryCounters c = counters();
  return fmt::format("batches {}  ranges {}  bytes {}  failed {}  time {:.3f} s\n", c.batches,
                     c.ranges, c.bytes, c.failed, c.seconds);
}

}  // namespace tlpstub
