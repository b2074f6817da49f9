#include "transport/tlpsim.hpp"

#include <sys/prctl.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fmt/format.h>
#include <mutex>
#include <random>
#include <vector>

#include "transport/pcap_recorder.hpp"
#include "transport/tlp_codec.hpp"
#include "transport/udp_ports.hpp"

namespace tlpstub {

namespace {

using Clock = std::chrono::steady_clock;

// Completions of one request (or one held-back completion) waiting for their send time.
struct Outgoing {
  Clock::time_point due;
  std::uint64_t order = 0;
  std::uint16_t port = 0;
  UdpEndpointV4 to;
  std::vector<std::uint8_t> bytes;  // datagrams back to back
  std::vector<std::uint32_t> ends;  // end offset of each datagram in bytes
};

struct Later {
  bool operator()(const Outgoing& a, const Outgoing& b) const {
    return a.due != b.due ? a.due > b.due : a.order > b.order;
  }
};

struct AtomicCounters {
  std::atomic<std::uint64_t> datagrams{0}, reads{0}, completions{0}, bytes{0}, unbacked{0},
      write_violations{0}, other{0}, malformed{0}, lost{0}, duplicated{0}, reordered{0},
      send_errors{0}, stalled{0};
};

void inc(std::atomic<std::uint64_t>& a, std::uint64_t n = 1) { a.fetch_add(n, std::memory_order_relaxed); }
std::uint64_t counter(const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); }

}  // namespace

struct TlpSim::Impl {
  std::shared_ptr<const MemoryFile> memory;
  TlpSimOptions opt;
  std::unique_ptr<UdpPorts> ports;
  std::unique_ptr<PcapRecorder> pcap;
  AtomicCounters n;
  std::atomic<bool> stopping{false};
  std::mutex run_mu;  // one run() at a time

  std::vector<Outgoing> heap;  // min-heap by (due, order)
  std::uint64_t order = 0;
  std::uint16_t seq = 0;
  Clock::time_point start = Clock::now();
  std::mt19937_64 rng;
  std::uniform_real_distribution<double> uni{0.0, 1.0};
  std::vector<std::uint8_t> scratch;

  bool chance(double p) { return p > 0 && uni(rng) < p; }

  std::chrono::nanoseconds reorder_delay() {
    const double extra_us = 20 + uni(rng) * 180;
    const double lat = static_cast<double>(opt.latency.count()) * (1 + uni(rng) * 3);
    return std::chrono::nanoseconds(static_cast<std::int64_t>(extra_us * 1000 + lat));
  }

  // The end of the stall `t` falls in, or `t` itself outside stalls. A stall is the last
  // `stall` of each `stall_every` period counted from start.
  Clock::time_point stall_end(Clock::time_point t) const {
    if (opt.stall.count() <= 0 || opt.stall_every.count() <= 0) return t;
    const auto phase = (t - start) % opt.stall_every;
    if (phase < opt.stall_every - opt.stall) return t;
    return t - phase + opt.stall_every;
  }

  void push(Outgoing&& o) {
    heap.push_back(std::move(o));
    std::push_heap(heap.begin(), heap.end(), Later{});
  }

  void append(Outgoing& o, std::span<const std::uint8_t> d) {
    o.bytes.insert(o.bytes.end(), d.begin(), d.end());
    o.ends.push_back(static_cast<std::uint32_t>(o.bytes.size()));
  }

  void on_datagram(unsigned port, std::span<const std::uint8_t> d, const UdpEndpointV4& src) {
    inc(n.datagrams);
    const Clock::time_point now = Clock::now();
    if (pcap) pcap->record(src, ports->local(port), d);
    if (chance(opt.loss)) return inc(n.lost);
    auto r = tlp::parse_request(d);
    if (!r) {
      inc(n.malformed);
      spdlog::debug("tlpsim: malformed request from {}:{}: {}", format_ipv4(src.ip), src.port,
                    r.error().message);
      return;
    }
    if (r->kind == tlp::RequestTlp::Kind::write) {
      inc(n.write_violations);
      spdlog::warn("tlpsim: VIOLATION: write TLP (fmt/type {:#04x}, {} dwords) from {}:{} "
                   "requester {}; ignored",
                   r->fmt_type, r->length_dw, format_ipv4(src.ip), src.port,
                   tlp::format_bdf(r->requester));
      return;
    }
    if (r->kind != tlp::RequestTlp::Kind::mem_read) {
      inc(n.other);
      spdlog::debug("tlpsim: ignored TLP fmt/type {:#04x}", r->fmt_type);
      return;
    }
    inc(n.reads);
    serve_read(port, *r, src, now);
  }

  void serve_read(unsigned port, const tlp::RequestTlp& r, const UdpEndpointV4& src,
                  Clock::time_point now) {
    // A zero-length read (no byte enabled) completes with one dword (PCIe 2.2.5).
    const std::uint32_t len = r.len ? r.len : 4;
    auto data = memory->view(PhysAddr(r.start), len);
    if (spdlog::should_log(spdlog::level::trace))
      spdlog::trace("tlpsim: <- MRd tag {} {:#x}+{}{}", r.tag, r.start, r.len,
                    data.empty() ? " (unbacked)" : "");
    Outgoing group{now + opt.latency, order++, static_cast<std::uint16_t>(port), src, {}, {}};
    const auto tstamp = static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(now - start).count());
    tlp::CplParams p{opt.completer, tlp::CplStatus::sc, len, r.requester, r.tag, r.start, 0, tstamp};
    if (data.empty()) {
      inc(n.unbacked);
      if (opt.unbacked == TlpSimOptions::Unbacked::silent) return;
      p.status = tlp::CplStatus::ur;
      p.seq = seq++;
      tlp::encode_completion(p, {}, scratch);
      emit(group, scratch, now);
    } else {
      std::uint32_t done = 0;
      while (done < len) {
        const std::uint32_t k = tlp::completion_split(r.start + done, len - done, opt.max_payload, opt.rcb);
        p.byte_count = len - done;
        p.addr = r.start + done;
        p.seq = seq++;
        tlp::encode_completion(p, data.subspan(done, k), scratch);
        inc(n.bytes, k);
        emit(group, scratch, now);
        done += k;
      }
    }
    if (group.ends.empty()) return;
    if (opt.latency.count() == 0 && stall_end(now) == now)
      send(group);
    else
      push(std::move(group));
  }

  // Applies loss, duplication and reordering to one completion of `group`.
  void emit(Outgoing& group, std::span<const std::uint8_t> d, Clock::time_point now) {
    if (chance(opt.loss)) return inc(n.lost);
    const int copies = chance(opt.duplicate) ? 2 : 1;
    if (copies == 2) inc(n.duplicated);
    if (spdlog::should_log(spdlog::level::trace))
      spdlog::trace("tlpsim: -> Cpl tag {} bc {} copies {}", d[6 + 10],
                    (d[6 + 6] & 0xF) << 8 | d[6 + 7], copies);
    if (chance(opt.reorder)) {
      if (spdlog::should_log(spdlog::level::trace)) spdlog::trace("tlpsim: held back");
      inc(n.reordered);
      Outgoing late{now + opt.latency + reorder_delay(), order++, group.port, group.to, {}, {}};
      for (int c = 0; c < copies; ++c) append(late, d);
      push(std::move(late));
      return;
    }
    for (int c = 0; c < copies; ++c) append(group, d);
  }

  void send(const Outgoing& o) {
    std::span<const std::uint8_t> msgs[64];
    std::size_t begin = 0, k = 0, total = 0;
    auto flush = [&] {
      const std::size_t sent = ports->send_many(o.port, {msgs, k}, o.to);
      if (sent < k) inc(n.send_errors, k - sent);
      if (pcap)
        for (std::size_t i = 0; i < k; ++i) pcap->record(ports->local(o.port), o.to, msgs[i]);
      total += k;
      k = 0;
    };
    for (std::uint32_t end : o.ends) {
      msgs[k++] = {o.bytes.data() + begin, end - begin};
      begin = end;
      if (k == std::size(msgs)) flush();
    }
    if (k) flush();
    inc(n.completions, total);
  }

  void send_due() {
    const Clock::time_point now = Clock::now();
    if (const Clock::time_point end = stall_end(now); end != now) {
      // Everything that comes due meanwhile leaves at the end of the stall, in order.
      for (Outgoing& o : heap)
        if (o.due < end) {
          o.due = end;
          inc(n.stalled);
        }
      std::make_heap(heap.begin(), heap.end(), Later{});
      return;
    }
    while (!heap.empty() && heap.front().due <= now) {
      std::pop_heap(heap.begin(), heap.end(), Later{});
      send(heap.back());
      heap.pop_back();
    }
  }

  void run() {
    std::lock_guard lock(run_mu);
    auto on_ready = [&](unsigned port) {
      ports->receive(port, [&](std::span<const std::uint8_t> d, const UdpEndpointV4& src) {
        on_datagram(port, d, src);
      });
    };
    while (!stopping.load()) {
      const Clock::time_point wake = heap.empty() ? Clock::time_point::max() : heap.front().due;
      ports->wait(wake, on_ready);
      send_due();
    }
    heap.clear();
    if (pcap) pcap->flush();
  }
};

Result<std::unique_ptr<TlpSim>> TlpSim::open(std::shared_ptr<const MemoryFile> memory,
                                             TlpSimOptions o) {
  if (!memory) return fail(Errc::invalid_argument, "tlpsim needs a memory file");
  if (o.stall.count() < 0 || o.stall_every.count() < 0 ||
      (o.stall.count() > 0 && o.stall >= o.stall_every))
    return fail(Errc::invalid_argument, "a stall must be shorter than its period (--stall-every)");
  for (double p : {o.loss, o.reorder, o.duplicate})
    if (!(p >= 0 && p <= 1)) return fail(Errc::invalid_argument, "probabilities must be in [0, 1]");
  if (o.ports < 1 || o.ports > 256) return fail(Errc::invalid_argument, "ports must be 1..256");
  if (o.max_payload < 4 || o.max_payload > 4096 || o.rcb < 4 || !std::has_single_bit(o.rcb) ||
      o.max_payload % o.rcb)
    return fail(Errc::invalid_argument, "max payload must be a multiple of the RCB (a power of two)");
  auto ports = UdpPorts::open(o.listen_ip, o.ports, tlp::kTagPortBase, std::nullopt);
  if (!ports) return std::unexpected(ports.error());
  auto im = std::make_unique<Impl>();
  im->memory = std::move(memory);
  im->ports = std::move(*ports);
  if (!o.pcap.empty()) {
    auto p = PcapRecorder::open(o.pcap);
    if (!p) return std::unexpected(p.error());
    im->pcap = std::move(*p);
  }
  im->rng.seed(o.seed ? o.seed : std::random_device{}());
  im->opt = std::move(o);
  return std::unique_ptr<TlpSim>(new TlpSim(std::move(im)));
}

TlpSim::TlpSim(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

TlpSim::~TlpSim() {
  stop();
  if (thread_.joinable()) thread_.join();
}

void TlpSim::run() { impl_->run(); }

void TlpSim::start() {
  if (thread_.joinable()) return;
  impl_->stopping = false;
  thread_ = std::thread([this] {
    prctl(PR_SET_TIMERSLACK, 1UL);  // latency timers of microseconds, not the default 50 us slack
    impl_->run();
  });
}

void TlpSim::stop() {
  impl_->stopping = true;
  impl_->ports->wake();
}

TlpSimCounters TlpSim::counters() const {
  const AtomicCounters& a = impl_->n;
  return {counter(a.datagrams), counter(a.reads),     counter(a.completions), counter(a.bytes),
          counter(a.unbacked),  counter(a.write_violations), counter(a.other), counter(a.malformed),
          counter(a.lost),      counter(a.duplicated), counter(a.reordered), counter(a.send_errors),
          counter(a.stalled)};
}

std::uint64_t TlpSim::write_violations() const { return counter(impl_->n.write_violations); }

std::string TlpSim::format_counters() const {
  const TlpSimCounters c = counters();
  return fmt::format(
      "datagrams {}  reads {}  completions {}  bytes {}  unbacked {}  write violations {}  "
      "other {}  malformed {}  lost {}  duplicated {}  reordered {}  send errors {}  stalled {}",
      c.datagrams, c.reads, c.completions, c.bytes, c.unbacked, c.write_violations, c.other,
      c.malformed, c.lost, c.duplicated, c.reordered, c.send_errors, c.stalled);
}

const TlpSimOptions& TlpSim::options() const { return impl_->opt; }

}  // namespace tlpstub
