#include "transport/transport_stats.hpp"

#include <algorithm>
#include <bit>
#include <fmt/format.h>

namespace tlpstub {

namespace {
std::uint64_t get(const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); }
}  // namespace

std::size_t TransportStats::rtt_bucket(std::chrono::nanoseconds d) {
  const auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(0, d.count() / 1000));
  const std::size_t b = static_cast<std::size_t>(std::bit_width(us));  // 0 -> 0, 1 -> 1, 2..3 -> 2
  return std::min(b, kRttBuckets - 1);
}

void TransportStats::record_rtt(std::chrono::nanoseconds d) { add(rtt[rtt_bucket(d)]); }

std::uint64_t TransportStats::total_drops() const {
  std::uint64_t n = 0;
  for (auto& d : drops) n += get(d);
  return n;
}

std::string TransportStats::format() const {
  std::string s;
  s += fmt::format("batches {}  ranges {}  requests {}  bytes {}  completions {}\n", get(batches),
                   get(ranges), get(requests), get(bytes), get(completions));
  s += fmt::format("retries {}  timeouts {}  unreachable {}  UR {}  CA {}  send errors {}  probes {}"
                   "  deadline misses {}\n",
                   get(retries), get(timeouts), get(unreachable), get(ur), get(ca),
                   get(send_errors), get(probes), get(deadline_misses));
  s += fmt::format("datagrams in {}  dropped {}", get(datagrams_in), total_drops());
  for (std::size_t i = 0; i < drops.size(); ++i)
    if (get(drops[i]))
      s += fmt::format("  {} {}", tlp::drop_name(static_cast<tlp::Drop>(i)), get(drops[i]));
  s += fmt::format("\nin flight peak {}\n", get(inflight_peak));
  std::uint64_t total = 0;
  for (auto& b : rtt) total += get(b);
  s += fmt::format("round trips ({}):", total);
  if (total == 0) return s + " none\n";
  s += "\n";
  for (std::size_t i = 0; i < rtt.size(); ++i) {
    const std::uint64_t n = get(rtt[i]);
    if (!n) continue;
    const std::uint64_t lo = i == 0 ? 0 : std::uint64_t{1} << (i - 1);
    const std::string range = i + 1 == rtt.size() ? fmt::format(">= {} us", lo)
                                                  : fmt::format("{}-{} us", lo, (std::uint64_t{1} << i) - 1);
    s += fmt::format("  {:>18}  {:>10}  {:5.1f}%\n", range, n, 100.0 * static_cast<double>(n) / static_cast<double>(total));
  }
  return s;
}

void TransportStats::reset() {
  for (auto* c : {&batches, &ranges, &requests, &bytes, &completions, &datagrams_in, &retries,
                  &timeouts, &unreachable, &ur, &ca, &send_errors, &probes, &deadline_misses, &inflight_peak})
    c->store(0, std::memory_order_relaxed);
  for (auto& d : drops) d.store(0, std::memory_order_relaxed);
  for (auto& b : rtt) b.store(0, std::memory_order_relaxed);
}

}  // namespace tlpstub
