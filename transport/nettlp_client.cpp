#include "transport/nettlp_client.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <deque>
#include <functional>
#include <queue>
#include <fmt/format.h>
#include <mutex>
#include <optional>
#include <vector>

#include "common/parse.hpp"
#include "transport/pcap_recorder.hpp"
#include "transport/tlp_codec.hpp"
#include "transport/udp_ports.hpp"

namespace tlpstub {

namespace {

using Clock = std::chrono::steady_clock;

bool trace_on() { return spdlog::should_log(spdlog::level::trace); }

struct Batch;

// One MRd's worth of a range: [addr, addr+len) lands in out[0, len).
struct Job {
  std::uint64_t addr = 0;
  std::uint32_t len = 0;
  std::uint8_t* out = nullptr;
  Batch* batch = nullptr;  // whose range this is; nullptr for the liveness probe
  std::uint32_t range = 0;
  unsigned attempts = 0;
  Clock::time_point first_sent{};
  // Every completion of a read of [addr, addr+len) has (LowerAddress + ByteCount) % 128 ==
  // (addr + len) % 128, since LA = (addr + offset) & 0x7f and BC = len - offset. Two requests
  // with different signatures can never take each other's completions.
  unsigned signature() const { return static_cast<unsigned>((addr + len) & 0x7F); }
};

// One caller's read(): its ranges and results, what is left to send, and its deadline. Several
// batches (one per gdb client) are in flight at once and share the tags.
struct Batch {
  std::span<const ReadRange> ranges;
  std::span<ReadStatus> results;
  Deadline deadline = kNoDeadline;
  std::size_t gen_range = 0;
  std::uint64_t gen_off = 0;
  std::optional<Job> pending;  // taken from the ranges, waiting for a tag
  std::vector<Job> parked;     // out of retries while the adapter's liveness is being probed
  unsigned inflight = 0;       // this batch's active slots
  bool done = false;           // every range answered or failed; the caller may return

  bool range_failed(std::uint32_t r) const { return !results[r].has_value(); }

  // A range keeps the lowest address that failed: everything below it was read.
  void fail_range(std::uint32_t r, Errc c, std::uint64_t addr, std::string msg) {
    if (!results[r].has_value() && results[r].error().address <= addr) return;
    results[r] = std::unexpected(Error{c, std::move(msg), addr});
  }

  // Skips ranges that are empty, finished or failed.
  void advance() {
    while (gen_range < ranges.size() &&
           (gen_off >= ranges[gen_range].out.size() ||
            range_failed(static_cast<std::uint32_t>(gen_range)))) {
      ++gen_range;
      gen_off = 0;
    }
  }

  bool next_job(Job& j, std::uint32_t mrrs) {
    advance();
    if (gen_range >= ranges.size()) return false;
    const ReadRange& r = ranges[gen_range];
    const std::uint64_t a = r.addr.value + gen_off;
    const std::uint32_t n = tlp::next_chunk(a, r.out.size() - gen_off, mrrs);
    j = Job{a, n, r.out.data() + gen_off, this, static_cast<std::uint32_t>(gen_range), 0, {}};
    gen_off += n;
    return true;
  }

  bool finished() {
    advance();
    return !pending && parked.empty() && inflight == 0 && gen_range >= ranges.size();
  }

  // Fails everything not yet sent (pending, parked, not generated) with `code`.
  void fail_unsent(Errc code, const std::function<std::string(std::uint64_t)>& why) {
    if (pending) fail_range(pending->range, code, pending->addr, why(pending->addr));
    pending.reset();
    for (const Job& j : parked) fail_range(j.range, code, j.addr, why(j.addr));
    parked.clear();
    for (advance(); gen_range < ranges.size(); ++gen_range, gen_off = 0) {
      if (gen_off >= ranges[gen_range].out.size()) continue;
      const std::uint64_t a = ranges[gen_range].addr.value + gen_off;
      fail_range(static_cast<std::uint32_t>(gen_range), code, a, why(a));
    }
  }
};

// The request in flight on one tag. A retry re-sends the same MRd on the same tag (reads are
// idempotent, so a late completion of an earlier attempt carries the very bytes asked for);
// `gen` tells the deadline of the current attempt from older ones.
struct Slot {
  bool active = false;
  bool dirty = false;  // released after retries or abandonment: read its socket before reuse
  std::uint32_t gen = 0;
  Job job;
  tlp::ReadAssembly assembly;
  Clock::time_point sent{};
  // A tag that finished a request with signature S cannot carry another request with
  // signature S before poison[S]: a straggler (duplicate, or completion of an earlier attempt)
  // could otherwise pass for the new request's.
  std::array<Clock::time_point, 128> poison{};
  // Fingerprints of the last completions accepted on this tag. The adapter stamps every frame
  // with a frame counter and a clock (NetTLP header), so a byte-identical header is a network
  // duplicate, however late it comes: it is dropped even if its Byte Count and Lower Address
  // would fit a newer request with the same signature.
  std::array<std::uint64_t, 16> recent{};
  unsigned recent_pos = 0;

  bool seen(std::uint64_t fp) const {
    return std::find(recent.begin(), recent.end(), fp) != recent.end();
  }
  void remember(std::uint64_t fp) {
    recent[recent_pos] = fp;
    recent_pos = (recent_pos + 1) % recent.size();
  }
};

// FNV-1a over the NetTLP header and the completion header; 0 when the adapter left the NetTLP
// header zero (then nothing tells a duplicate from a new frame).
std::uint64_t fingerprint(std::span<const std::uint8_t> d) {
  bool stamped = false;
  for (std::size_t i = 0; i < tlp::kNetTlpHeaderSize; ++i) stamped |= d[i] != 0;
  if (!stamped) return 0;
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < tlp::kCplHeaderSize; ++i) h = (h ^ d[i]) * 0x100000001b3ull;
  return h | 1;
}

// When the current attempt on a tag times out.
struct Timer {
  Clock::time_point at;
  std::uint16_t tag;
  std::uint32_t gen;
  bool operator>(const Timer& o) const { return at > o.at; }
};

}  // namespace

// Concurrency: every caller's batch joins `active`; one caller at a time is the pump (sends,
// waits on the sockets with the lock released, receives) and serves every active batch, tags
// going round-robin between them, until its own batch is done; then it hands the pump to a
// waiting caller. A batch whose deadline passes is abandoned at once (its tags are held back
// as after a timeout, since stragglers may still come) and its caller returns.
struct NetTlpClient::Impl {
  // Requests out at most for silence to count as their loss (see attempt_deadline()).
  static constexpr unsigned kFewOutstanding = 16;

  NetTlpOptions opt;
  unsigned window = 0;
  std::unique_ptr<UdpPorts> ports;
  std::unique_ptr<PcapRecorder> pcap;
  std::uint32_t adapter_ip = 0;
  TransportStats stats;

  std::mutex mu;               // everything below
  std::condition_variable cv;  // a batch is done, or the pump is free
  bool pumping = false;
  std::vector<Batch*> active;  // batches being read (their callers wait in read())
  std::size_t turn = 0;        // round-robin position in `active`

  // Tag state, kept across batches.
  std::vector<Slot> slots;
  std::deque<std::uint16_t> free_tags;  // least recently released first
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers;
  std::uint64_t last_good_addr = 0;
  bool unstamped_seen = false;  // the adapter sent a completion with a zero NetTLP header
  Clock::time_point last_rx{};  // last datagram that answered one of our requests
  // End of our last burst of sends: while sending, the client does not listen, so silence
  // (and the wait for a completion) counts from here at the earliest.
  Clock::time_point sent_burst_end{};
  bool sending = false;  // sent something since sent_burst_end was last set

  void end_send_burst() {
    if (!sending) return;
    sending = false;
    sent_burst_end = Clock::now();
  }
  // Two adaptive waits (see retry_wait()). `timeout`: the longest an attempt waits, 4x the
  // slowest recent round trip (a deep queue in an overloaded tlpsim must not cause retries),
  // never below opt.timeout. quiet(): how long the link may stay silent while requests are
  // out before they count as lost, 4x the slowest recent wait for the next completion, never
  // below opt.min_timeout, but only on a link that lost datagrams lately.
  Clock::duration rtt_high{};
  Clock::duration timeout{};
  Clock::duration gap_high{};
  // Until then the link counts as lossy: a request needed a retry and was answered.
  Clock::time_point lossy_until{};
  static constexpr std::chrono::seconds kLossMemory{2};

  unsigned inflight = 0;  // active slots of all batches, the probe excluded
  enum class Probe { idle, wanted, active } probe = Probe::idle;
  Job probe_job;
  std::uint8_t probe_buf[4]{};
  Clock::time_point now{};

  // ---- helpers ----
  UdpEndpointV4 adapter_ep(unsigned tag) const {
    return {adapter_ip, static_cast<std::uint16_t>(tlp::kTagPortBase + tag)};
  }

  Clock::duration max_timeout() const {
    return std::max<Clock::duration>(opt.timeout, std::chrono::milliseconds(250));
  }

  void note_rtt(Clock::duration rtt) {
    if (rtt > rtt_high)
      rtt_high = rtt;
    else
      rtt_high -= (rtt_high - rtt) / 64;
    timeout = std::clamp<Clock::duration>(4 * rtt_high, opt.timeout, max_timeout());
  }

  // A completion came `gap` after the later of the previous one and its request's send: how
  // long the adapter keeps the link silent while it has work. A sample from a retried request
  // (whose attempt it answers is unknown) is a lower bound, so it may only raise the estimate.
  // Gaps count from the end of our own sends (we do not listen while sending).
  void note_gap(Clock::duration gap, bool exact) {
    if (gap > gap_high)
      gap_high = gap;
    else if (exact)
      gap_high -= (gap_high - gap) / 64;
  }

  // A short silence says "lost" only where losses happen: on a clean link it is far more
  // often a stall of the adapter (or of tlpsim on a loaded machine), and an early retry would
  // only add requests. So the early retries start once a request has needed a retry and was
  // then answered (a silent address never is), and stop kLossMemory after the last one.
  Clock::duration quiet() const {
    if (now >= lossy_until || gap_high == Clock::duration::zero()) return timeout;
    return std::clamp<Clock::duration>(
        4 * gap_high, std::min<Clock::duration>(opt.min_timeout, timeout), timeout);
  }

  // Attempt n (1-based) of a request counts as lost once the link has been silent for
  // quiet() * 2^(n-1) since the later of its send and the last completion (a loss costs about a
  // millisecond, not a whole timeout, and backing off keeps a slow adapter from being
  // flooded), or at the latest after `timeout`, as a deep queue can keep it waiting while
  // others are answered. The last attempt waits out the budget the old fixed timeouts gave:
  // (retries + 1) timeouts from the first send. So a silent (unbacked) address and a dead
  // adapter take as long to give up on as ever; only losses are retried sooner.
  Clock::duration retry_wait(unsigned attempt) const {
    const unsigned shift = std::min(attempt - 1, 20u);
    return std::min<Clock::duration>(quiet() * (1 << shift), timeout);
  }

  Clock::time_point give_up_time(const Job& j) const {
    return j.first_sent + static_cast<int>(opt.retries + 1) * timeout;
  }

  Clock::time_point silent_since(const Slot& s) const {
    return std::max({last_rx, s.sent, sent_burst_end});
  }

  // When the current attempt of slot `s` counts as lost, as of now (a later check may move it:
  // the timer is re-armed rather than fired while the link keeps answering). Silence with
  // many requests out is a stall of the adapter (or of an overloaded tlpsim), not a loss of
  // them all: then only the timeout counts, as it did before retries got faster.
  Clock::time_point attempt_deadline(const Slot& s) const {
    const Job& j = s.job;
    if (j.attempts > opt.retries) return std::max(give_up_time(j), s.sent + retry_wait(j.attempts));
    const Clock::duration w = retry_wait(j.attempts);
    const Clock::time_point latest = s.sent + timeout;
    const unsigned out = inflight + (probe == Probe::active ? 1 : 0);
    if (out > kFewOutstanding) return std::min(std::max(silent_since(s), now) + w, latest);
    return std::min(silent_since(s) + w, latest);
  }

  // How a tag's request ended, which decides how late its stragglers may come.
  enum class End { clean, retried, abandoned };

  // Frees the tag of a finished or abandoned request. Stragglers are possible after a clean
  // finish only as network duplicates (sent back to back); after an answered retry as
  // completions of the other attempts, late by up to about a timeout; after abandonment
  // (given up, deadline, adapter unreachable) as the answers to requests that a stalled or
  // hung adapter still holds, released whenever it resumes: a 200 ms stall gave wrong bytes
  // with the 2-timeout hold (the faulty-link test), so these wait `abandon_hold`.
  void release(std::uint16_t tag, End end) {
    Slot& s = slots[tag];
    s.active = false;
    s.dirty = s.dirty || end != End::clean;
    const Clock::duration hold = end == End::clean     ? Clock::duration(opt.tag_hold)
                                 : end == End::retried ? 2 * timeout
                                                       : Clock::duration(opt.abandon_hold);
    auto& p = s.poison[s.job.signature()];
    p = std::max(p, now + hold);
    free_tags.push_back(tag);
  }

  // Frees a batch's tag without an answer (deadline, unreachable, given up).
  void drop_job(std::uint16_t tag) {
    Slot& s = slots[tag];
    if (s.job.batch) {
      --s.job.batch->inflight;
      --inflight;
    }
    release(tag, End::abandoned);
  }

  std::optional<std::uint16_t> take_tag(unsigned sig) {
    for (auto it = free_tags.begin(); it != free_tags.end(); ++it)
      if (slots[*it].poison[sig] <= now) {
        std::uint16_t t = *it;
        free_tags.erase(it);
        return t;
      }
    return std::nullopt;
  }

  Clock::time_point next_tag_time(unsigned sig) const {
    Clock::time_point t = Clock::time_point::max();
    for (std::uint16_t tag : free_tags) t = std::min(t, slots[tag].poison[sig]);
    return t;
  }

  // ---- sending ----
  void drain(std::uint16_t tag) {
    ports->receive(tag, [&](std::span<const std::uint8_t> d, const UdpEndpointV4& src) {
      on_datagram(tag, d, src);
    });
  }

  void transmit(std::uint16_t tag) {
    Slot& s = slots[tag];
    Job& job = s.job;
    if (job.attempts == 0) job.first_sent = now;
    ++job.attempts;
    ++s.gen;
    s.sent = now;
    const tlp::Frame f =
        tlp::encode_mrd({job.addr, job.len, opt.requester, static_cast<std::uint8_t>(tag)});
    if (!ports->send(tag, f.view())) TransportStats::add(stats.send_errors);
    if (pcap) pcap->record(ports->local(tag), adapter_ep(tag), f.view());
    if (trace_on())
      spdlog::trace("-> MRd tag {} {:#x}+{} attempt {}", tag, job.addr, job.len, job.attempts);
    TransportStats::add(stats.requests);
    timers.push({attempt_deadline(s), tag, s.gen});
    sending = true;
  }

  void start(std::uint16_t tag, const Job& job) {
    // Anything still queued on this socket belongs to an old request. With a stamping adapter
    // duplicates are recognized anyway, so the extra syscall is spent only for one that is not,
    // and on a tag whose last request was retried or abandoned: a completion of another attempt
    // may sit in the socket unread, since the tag hold can pass while this thread is
    // descheduled between two waits, and the next wait would hand it to the new request (wrong
    // bytes, seen once in a test run under heavy load).
    Slot& s = slots[tag];
    if (unstamped_seen || s.dirty) drain(tag);
    s.dirty = false;
    s.active = true;
    s.job = job;
    s.assembly.reset(job.addr, job.len);
    if (job.batch) {
      ++job.batch->inflight;
      ++inflight;
      stats.note_inflight(inflight);
    }
    transmit(tag);
  }

  // Hands free tags to the batches in turn, one MRd each, so a large read does not hold the
  // link while a small one waits behind it (16 gdb clients on one adapter).
  void fill() {
    if (probe == Probe::wanted) {
      if (auto t = take_tag(probe_job.signature())) {
        probe = Probe::active;
        start(*t, probe_job);
      }
    }
    while (inflight < window && !active.empty()) {
      bool started = false;
      const std::size_t n = active.size();
      for (std::size_t k = 0; k < n && inflight < window; ++k) {
        Batch& b = *active[(turn + k) % n];
        if (b.done) continue;
        if (b.pending && b.range_failed(b.pending->range)) b.pending.reset();
        if (!b.pending) {
          Job j;
          if (!b.next_job(j, opt.mrrs)) continue;
          b.pending = j;
        }
        auto t = take_tag(b.pending->signature());
        if (!t) continue;
        start(*t, *b.pending);
        b.pending.reset();
        started = true;
      }
      turn = (turn + 1) % n;
      if (!started) break;
    }
  }

  // ---- receiving ----
  void on_datagram(std::uint16_t tag, std::span<const std::uint8_t> d, const UdpEndpointV4& src) {
    TransportStats::add(stats.datagrams_in);
    if (pcap) pcap->record(src, ports->local(tag), d);
    auto c = tlp::parse_completion(d);
    if (!c) return drop(tag, c.error().reason);
    if (c->tag != tag) return drop(tag, tlp::Drop::wrong_tag);
    if (c->requester != opt.requester) return drop(tag, tlp::Drop::wrong_requester);
    Slot& s = slots[tag];
    if (!s.active) return drop(tag, tlp::Drop::stale);
    const std::uint64_t fp = fingerprint(d);
    if (!fp) unstamped_seen = true;
    if (fp && s.seen(fp)) return drop(tag, tlp::Drop::duplicate);
    auto o = s.assembly.accept(*c, {s.job.out, s.job.len});
    if (o.verdict == tlp::ReadAssembly::Verdict::rejected) return drop(tag, o.reason);
    if (fp) s.remember(fp);
    note_gap(now - silent_since(s), s.job.attempts == 1);
    if (trace_on())
      spdlog::trace("<- Cpl{} tag {} status {} bc {} la {:#x} len {}", c->has_data ? "D" : "", tag,
                    static_cast<int>(c->status), c->byte_count, c->lower_address, c->data.size());
    TransportStats::add(stats.completions);
    last_rx = now;
    if (o.verdict == tlp::ReadAssembly::Verdict::complete) return finish(tag, c->status, 0);
    if (o.verdict == tlp::ReadAssembly::Verdict::error_status)
      return finish(tag, c->status, o.error_address);
  }

  void drop(std::uint16_t tag, tlp::Drop why) {
    stats.drop(why);
    if (trace_on()) spdlog::trace("<- dropped on tag {}: {}", tag, tlp::drop_name(why));
  }

  void finish(std::uint16_t tag, tlp::CplStatus status, std::uint64_t err_addr) {
    Slot& s = slots[tag];
    const Job j = s.job;
    release(tag, j.attempts == 1 ? End::clean : End::retried);
    if (!j.batch) return probe_answered();
    --j.batch->inflight;
    --inflight;
    if (status == tlp::CplStatus::sc) {
      TransportStats::add(stats.bytes, j.len);
      stats.record_rtt(now - s.sent);
      if (j.attempts == 1) note_rtt(now - s.sent);  // Karn: only unambiguous samples
      else lossy_until = now + kLossMemory;
      last_good_addr = j.addr & ~std::uint64_t{3};
      return;
    }
    const bool ur = status == tlp::CplStatus::ur;
    TransportStats::add(ur ? stats.ur : stats.ca);
    j.batch->fail_range(
        j.range, ur ? Errc::unsupported_request : Errc::completer_abort, err_addr,
        fmt::format("{} reading physical {:#x}",
                    ur ? "unsupported request (UR)" : "completer abort (CA)", err_addr));
  }

  // ---- timeouts, deadlines and liveness ----
  void pop_stale_timers() {
    while (!timers.empty()) {
      const Timer& d = timers.top();
      const Slot& s = slots[d.tag];
      if (s.active && s.gen == d.gen) break;
      timers.pop();
    }
  }

  void check_timeouts() {
    for (pop_stale_timers(); !timers.empty() && timers.top().at <= now; pop_stale_timers()) {
      const Timer d = timers.top();
      timers.pop();
      Slot& s = slots[d.tag];
      // The link answered others since: wait for silence (or the timeout) from there.
      if (const Clock::time_point due = attempt_deadline(s); due > now) {
        timers.push({due, d.tag, d.gen});
        continue;
      }
      const Job j = s.job;
      // Above a fault already found in its range, a silent MRd is not worth more attempts;
      // below it, it is: the range reports its lowest unreadable address.
      if (j.batch && j.batch->range_failed(j.range) &&
          j.addr > j.batch->results[j.range].error().address) {
        drop_job(d.tag);
        continue;
      }
      if (last_rx < s.sent && probe == Probe::idle && j.batch) start_probe();
      if (j.attempts <= opt.retries) {
        TransportStats::add(stats.retries);
        transmit(d.tag);
        continue;
      }
      if (!j.batch) {
        release(d.tag, End::abandoned);
        probe = Probe::idle;
        declare_unreachable();
        return;
      }
      drop_job(d.tag);
      if (last_rx >= j.first_sent) {
        fail_timeout(j);
      } else {
        j.batch->parked.push_back(j);  // decided when the probe answers or not
        if (probe == Probe::idle) start_probe();
      }
    }
  }

  void fail_timeout(const Job& j) {
    TransportStats::add(stats.timeouts);
    j.batch->fail_range(j.range, Errc::timeout, j.addr,
                        fmt::format("no completion for physical {:#x} (+{}) after {} attempts",
                                    j.addr, j.len, j.attempts));
  }

  void start_probe() {
    probe_job = Job{last_good_addr, 4, probe_buf, nullptr, 0, 0, {}};
    probe = Probe::wanted;
    TransportStats::add(stats.probes);
  }

  void probe_answered() {
    probe = Probe::idle;
    for (Batch* b : active) {
      std::vector<Job> parked;
      parked.swap(b->parked);
      for (const Job& j : parked) fail_timeout(j);
    }
  }

  // Ends a batch now: whatever it has not read fails with `code` (its in-flight tags are held
  // back like after a timeout: their completions may still come).
  void abandon(Batch& b, Errc code, const std::function<std::string(std::uint64_t)>& why) {
    for (std::size_t t = 0; t < slots.size(); ++t)
      if (slots[t].active && slots[t].job.batch == &b) {
        b.fail_range(slots[t].job.range, code, slots[t].job.addr, why(slots[t].job.addr));
        drop_job(static_cast<std::uint16_t>(t));
      }
    b.fail_unsent(code, why);
  }

  void declare_unreachable() {
    TransportStats::add(stats.unreachable);
    spdlog::warn("NetTLP adapter {} does not answer", opt.adapter_ip);
    for (Batch* b : active)
      abandon(*b, Errc::unreachable, [&](std::uint64_t addr) {
        return fmt::format("NetTLP adapter {} does not answer (reading physical {:#x})",
                           opt.adapter_ip, addr);
      });
  }

  void expire_deadlines() {
    for (Batch* b : active)
      if (!b->done && b->deadline != kNoDeadline && now >= b->deadline) {
        TransportStats::add(stats.deadline_misses);
        abandon(*b, Errc::deadline, [](std::uint64_t addr) {
          return fmt::format("reply deadline reached before physical {:#x} was read", addr);
        });
      }
  }

  // Marks finished batches done and lets their callers go.
  void settle() {
    bool any = false;
    for (Batch* b : active)
      if (b->done || b->finished()) any = b->done = true;
    if (!any) return;
    std::erase_if(active, [](const Batch* b) { return b->done; });
    turn = active.empty() ? 0 : turn % active.size();
    cv.notify_all();
  }

  Clock::time_point wake_time() {
    pop_stale_timers();
    Clock::time_point t = timers.empty() ? Clock::time_point::max() : timers.top().at;
    if (probe == Probe::wanted) t = std::min(t, next_tag_time(probe_job.signature()));
    for (const Batch* b : active) {
      if (b->pending && inflight < window) t = std::min(t, next_tag_time(b->pending->signature()));
      if (b->deadline != kNoDeadline) t = std::min(t, b->deadline);
    }
    return t;
  }

  // Runs the link (with `lk` released while waiting on the sockets) until `self` is done.
  void pump(std::unique_lock<std::mutex>& lk, Batch& self) {
    std::vector<unsigned> ready;
    auto collect = [&](unsigned tag) { ready.push_back(tag); };
    auto receive_ready = [&] {
      now = Clock::now();
      for (unsigned tag : ready) drain(static_cast<std::uint16_t>(tag));
      ready.clear();
    };
    if (inflight == 0 && probe == Probe::idle) {  // whatever arrived while idle is stale
      ports->wait(Clock::now(), collect);
      receive_ready();
    }
    for (;;) {
      now = Clock::now();
      expire_deadlines();
      fill();
      end_send_burst();
      settle();
      if (self.done) break;
      const Clock::time_point until = wake_time();
      lk.unlock();
      ports->wait(until, collect);
      lk.lock();
      receive_ready();
      check_timeouts();
      end_send_burst();
    }
    if (active.empty() && probe != Probe::idle) {
      // A probe still out when the last batch ends is abandoned.
      for (std::size_t t = 0; t < slots.size(); ++t)
        if (slots[t].active) release(static_cast<std::uint16_t>(t), End::abandoned);
      probe = Probe::idle;
    }
  }

  void read(std::span<const ReadRange> rs, std::span<ReadStatus> out, Deadline deadline) {
    TransportStats::add(stats.batches);
    TransportStats::add(stats.ranges, rs.size());
    Batch b;
    b.ranges = rs;
    b.results = out;
    b.deadline = deadline;
    for (std::size_t i = 0; i < rs.size(); ++i) {
      out[i] = {};
      if (rs[i].addr.value + rs[i].out.size() < rs[i].addr.value)
        out[i] = std::unexpected(Error{Errc::invalid_argument,
                                       "read wraps around the address space", rs[i].addr.value});
    }
    if (expired(deadline)) {
      TransportStats::add(stats.deadline_misses);
      b.fail_unsent(Errc::deadline, [](std::uint64_t addr) {
        return fmt::format("reply deadline passed before physical {:#x} was asked for", addr);
      });
      return;
    }
    std::unique_lock lk(mu);
    active.push_back(&b);
    if (pumping) ports->wake();  // the pump, waiting on the sockets, takes this batch at once
    while (!b.done) {
      if (pumping) {
        cv.wait(lk);
        continue;
      }
      pumping = true;
      pump(lk, b);
      pumping = false;
      cv.notify_all();  // a waiting caller takes over the pump
    }
  }
};

Result<NetTlpOptions> parse_nettlp_options(std::string_view spec, NetTlpOptions o) {
  for (std::string_view item : split(spec, ',')) {
    item = trim(item);
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string_view::npos)
      return fail(Errc::invalid_argument, fmt::format("NetTLP option '{}' is not key=value", item));
    std::string_view k = item.substr(0, eq), v = item.substr(eq + 1);
    auto num = [&](std::uint64_t max) -> Result<std::uint64_t> {
      auto n = parse_size(v);
      if (!n || *n > max)
        return fail(Errc::invalid_argument, fmt::format("NetTLP option {}: bad value '{}'", k, v));
      return n;
    };
    Result<std::uint64_t> n = 0;
    if (k == "adapter") o.adapter_ip = v;
    else if (k == "local") o.local_ip = v;
    else if (k == "pcap") o.pcap = v;
    else if (k == "requester") {
      auto id = tlp::parse_bdf(v);
      if (!id) return std::unexpected(id.error());
      o.requester = *id;
    } else if (k == "tags") { if ((n = num(256))) o.tags = static_cast<unsigned>(*n); }
    else if (k == "window") { if ((n = num(256))) o.window = static_cast<unsigned>(*n); }
    else if (k == "mrrs") { if ((n = num(4096))) o.mrrs = static_cast<std::uint32_t>(*n); }
    else if (k == "timeout") { if ((n = num(600'000))) o.timeout = std::chrono::milliseconds(*n); }
    else if (k == "min_timeout") { if ((n = num(600'000'000))) o.min_timeout = std::chrono::microseconds(*n); }
    else if (k == "retries") { if ((n = num(100))) o.retries = static_cast<unsigned>(*n); }
    else if (k == "hold") { if ((n = num(10'000'000))) o.tag_hold = std::chrono::microseconds(*n); }
    else if (k == "abandon_hold") { if ((n = num(600'000))) o.abandon_hold = std::chrono::milliseconds(*n); }
    else if (k == "max") { if ((n = num(UINT64_MAX))) o.max_address = *n; }
    else return fail(Errc::invalid_argument, fmt::format("unknown NetTLP option '{}'", k));
    if (!n) return std::unexpected(n.error());
  }
  return o;
}

Result<std::unique_ptr<NetTlpClient>> NetTlpClient::open(const NetTlpOptions& o) {
  if (o.tags < 1 || o.tags > 256)
    return fail(Errc::invalid_argument, fmt::format("tags must be 1..256, not {}", o.tags));
  if (o.window > o.tags)
    return fail(Errc::invalid_argument, fmt::format("window {} exceeds tags {}", o.window, o.tags));
  if (!tlp::valid_mrrs(o.mrrs))
    return fail(Errc::invalid_argument,
                fmt::format("mrrs must be a power of two from 4 to 4096, not {}", o.mrrs));
  if (o.timeout.count() <= 0) return fail(Errc::invalid_argument, "timeout must be positive");
  if (o.min_timeout.count() <= 0)
    return fail(Errc::invalid_argument, "min_timeout must be positive");
  if (o.tag_hold.count() < 0 || o.abandon_hold.count() < 0)
    return fail(Errc::invalid_argument, "tag holds must not be negative");
  auto aip = parse_ipv4(o.adapter_ip);
  if (!aip) return std::unexpected(aip.error());
  if (o.adapter_ip == o.local_ip || *aip == parse_ipv4(o.local_ip).value_or(0))
    return fail(Errc::invalid_argument,
                fmt::format("adapter and local address are both {}: both ends bind ports "
                            "0x3000+tag, so they need two addresses (e.g. 127.0.0.2 and 127.0.0.1)",
                            o.adapter_ip));
  auto ports = UdpPorts::open(o.local_ip, o.tags, tlp::kTagPortBase, o.adapter_ip);
  if (!ports) return std::unexpected(ports.error());
  auto im = std::make_unique<Impl>();
  im->opt = o;
  im->window = o.window ? o.window : o.tags;
  im->ports = std::move(*ports);
  im->adapter_ip = *aip;
  if (!o.pcap.empty()) {
    auto p = PcapRecorder::open(o.pcap);
    if (!p) return std::unexpected(p.error());
    im->pcap = std::move(*p);
  }
  im->slots.resize(o.tags);
  for (unsigned t = 0; t < o.tags; ++t) im->free_tags.push_back(static_cast<std::uint16_t>(t));
  im->timeout = o.timeout;
  spdlog::debug("nettlp: {} -> {}, {} tags, window {}, mrrs {}, requester {}", o.local_ip,
                o.adapter_ip, o.tags, im->window, o.mrrs, tlp::format_bdf(o.requester));
  return std::unique_ptr<NetTlpClient>(new NetTlpClient(std::move(im)));
}

NetTlpClient::NetTlpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

NetTlpClient::~NetTlpClient() {
  if (impl_->stats.requests.load())
    spdlog::info("nettlp {} statistics:\n{}", impl_->opt.adapter_ip, impl_->stats.format());
  if (impl_->pcap) impl_->pcap->flush();
}

void NetTlpClient::do_read(std::span<const ReadRange> ranges, std::span<ReadStatus> results,
                           Deadline deadline) {
  impl_->read(ranges, results, deadline);
  if (impl_->pcap) {
    std::lock_guard lock(impl_->mu);
    impl_->pcap->flush();
  }
}

MemoryInfo NetTlpClient::info() const {
  MemoryInfo mi;
  mi.name = "nettlp:" + impl_->opt.adapter_ip;
  mi.max_address = impl_->opt.max_address;
  mi.preferred_batch = 1024;
  mi.read_only = true;
  return mi;
}

const TransportStats& NetTlpClient::stats() const { return impl_->stats; }
TransportStats& NetTlpClient::stats() { return impl_->stats; }
const NetTlpOptions& NetTlpClient::options() const { return impl_->opt; }

}  // namespace tlpstub
