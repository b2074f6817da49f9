// The NetTLP client on a faulty link (issue 12): every completion duplicated, 200 ms stalls on
// top of loss and reordering, an adapter that hangs, and one that restarts with its state
// reset (frame counter and clock stamps from zero, every socket closed and bound again).
// What must hold: a read returns the image's bytes or a clear error (a deadline with a correct
// prefix, a timeout, the adapter unreachable), never wrong bytes; once the adapter answers
// again, reads work without anything done to the client.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "nettlp_rig.hpp"

using namespace tlpstub;
using namespace tlpstub::test;
using namespace std::chrono_literals;

namespace {

// What a batch of reads came back as; `wrong` must stay zero.
struct Tally {
  std::atomic<int> complete{0}, cut{0}, timed_out{0}, unreachable{0}, other{0}, wrong{0};
};

bool matches(const TempImage& img, std::uint64_t addr, const Bytes& buf, std::size_t n) {
  const Bytes want = img.expect(addr, n);
  return std::equal(want.begin(), want.end(), buf.begin());
}

// One batch with gdb's reply budget (1.5 s), classified into `t`.
void read_batch(Rig& rig, std::mt19937_64& rng, Tally& t, std::size_t n = 16,
                std::size_t max_len = 8192) {
  auto reads = random_reads(rng, n, max_len);
  std::vector<ReadRange> rr;
  for (auto& r : reads) rr.push_back({PhysAddr(r.addr), r.buf});
  std::vector<ReadStatus> st(rr.size());
  rig.client->read(rr, st, SteadyClock::now() + 1500ms);
  for (std::size_t i = 0; i < reads.size(); ++i) {
    if (st[i]) {
      ++t.complete;
      if (!matches(rig.image, reads[i].addr, reads[i].buf, reads[i].buf.size())) ++t.wrong;
      continue;
    }
    const Error& e = st[i].error();
    if (e.code == Errc::deadline) {
      ++t.cut;
      // The prefix before the reported address was read, and must be right.
      const std::uint64_t k = e.address - reads[i].addr;
      if (k > reads[i].buf.size() || !matches(rig.image, reads[i].addr, reads[i].buf, k))
        ++t.wrong;
    } else if (e.code == Errc::timeout) {
      ++t.timed_out;
    } else if (e.code == Errc::unreachable) {
      ++t.unreachable;
    } else {
      ++t.other;
      ADD_FAILURE() << "unexpected error: " << e.message;
    }
  }
}

// Replaces the rig's adapter by a fresh tlpsim on the same address: new sockets, frame
// counter and timestamps from zero, another random stream.
void restart_adapter(Rig& rig, TlpSimOptions so, std::chrono::milliseconds down) {
  EXPECT_EQ(rig.sim->write_violations(), 0u);
  rig.sim.reset();
  std::this_thread::sleep_for(down);
  auto mem = MemoryFile::open(rig.image.path);
  ASSERT_TRUE(mem) << mem.error().message;
  so.listen_ip = rig.net.adapter;
  auto s = TlpSim::open(std::shared_ptr<const MemoryFile>(std::move(*mem)), so);
  ASSERT_TRUE(s) << s.error().message;
  rig.sim = std::move(*s);
  rig.sim->start();
}

}  // namespace

TEST(NetTlpFaultyLink, EveryCompletionDuplicatedIsReadOnce) {
  TlpSimOptions so;
  so.duplicate = 1.0;
  so.reorder = 0.05;
  so.latency = 12us;
  Rig rig(so);
  std::mt19937_64 rng(12);
  for (int round = 0; round < 5; ++round) {
    auto reads = random_reads(rng, 200, 4000);
    read_and_check(*rig.client, rig.image, reads);
  }
  const auto dups = rig.client->stats().drops[static_cast<std::size_t>(tlp::Drop::duplicate)].load();
  EXPECT_GT(dups, 0u) << "no duplicate was recognized: were completions duplicated at all?";
  EXPECT_GT(rig.sim->counters().duplicated, 0u);
}

// 200 ms stalls every 600 ms on a link that also loses, reorders and duplicates 5 %: the
// client retries into the stall, then gets every attempt's completions at once when it ends.
TEST(NetTlpFaultyLink, StallsOf200msCostTimeNotCorrectness) {
  TlpSimOptions so;
  so.latency = 12us;
  so.loss = 0.05;
  so.reorder = 0.05;
  so.duplicate = 0.05;
  so.stall = 200ms;
  so.stall_every = 600ms;
  Rig rig(so);
  Tally t;
  std::vector<std::thread> readers;
  const auto until = SteadyClock::now() + 2500ms;  // four stalls at least
  for (int k = 0; k < 4; ++k)
    readers.emplace_back([&, k] {
      std::mt19937_64 rng(100 + k);
      while (SteadyClock::now() < until) read_batch(rig, rng, t);
    });
  for (auto& r : readers) r.join();
  EXPECT_EQ(t.wrong.load(), 0);
  EXPECT_EQ(t.other.load(), 0);
  EXPECT_GT(t.complete.load(), 100);
  EXPECT_GT(rig.sim->counters().stalled, 0u) << "the link never stalled";
  RecordProperty("complete", t.complete.load());
  RecordProperty("cut_by_deadline", t.cut.load());
  RecordProperty("timed_out", t.timed_out.load());
  RecordProperty("unreachable", t.unreachable.load());
}

// The adapter is gone for a while (its process restarted: sockets closed, ICMP port
// unreachable meanwhile), comes back with its state reset, and reads recover by themselves.
TEST(NetTlpFaultyLink, AdapterRestartMidSessionRecoversByItself) {
  TlpSimOptions so;
  so.latency = 12us;
  so.duplicate = 0.05;
  so.reorder = 0.05;
  Rig rig(so);
  Tally before, during, after;
  std::atomic<int> phase{0};  // 0 before, 1 adapter down, 2 back
  std::vector<std::thread> readers;
  std::atomic<bool> stop{false};
  for (int k = 0; k < 4; ++k)
    readers.emplace_back([&, k] {
      std::mt19937_64 rng(200 + k);
      while (!stop) {
        const int p = phase.load();
        Tally tmp;
        read_batch(rig, rng, tmp, 8, 4096);
        Tally& into = p == 0 ? before : p == 1 ? during : after;
        // A batch that began before the adapter came back may fail; count it where it began.
        into.complete += tmp.complete;
        into.cut += tmp.cut;
        into.timed_out += tmp.timed_out;
        into.unreachable += tmp.unreachable;
        into.other += tmp.other;
        into.wrong += tmp.wrong;
      }
    });
  std::this_thread::sleep_for(300ms);
  phase = 1;
  so.seed = 4242;  // another random stream than the first adapter's
  restart_adapter(rig, so, 2s);
  phase = 2;
  // Reads work again within a bound, with nothing done to the client.
  const auto back = SteadyClock::now();
  while (after.complete.load() == 0 && SteadyClock::now() - back < 5s)
    std::this_thread::sleep_for(10ms);
  const auto recovery = SteadyClock::now() - back;
  std::this_thread::sleep_for(1s);
  stop = true;
  for (auto& r : readers) r.join();
  for (Tally* t : {&before, &during, &after}) {
    EXPECT_EQ(t->wrong.load(), 0);
    EXPECT_EQ(t->other.load(), 0);
  }
  EXPECT_GT(before.complete.load(), 0);
  EXPECT_GT(during.cut + during.timed_out + during.unreachable, 0)
      << "no read failed while the adapter was down";
  EXPECT_GT(after.complete.load(), 0) << "reads did not come back by themselves";
  EXPECT_LT(recovery, 3s);
  // After the first batch that failed across the restart, later ones are whole again.
  std::mt19937_64 rng(7);
  auto reads = random_reads(rng, 300, 4000);
  read_and_check(*rig.client, rig.image, reads);
  RecordProperty("recovery_ms",
                 static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(recovery).count()));
}

// A hung adapter (sockets open, nothing answered; its queued requests are answered late when
// it resumes, as a paused process would): the late completions never land in newer reads.
TEST(NetTlpFaultyLink, HungAdapterThatResumesAnswersNothingWrong) {
  TlpSimOptions so;
  so.latency = 12us;
  // A stall longer than the reply budget and than the client's whole retry budget: from
  // 2.5 s to 5 s after the start (the next one begins at 7.5 s).
  so.stall = 2500ms;
  so.stall_every = 5s;
  Rig rig(so);
  Tally t;
  std::vector<std::thread> readers;
  const auto until = SteadyClock::now() + 6s;  // reads before, during and after the stall
  for (int k = 0; k < 4; ++k)
    readers.emplace_back([&, k] {
      std::mt19937_64 rng(300 + k);
      while (SteadyClock::now() < until) read_batch(rig, rng, t, 8, 4096);
    });
  for (auto& r : readers) r.join();
  EXPECT_EQ(t.wrong.load(), 0);
  EXPECT_EQ(t.other.load(), 0);
  EXPECT_GT(t.cut + t.timed_out + t.unreachable, 0) << "the hang was not noticed";
  EXPECT_GT(rig.sim->counters().stalled, 0u);
  // The resumed adapter works off its backlog of stale requests; then reads are whole again.
  std::this_thread::sleep_for(500ms);
  std::mt19937_64 rng(8);
  auto reads = random_reads(rng, 300, 4000);
  read_and_check(*rig.client, rig.image, reads);
}
