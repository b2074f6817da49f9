// monitor stats: reads asked of the transport (batches, ranges, bytes, failures, time) on any
// transport; with NetTLP also the link's requests, completions, retries, timeouts, drops,
// in-flight peak and round-trip histogram.
#include "app/commands/commands.hpp"

namespace tlpstub::app::commands {

namespace {

struct StatsRow {
  const CountingMemory* reads = nullptr;
  const TransportStats* link = nullptr;
};

std::string to_text(const StatsRow& r) {
  if (!r.reads && !r.link) return "no transport statistics\n";
  std::string s;
  if (r.reads) s += "reads asked for: " + r.reads->format();
  if (r.link) s += r.link->format();
  return s;
}

void to_json(JsonWriter& j, const StatsRow& r) {
  j.begin_object().key("reads");
  if (r.reads) {
    const MemoryCounters c = r.reads->counters();
    j.begin_object()
        .field("batches", c.batches)
        .field("ranges", c.ranges)
        .field("bytes", c.bytes)
        .field("failed", c.failed)
        .field("round_trips", c.round_trips)
        .field("seconds", c.seconds)
        .end_object();
  } else {
    j.null();
  }
  j.key("link");
  if (r.link) {
    const TransportStats& t = *r.link;
    auto n = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    j.begin_object()
        .field("requests", n(t.requests))
        .field("completions", n(t.completions))
        .field("datagrams_in", n(t.datagrams_in))
        .field("retries", n(t.retries))
        .field("timeouts", n(t.timeouts))
        .field("unreachable", n(t.unreachable))
        .field("ur", n(t.ur))
        .field("ca", n(t.ca))
        .field("drops", t.total_drops())
        .field("inflight_peak", n(t.inflight_peak));
    j.key("rtt_log2_us").begin_array();
    for (const auto& b : t.rtt) j.value(n(b));
    j.end_array().end_object();
  } else {
    j.null();
  }
  j.end_object();
}

}  // namespace

stub::MonitorCommand stats_command(SessionState& s) {
  return {"stats", "stats", "transport statistics (requests, bytes, round trips)",
          [&s](const stub::MonitorArgs& a, const stub::OutputFn& out) {
            emit(a, StatsRow{s.context().read_counts, s.context().link_stats}, out);
            return Result<void>{};
          }};
}

}  // namespace tlpstub::app::commands
