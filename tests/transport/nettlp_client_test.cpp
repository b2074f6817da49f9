// NetTlpClient against an in-process tlpsim (and a scripted fake adapter) over loopback:
// tlpsim on 127.A.B.2, the client on 127.A.B.1.
#include "transport/nettlp_client.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <thread>
#include <spdlog/spdlog.h>

#include "nettlp_rig.hpp"
#include "transport/tlpsim.hpp"

using namespace tlpstub;
using namespace tlpstub::test;
using namespace std::chrono_literals;

TEST(NetTlpClient, LoopbackAddressesWork) {
  // Both ends bind the same ports; this needs 127.0.0.0/8 beyond 127.0.0.1 to be usable.
  auto net = unique_loopback();
  auto a = UdpPorts::open(net.adapter, 1, tlp::kTagPortBase, std::nullopt);
  auto b = UdpPorts::open(net.local, 1, tlp::kTagPortBase, net.adapter);
  ASSERT_TRUE(a && b);
}

TEST(NetTlpClient, RandomReadsMatchFile) {
  Rig rig;
  std::mt19937_64 rng(1);
  for (int round = 0; round < 5; ++round) {
    auto reads = random_reads(rng, 300, 9000);
    read_and_check(*rig.client, rig.image, reads);
  }
  EXPECT_EQ(rig.client->stats().timeouts.load(), 0u);
  EXPECT_EQ(rig.client->stats().total_drops(), 0u);
  EXPECT_GT(rig.client->stats().inflight_peak.load(), 100u);
}

TEST(NetTlpClient, OddSizesAndAlignments) {
  Rig rig;
  std::vector<Read> reads;
  for (std::uint64_t a : {0x0ull, 0x1ull, 0x2ull, 0x3ull, 0xFFDull, 0x1FFFull, 0x3FFFF0ull})
    for (std::size_t n : {1u, 2u, 3u, 4u, 5u, 7u, 63u, 64u, 65u, 511u, 512u, 513u, 4096u, 4099u})
      if (a + n <= kImage) reads.push_back({a, Bytes(n)});
  read_and_check(*rig.client, rig.image, reads);
  // An empty range and an empty batch succeed.
  Bytes none;
  EXPECT_TRUE(rig.client->read_one(PhysAddr(0x100), none));
  rig.client->read({}, {});
}

TEST(NetTlpClient, SequentialFourMiB) {
  Rig rig;
  std::vector<Read> reads{{0, Bytes(kImage)}};
  read_and_check(*rig.client, rig.image, reads);
  EXPECT_EQ(rig.client->stats().requests.load(), kImage / 512);
  EXPECT_EQ(rig.client->stats().completions.load(), kImage / 256);
  EXPECT_EQ(rig.client->stats().bytes.load(), kImage);
}

TEST(NetTlpClient, Above4GiBUses4dw) {
  Rig rig({}, {}, {{0x100000000ull, 0, kImage}});
  std::mt19937_64 rng(2);
  auto reads = random_reads(rng, 100, 3000, 0x100000000ull);
  read_and_check(*rig.client, rig.image, reads, 0x100000000ull);
}

TEST(NetTlpClient, MrrsTagsAndWindowOptions) {
  for (auto [mrrs, tags, window] : {std::tuple(128u, 256u, 0u), std::tuple(4096u, 16u, 0u),
                                    std::tuple(512u, 256u, 1u), std::tuple(256u, 1u, 0u)}) {
    NetTlpOptions co;
    co.mrrs = mrrs;
    co.tags = tags;
    co.window = window;
    Rig rig({}, co);
    std::vector<Read> reads{{0x1000, Bytes(64 << 10)}, {0x30003, Bytes(5000)}};
    read_and_check(*rig.client, rig.image, reads);
    std::uint64_t expect_requests = (64 << 10) / mrrs;
    for (std::uint64_t a = 0x30003, left = 5000; left;) {
      auto n = tlp::next_chunk(a, left, mrrs);
      a += n, left -= n, ++expect_requests;
    }
    EXPECT_EQ(rig.client->stats().requests.load(), expect_requests) << mrrs;
    EXPECT_LE(rig.client->stats().inflight_peak.load(), window ? window : tags);
  }
}

TEST(NetTlpClient, LossReorderDuplicate) {
  if (getenv("TLP_TRACE")) spdlog::set_level(spdlog::level::trace);
  TlpSimOptions so;
  so.loss = 0.03;
  so.reorder = 0.2;
  so.duplicate = 0.2;
  so.latency = 20us;
  NetTlpOptions co;
  co.timeout = 10ms;
  co.retries = 10;
  Rig rig(so, co);
  std::mt19937_64 rng(3);
  for (int round = 0; round < 4; ++round) {
    auto reads = random_reads(rng, 200, 6000);
    read_and_check(*rig.client, rig.image, reads);
  }
  std::vector<Read> big{{0x10000, Bytes(1 << 20)}};
  read_and_check(*rig.client, rig.image, big);
  const auto& st = rig.client->stats();
  EXPECT_GT(st.retries.load(), 0u);
  EXPECT_GT(st.drops[static_cast<int>(tlp::Drop::duplicate)].load() +
                st.drops[static_cast<int>(tlp::Drop::stale)].load(),
            0u);
  EXPECT_GT(rig.sim->counters().reordered, 0u);
  EXPECT_GT(rig.sim->counters().lost, 0u);
}

TEST(NetTlpClient, UnbackedSilentIsTimeout) {
  NetTlpOptions co;
  co.timeout = 20ms;
  co.retries = 2;
  Rig rig({}, co);
  Bytes ok(64);
  ASSERT_TRUE(rig.client->read_one(PhysAddr(0x1000), ok));
  // One range partly unbacked, one wholly, one good, in one batch.
  std::vector<Bytes> bufs{Bytes(8192), Bytes(100), Bytes(300)};
  std::vector<ReadRange> rr{{PhysAddr(kImage - 4096), bufs[0]},
                            {PhysAddr(0x40000000), bufs[1]},
                            {PhysAddr(0x2000), bufs[2]}};
  std::vector<ReadStatus> st(3);
  auto t0 = std::chrono::steady_clock::now();
  rig.client->read(rr, st);
  auto dt = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(dt, 2s);
  ASSERT_FALSE(st[0]);
  EXPECT_EQ(st[0].error().code, Errc::timeout);
  EXPECT_EQ(st[0].error().address, kImage);  // the first unreadable byte's MRd
  ASSERT_FALSE(st[1]);
  EXPECT_EQ(st[1].error().code, Errc::timeout);
  EXPECT_EQ(st[1].error().address, 0x40000000u);
  ASSERT_TRUE(st[2]);
  EXPECT_EQ(bufs[2], rig.image.expect(0x2000, 300));
  EXPECT_TRUE(rig.client->read_one(PhysAddr(0x1000), ok));  // keeps working
  EXPECT_EQ(rig.client->stats().unreachable.load(), 0u);
}

TEST(NetTlpClient, UnbackedUrIsTypedError) {
  TlpSimOptions so;
  so.unbacked = TlpSimOptions::Unbacked::ur;
  Rig rig(so);
  Bytes buf(2000);
  auto st = rig.client->read_one(PhysAddr(kImage - 1000), buf);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::unsupported_request);
  // The first MRd past the end: kImage - 1000 .. next 512-byte boundary is served.
  EXPECT_EQ(st.error().address, kImage);
  EXPECT_EQ(rig.client->stats().ur.load(), 2u);  // two MRds lie past the end
  auto st2 = rig.client->read_one(PhysAddr(0x7000000000ull), buf);
  ASSERT_FALSE(st2);
  EXPECT_EQ(st2.error().code, Errc::unsupported_request);
  EXPECT_EQ(st2.error().address, 0x7000000000ull);
}

TEST(NetTlpClient, UnreachableAdapterReportedFast) {
  auto net = unique_loopback();
  NetTlpOptions co;
  co.adapter_ip = net.adapter;  // nobody listens there
  co.local_ip = net.local;
  // Every request of round 1 is abandoned, and all of them have signature 0 (page-aligned
  // 512-byte reads): each tag then holds that signature for abandon_hold (3 s by default, the
  // price of never taking a hung adapter's late answers for new ones; NetTlpFaultyLink). This
  // test is about how fast "unreachable" is reported, so round 2 must not wait for tags.
  co.abandon_hold = std::chrono::milliseconds(100);
  auto c = NetTlpClient::open(co);  // default timeout and retries
  ASSERT_TRUE(c);
  std::vector<Bytes> bufs(2000, Bytes(4096));
  std::vector<ReadRange> rr;
  for (std::size_t i = 0; i < bufs.size(); ++i) rr.push_back({PhysAddr(i * 4096), bufs[i]});
  std::vector<ReadStatus> st(rr.size());
  for (int round = 0; round < 2; ++round) {
    auto t0 = std::chrono::steady_clock::now();
    (*c)->read(rr, st);
    auto dt = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(dt, 2s) << "round " << round;
    for (std::size_t i = 0; i < st.size(); ++i) {
      ASSERT_FALSE(st[i]);
      ASSERT_EQ(st[i].error().code, Errc::unreachable) << i;
      ASSERT_EQ(st[i].error().address, i * 4096);
    }
  }
  EXPECT_EQ((*c)->stats().unreachable.load(), 2u);
}

TEST(NetTlpClient, ConcurrentReaders) {
  Rig rig;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      for (int round = 0; round < 20; ++round) {
        auto reads = random_reads(rng, 50, 2000);
        std::vector<ReadRange> rr;
        for (auto& r : reads) rr.push_back({PhysAddr(r.addr), r.buf});
        std::vector<ReadStatus> st(rr.size());
        rig.client->read(rr, st);
        for (std::size_t i = 0; i < reads.size(); ++i)
          if (!st[i] || reads[i].buf != rig.image.expect(reads[i].addr, reads[i].buf.size())) ++failures;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(NetTlpClient, OpenFailsCleanly) {
  auto net = unique_loopback();
  NetTlpOptions co;
  co.adapter_ip = net.adapter;
  co.local_ip = net.local;
  auto bad = [&](auto mutate, Errc want) {
    NetTlpOptions o = co;
    mutate(o);
    auto c = NetTlpClient::open(o);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code, want) << c.error().message;
  };
  bad([](NetTlpOptions& o) { o.adapter_ip = "300.1.2.3"; }, Errc::invalid_argument);
  bad([](NetTlpOptions& o) { o.local_ip = "localhost-ish"; }, Errc::invalid_argument);
  bad([&](NetTlpOptions& o) { o.local_ip = o.adapter_ip; }, Errc::invalid_argument);
  bad([](NetTlpOptions& o) { o.mrrs = 500; }, Errc::invalid_argument);
  bad([](NetTlpOptions& o) { o.tags = 0; }, Errc::invalid_argument);
  bad([](NetTlpOptions& o) { o.tags = 257; }, Errc::invalid_argument);
  bad([](NetTlpOptions& o) { o.tags = 16; o.window = 32; }, Errc::invalid_argument);
  bad([](NetTlpOptions& o) { o.local_ip = "192.0.2.1"; }, Errc::io);  // not our address
  bad([](NetTlpOptions& o) { o.pcap = "/nonexistent-dir/x.pcap"; }, Errc::io);
  {
    auto first = NetTlpClient::open(co);
    ASSERT_TRUE(first);
    auto second = NetTlpClient::open(co);  // same ports
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, Errc::io);
    EXPECT_NE(second.error().message.find("in use"), std::string::npos) << second.error().message;
  }
  EXPECT_TRUE(NetTlpClient::open(co));  // ports free again
}

TEST(NetTlpClient, ParseOptions) {
  auto o = parse_nettlp_options(
      "adapter=192.168.10.1,local=192.168.10.3,requester=1b:00.0,tags=16,mrrs=1K,timeout=100,"
      "retries=5,hold=20,pcap=/tmp/x.pcap,window=8,max=8G,min_timeout=500");
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->adapter_ip, "192.168.10.1");
  EXPECT_EQ(o->local_ip, "192.168.10.3");
  EXPECT_EQ(o->requester, 0x1b00);
  EXPECT_EQ(o->tags, 16u);
  EXPECT_EQ(o->mrrs, 1024u);
  EXPECT_EQ(o->timeout, 100ms);
  EXPECT_EQ(o->retries, 5u);
  EXPECT_EQ(o->tag_hold, 20us);
  EXPECT_EQ(o->min_timeout, 500us);
  EXPECT_EQ(o->window, 8u);
  EXPECT_EQ(o->pcap, "/tmp/x.pcap");
  EXPECT_EQ(o->max_address, 8ull << 30);
  EXPECT_FALSE(parse_nettlp_options("tags=300"));
  EXPECT_FALSE(parse_nettlp_options("bogus=1"));
  EXPECT_FALSE(parse_nettlp_options("requester=zz"));
  EXPECT_FALSE(parse_nettlp_options("tags"));
}

// ---- spoofed, truncated, duplicated and late datagrams (scripted adapter) ----

TEST(NetTlpClient, SpoofedAndMalformedDatagramsAreDropped) {
  auto net = unique_loopback();
  const Bytes evil(4096, 0xEE);
  FakeAdapter fake(net.adapter, [&](const tlp::RequestTlp& r, unsigned port, const UdpEndpointV4& from) {
    const Bytes data = [&] { Bytes b(r.len); for (std::uint32_t i = 0; i < r.len; ++i) b[i] = image_byte(r.start + i); return b; }();
    std::vector<Bytes> junk;
    auto with = [&](auto mutate) {
      tlp::CplParams p{0, tlp::CplStatus::sc, r.len, r.requester, r.tag, r.start};
      mutate(p);
      Bytes c;
      tlp::encode_completion(p, {evil.data(), std::min<std::size_t>(r.len, 256)}, c);
      junk.push_back(c);
    };
    with([](tlp::CplParams& p) { p.requester ^= 0x0100; });         // wrong requester
    with([](tlp::CplParams& p) { p.tag = static_cast<std::uint8_t>(p.tag + 1); });  // wrong tag
    with([](tlp::CplParams& p) { p.byte_count += 4; p.addr -= 4; }); // byte count beyond the request
    with([](tlp::CplParams& p) { p.addr += 64; });                    // lower address off
    Bytes truncated = good_completions(r, data)[0];
    truncated.resize(truncated.size() - 5);
    junk.push_back(truncated);
    // One frame: begin() and end() of two temporaries made a range across two objects (found
    // by ASan, .ci/sanitize).
    const tlp::Frame mrd = tlp::encode_mrd({r.start, 4, r.requester, r.tag});
    junk.push_back(Bytes(mrd.view().begin(), mrd.view().end()));  // wrong type
    junk.push_back(Bytes{0, 0, 0, 0, 0, 0, 0x40, 0, 0, 1, 0, 0, 0, 0x0F, 0, 0, 0x10, 0, 1, 2, 3, 4});  // MWr
    junk.push_back(Bytes(18 + 256, 0));  // zeroed header (adapter FIFO overflow)
    junk.push_back(Bytes(3, 0x4A));      // runt
    auto good = good_completions(r, data);
    for (auto& j : junk) fake.send(port, j, from);
    for (auto& g : good) fake.send(port, g, from);
    // Duplicates of the good completions with evil data: same headers, different bytes.
    for (auto& g : good) {
      Bytes d = g;
      std::fill(d.begin() + tlp::kCplHeaderSize, d.end(), 0xEE);
      fake.send(port, d, from);
    }
  });
  NetTlpOptions co;
  co.adapter_ip = net.adapter;
  co.local_ip = net.local;
  co.timeout = 200ms;
  auto c = NetTlpClient::open(co);
  ASSERT_TRUE(c);
  for (int round = 0; round < 3; ++round) {
    std::vector<Read> reads;
    for (std::uint64_t i = 0; i < 40; ++i) reads.push_back({0x10000 + i * 700 + static_cast<std::uint64_t>(round), Bytes(600)});
    std::vector<ReadRange> rr;
    for (auto& r : reads) rr.push_back({PhysAddr(r.addr), r.buf});
    std::vector<ReadStatus> st(rr.size());
    (*c)->read(rr, st);
    for (std::size_t i = 0; i < reads.size(); ++i) {
      ASSERT_TRUE(st[i]) << st[i].error().message;
      Bytes want(reads[i].buf.size());
      for (std::size_t k = 0; k < want.size(); ++k) want[k] = image_byte(reads[i].addr + k);
      ASSERT_EQ(reads[i].buf, want) << i;
    }
  }
  const auto& s = (*c)->stats();
  using tlp::Drop;
  auto d = [&](Drop r) { return s.drops[static_cast<int>(r)].load(); };
  EXPECT_GT(d(Drop::wrong_requester), 0u);
  EXPECT_GT(d(Drop::wrong_tag), 0u);
  EXPECT_GT(d(Drop::inconsistent), 0u);
  EXPECT_GT(d(Drop::truncated), 0u);
  EXPECT_GT(d(Drop::bad_type), 0u);
  EXPECT_GT(d(Drop::duplicate) + d(Drop::stale), 0u);
  EXPECT_EQ(s.timeouts.load(), 0u);
}

TEST(NetTlpClient, LateCompletionsNeverLandElsewhere) {
  // The adapter ignores the first attempt of every request; when the retry comes (on another
  // tag) it answers it correctly and then answers the first attempt late, with wrong bytes.
  auto net = unique_loopback();
  struct First { std::uint64_t start; std::uint32_t len; unsigned port; UdpEndpointV4 from; tlp::RequestTlp r; };
  std::vector<First> firsts;
  FakeAdapter* self = nullptr;
  FakeAdapter fake(net.adapter, [&](const tlp::RequestTlp& r, unsigned port, const UdpEndpointV4& from) {
    auto it = std::find_if(firsts.begin(), firsts.end(),
                           [&](const First& f) { return f.start == r.start && f.len == r.len; });
    if (it == firsts.end()) {
      firsts.push_back({r.start, r.len, port, from, r});
      return;
    }
    Bytes data(r.len);
    for (std::uint32_t i = 0; i < r.len; ++i) data[i] = image_byte(r.start + i);
    for (auto& g : good_completions(r, data)) self->send(port, g, from);
    Bytes evil(r.len, 0xEE);
    for (auto& g : good_completions(it->r, evil)) self->send(it->port, g, it->from);
    firsts.erase(it);
  });
  self = &fake;
  NetTlpOptions co;
  co.adapter_ip = net.adapter;
  co.local_ip = net.local;
  co.timeout = 15ms;
  auto c = NetTlpClient::open(co);
  ASSERT_TRUE(c);
  for (int round = 0; round < 3; ++round) {
    std::vector<Read> reads;
    for (std::uint64_t i = 0; i < 64; ++i) reads.push_back({0x200000 + i * 512, Bytes(512)});
    std::vector<ReadRange> rr;
    for (auto& r : reads) rr.push_back({PhysAddr(r.addr), r.buf});
    std::vector<ReadStatus> st(rr.size());
    (*c)->read(rr, st);
    for (std::size_t i = 0; i < reads.size(); ++i) {
      ASSERT_TRUE(st[i]) << st[i].error().message;
      for (std::size_t k = 0; k < 512; ++k)
        ASSERT_EQ(reads[i].buf[k], image_byte(reads[i].addr + k)) << i << "+" << k;
    }
  }
  EXPECT_GT((*c)->stats().drops[static_cast<int>(tlp::Drop::stale)].load(), 0u);
  EXPECT_GT((*c)->stats().retries.load(), 0u);
}

TEST(TlpSim, CountsWriteViolations) {
  TempImage img(1 << 16);
  auto net = unique_loopback();
  auto mem = MemoryFile::open(img.path);
  ASSERT_TRUE(mem);
  TlpSimOptions so;
  so.listen_ip = net.adapter;
  auto sim = TlpSim::open(std::shared_ptr<const MemoryFile>(std::move(*mem)), so);
  ASSERT_TRUE(sim);
  (*sim)->start();
  auto raw = UdpPorts::open(net.local, 1, tlp::kTagPortBase, net.adapter);
  ASSERT_TRUE(raw);
  Bytes mwr{0, 0, 0, 0, 0, 0, 0x40, 0, 0, 1, 0, 0, 0, 0x0F, 0, 0, 0x10, 0, 1, 2, 3, 4};
  Bytes mwr64{0, 0, 0, 0, 0, 0, 0x60, 0, 0, 1, 0, 0, 0, 0x0F, 0, 0, 0, 1, 0, 0, 0x10, 0, 1, 2, 3, 4};
  (*raw)->send(0, mwr);
  (*raw)->send(0, mwr64);
  for (int i = 0; i < 200 && (*sim)->counters().datagrams < 2; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ((*sim)->write_violations(), 2u);
  // The file is untouched.
  Bytes b(4);
  auto again = MemoryFile::open(img.path);
  ASSERT_TRUE(again);
  ASSERT_TRUE((*again)->read_one(PhysAddr(0x1000), b));
  EXPECT_EQ(b, img.expect(0x1000, 4));
  // A second tlpsim on the same address fails cleanly.
  auto mem2 = MemoryFile::open(img.path);
  auto sim2 = TlpSim::open(std::shared_ptr<const MemoryFile>(std::move(*mem2)), so);
  ASSERT_FALSE(sim2);
  EXPECT_EQ(sim2.error().code, Errc::io);
}
