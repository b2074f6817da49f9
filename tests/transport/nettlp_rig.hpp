// A NetTlpClient against an in-process tlpsim over a unique loopback pair (tlpsim on
// 127.A.B.2, the client on 127.A.B.1), and helpers that check reads against the image.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <random>
#include <vector>

#include "nettlp_test_util.hpp"
#include "transport/memory_file.hpp"
#include "transport/nettlp_client.hpp"
#include "transport/tlpsim.hpp"

namespace tlpstub::test {

using namespace std::chrono_literals;

inline constexpr std::size_t kImage = 4 << 20;

struct Rig {
  TempImage image{kImage};
  LoopbackPair net = unique_loopback();
  std::unique_ptr<TlpSim> sim;
  std::unique_ptr<NetTlpClient> client;

  explicit Rig(TlpSimOptions so = {}, NetTlpOptions co = {}, std::vector<MapEntry> map = {}) {
    auto mem = MemoryFile::open(image.path, std::move(map));
    EXPECT_TRUE(mem) << mem.error().message;
    so.listen_ip = net.adapter;
    if (!so.seed) so.seed = 42;
    auto s = TlpSim::open(std::shared_ptr<const MemoryFile>(std::move(*mem)), so);
    EXPECT_TRUE(s) << s.error().message;
    sim = std::move(*s);
    sim->start();
    co.adapter_ip = net.adapter;
    co.local_ip = net.local;
    if (co.timeout == NetTlpOptions{}.timeout) co.timeout = 20ms;
    auto c = NetTlpClient::open(co);
    EXPECT_TRUE(c) << c.error().message;
    client = std::move(*c);
  }
  ~Rig() {
    client.reset();
    if (sim) {
      sim->stop();
      EXPECT_EQ(sim->write_violations(), 0u);
    }
  }
};

struct Read {
  std::uint64_t addr;
  Bytes buf;
};

// Reads all in one batch and checks every range against the image (phys == offset + base).
inline void read_and_check(NetTlpClient& c, const TempImage& img, std::vector<Read>& reads,
                    std::uint64_t base = 0) {
  std::vector<ReadRange> rr;
  for (auto& r : reads) rr.push_back({PhysAddr(r.addr), r.buf});
  std::vector<ReadStatus> st(rr.size());
  c.read(rr, st);
  for (std::size_t i = 0; i < reads.size(); ++i) {
    ASSERT_TRUE(st[i]) << "range " << i << " at " << std::hex << reads[i].addr << ": "
                       << st[i].error().message;
    const Bytes want = img.expect(reads[i].addr - base, reads[i].buf.size());
    if (reads[i].buf != want) {
      std::size_t k = 0, e = 0;
      while (reads[i].buf[k] == want[k]) ++k;
      for (e = k; e < want.size() && reads[i].buf[e] != want[e]; ++e) {
      }
      FAIL() << "range " << i << " at " << std::hex << reads[i].addr << " len " << want.size()
             << ": bytes differ from offset " << k << " to " << e;
    }
  }
}

inline std::vector<Read> random_reads(std::mt19937_64& rng, std::size_t n, std::size_t max_len,
                               std::uint64_t base = 0) {
  std::vector<Read> v;
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t len = 1 + rng() % max_len;
    std::uint64_t addr = rng() % (kImage - len);
    v.push_back({base + addr, Bytes(len, 0xCC)});
  }
  return v;
}


}  // namespace tlpstub::test
