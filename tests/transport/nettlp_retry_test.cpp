// When the NetTLP client re-sends a read and when it gives up, against a scripted adapter on a
// fast link: once the link has lost a datagram, a loss costs about a millisecond (the pace the
// adapter answers at), not a whole timeout; a clean link keeps the whole timeout (a short
// silence there is a stall, not a loss); a silent address and a dead adapter are given up only
// after the whole budget, (retries + 1) timeouts, as before retries got faster. Timeouts of
// 100 ms keep the bounds clear of the stalls a loaded machine adds to the measured pace.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "nettlp_test_util.hpp"
#include "transport/nettlp_client.hpp"

using namespace tlpstub;
using namespace tlpstub::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::uint64_t kSilentFrom = 0x40000000;  // the adapter never answers at or above

// An adapter that answers from image_byte(), ignores first attempts while `drop_first` is set,
// everything while `dead` is set, and records when each request arrived.
struct ScriptedLink {
  LoopbackPair net = unique_loopback();
  std::atomic<bool> drop_first{false}, dead{false};
  std::mutex mu;
  std::map<std::pair<std::uint64_t, std::uint32_t>, std::vector<Clock::time_point>> arrivals;
  FakeAdapter fake{net.adapter, [this](const tlp::RequestTlp& r, unsigned port,
                                       const UdpEndpointV4& from) {
                     std::size_t seen;
                     {
                       std::lock_guard lock(mu);
                       auto& a = arrivals[{r.start, r.len}];
                       a.push_back(Clock::now());
                       seen = a.size();
                     }
                     if (dead || r.start >= kSilentFrom || (drop_first && seen == 1)) return;
                     Bytes data(r.len);
                     for (std::uint32_t i = 0; i < r.len; ++i) data[i] = image_byte(r.start + i);
                     for (auto& c : good_completions(r, data)) fake.send(port, c, from);
                   }};

  std::vector<Clock::time_point> times(std::uint64_t addr, std::uint32_t len) {
    std::lock_guard lock(mu);
    return arrivals[{addr, len}];
  }

  std::unique_ptr<NetTlpClient> client(NetTlpOptions co = {}) {
    co.adapter_ip = net.adapter;
    co.local_ip = net.local;
    auto c = NetTlpClient::open(co);
    EXPECT_TRUE(c) << c.error().message;
    return c ? std::move(*c) : nullptr;
  }
};

// Serial single reads, as discovery's page-table walks make them: the client learns the link.
void warm_up(NetTlpClient& c) {
  for (std::uint64_t i = 0; i < 50; ++i) {
    Bytes b(64);
    ASSERT_TRUE(c.read_one(PhysAddr(0x100000 + i * 64), b));
  }
}

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// One read whose first attempt the adapter ignores: the link has lost a datagram.
void lose_one(ScriptedLink& link, NetTlpClient& c, std::uint64_t addr) {
  link.drop_first = true;
  Bytes b(64);
  ASSERT_TRUE(c.read_one(PhysAddr(addr), b));
  link.drop_first = false;
}

}  // namespace

TEST(NetTlpRetry, LostDatagramCostsAboutAMillisecondNotATimeout) {
  ScriptedLink link;
  NetTlpOptions co;
  co.timeout = 100ms;  // min_timeout 1 ms, 6 retries: the defaults
  auto c = link.client(co);
  ASSERT_TRUE(c);
  warm_up(*c);
  link.drop_first = true;
  // The first loss is waited out for a whole timeout: the link was clean so far.
  Bytes first(64);
  auto t_first = Clock::now();
  ASSERT_TRUE(c->read_one(PhysAddr(0x1ff000), first));
  EXPECT_GE(ms(Clock::now() - t_first), 100.0);
  constexpr int kReads = 20;
  const auto t0 = Clock::now();
  for (std::uint64_t i = 0; i < kReads; ++i) {
    Bytes b(64);
    ASSERT_TRUE(c->read_one(PhysAddr(0x200000 + i * 64), b));
    ASSERT_EQ(b, [&] {
      Bytes w(64);
      for (std::size_t k = 0; k < 64; ++k) w[k] = image_byte(0x200000 + i * 64 + k);
      return w;
    }());
  }
  const auto dt = Clock::now() - t0;
  EXPECT_GE(c->stats().retries.load(), static_cast<std::uint64_t>(kReads));
  // A retry after the full timeout would make this >= kReads * 100 ms = 2 s.
  EXPECT_LT(ms(dt), kReads * 100 / 2) << "retries waited for (almost) the whole timeout";
  EXPECT_EQ(c->stats().timeouts.load(), 0u);
}

TEST(NetTlpRetry, SilentAddressBacksOffAndGetsTheWholeBudget) {
  ScriptedLink link;
  NetTlpOptions co;
  co.timeout = 100ms;
  co.retries = 6;
  auto c = link.client(co);
  ASSERT_TRUE(c);
  warm_up(*c);
  lose_one(link, *c, 0x1ff000);
  Bytes b(32);
  const auto t0 = Clock::now();
  auto st = c->read_one(PhysAddr(kSilentFrom), b);
  const auto dt = Clock::now() - t0;
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::timeout);
  EXPECT_EQ(st.error().address, kSilentFrom);
  EXPECT_EQ(c->stats().unreachable.load(), 0u);  // the liveness probe was answered
  // Not given up sooner than (retries + 1) timeouts: what a silent address always cost.
  EXPECT_GE(ms(dt), 7 * 100.0);
  EXPECT_LT(ms(dt), 3000.0);
  const auto at = link.times(kSilentFrom, 32);
  ASSERT_EQ(at.size(), 7u) << "retries + 1 attempts";
  // The first retry follows the link's pace (~1 ms), not the 100 ms timeout; each later one
  // waits at least twice as long as the floor of the one before, up to the timeout.
  EXPECT_LT(ms(at[1] - at[0]), 50.0);
  for (std::size_t i = 1; i < at.size(); ++i) {
    const double floor_ms = std::min(1.0 * (1 << (i - 1)), 100.0);
    EXPECT_GE(ms(at[i] - at[i - 1]), floor_ms * 0.95) << "attempt " << i + 1;
  }
}

TEST(NetTlpRetry, DeadAdapterAfterAFastLinkIsDeclaredAfterTheWholeBudget) {
  ScriptedLink link;
  NetTlpOptions co;
  co.timeout = 100ms;
  auto c = link.client(co);
  ASSERT_TRUE(c);
  warm_up(*c);
  lose_one(link, *c, 0x1ff000);
  link.dead = true;
  std::vector<Bytes> bufs(8, Bytes(512));  // few requests out: silence, not a stall
  std::vector<ReadRange> rr;
  for (std::size_t i = 0; i < bufs.size(); ++i) rr.push_back({PhysAddr(0x300000 + i * 512), bufs[i]});
  std::vector<ReadStatus> st(rr.size());
  const auto t0 = Clock::now();
  c->read(rr, st);
  const auto dt = Clock::now() - t0;
  for (std::size_t i = 0; i < st.size(); ++i) {
    ASSERT_FALSE(st[i]);
    EXPECT_EQ(st[i].error().code, Errc::unreachable) << i;
  }
  EXPECT_EQ(c->stats().unreachable.load(), 1u);
  // The probe is given up like any read: after (retries + 1) timeouts of silence, 700 ms.
  EXPECT_GE(ms(dt), 7 * 100.0);
  EXPECT_LT(ms(dt), 3000.0);
  // The link comes back: the next batch reads again.
  link.dead = false;
  Bytes b(64);
  EXPECT_TRUE(c->read_one(PhysAddr(0x1000), b));
}
