// pcap capture: frames decode in tshark with the real addresses and ports.
#include "transport/pcap_recorder.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>
#include <sstream>
#include <string_view>

#include "nettlp_test_util.hpp"
#include "transport/nettlp_client.hpp"
#include "transport/tlpsim.hpp"

using namespace tlpstub;
using namespace tlpstub::test;

namespace {

bool have_tshark() { return std::system("tshark -v >/dev/null 2>&1") == 0; }

// CI installs tshark (.ci/deps): there a missing tshark fails the test, so that a green CI run
// means the captures were decoded. Elsewhere it is a skip.
bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string_view(ci) == "true";
}

std::vector<std::vector<std::string>> tshark_fields(const std::string& file) {
  std::string cmd = fmt::format(
      "tshark -r {} -o ip.check_checksum:TRUE -T fields -E separator=/s -e ip.src -e ip.dst "
      "-e udp.srcport -e udp.dstport -e udp.length -e ip.checksum.status 2>/dev/null",
      file);
  std::vector<std::vector<std::string>> rows;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return rows;
  char line[512];
  while (fgets(line, sizeof line, p)) {
    std::istringstream in(line);
    std::vector<std::string> f;
    for (std::string w; in >> w;) f.push_back(w);
    rows.push_back(f);
  }
  pclose(p);
  return rows;
}

std::string temp_path(const char* name) {
  return fmt::format("/tmp/tlpstub-{}-{}.pcap", name, getpid());
}

}  // namespace

TEST(PcapRecorder, Ipv4HeaderChecksum) {
  // The classic example header: 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7.
  Bytes h{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
          0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(PcapRecorder::ipv4_checksum(h), 0xb861);
  Bytes frame;
  Bytes payload(30, 0xAB);
  PcapRecorder::build_frame({0x7f000001, 0x3005}, {0x7f000002, 0x3005}, payload, 7, frame);
  ASSERT_EQ(frame.size(), 14u + 20 + 8 + 30);
  EXPECT_EQ(frame[12], 0x08);
  EXPECT_EQ(frame[13], 0x00);
  // A correct checksum makes the header sum to 0xffff (checksum over it == 0).
  EXPECT_EQ(PcapRecorder::ipv4_checksum({frame.data() + 14, 20}), 0);
  EXPECT_EQ(frame[14 + 20], 0x30);  // UDP source port 0x3005
  EXPECT_EQ(frame[14 + 21], 0x05);
  EXPECT_EQ(frame[14 + 24], 0);     // UDP length 38
  EXPECT_EQ(frame[14 + 25], 38);
}

TEST(PcapRecorder, TsharkDecodesClientAndSimCaptures) {
  if (!have_tshark()) {
    if (in_ci()) FAIL() << "tshark is not installed (CI=true: .ci/deps installs it)";
    GTEST_SKIP() << "tshark is not installed";
  }
  TempImage image(1 << 20);
  auto net = unique_loopback();
  const std::string sim_pcap = temp_path("sim"), client_pcap = temp_path("client");
  {
    auto mem = MemoryFile::open(image.path);
    ASSERT_TRUE(mem);
    TlpSimOptions so;
    so.listen_ip = net.adapter;
    so.pcap = sim_pcap;
    auto sim = TlpSim::open(std::shared_ptr<const MemoryFile>(std::move(*mem)), so);
    ASSERT_TRUE(sim) << sim.error().message;
    (*sim)->start();
    NetTlpOptions co;
    co.adapter_ip = net.adapter;
    co.local_ip = net.local;
    co.pcap = client_pcap;
    auto c = NetTlpClient::open(co);
    ASSERT_TRUE(c);
    Bytes a(512), b(64);
    std::vector<ReadRange> rr{{PhysAddr(0x1000), a}, {PhysAddr(0x2010), b}};
    std::vector<ReadStatus> st(2);
    (*c)->read(rr, st);
    ASSERT_TRUE(st[0] && st[1]);
    EXPECT_EQ(a, image.expect(0x1000, 512));
    EXPECT_EQ(b, image.expect(0x2010, 64));
    (*sim)->stop();
    EXPECT_EQ((*sim)->write_violations(), 0u);
  }  // client and sim closed: files complete
  // MRd: 8 (UDP) + 6 (NetTLP) + 12 (3DW) = 26; CplD of 256: 8 + 6 + 12 + 256 = 282; of 64: 90.
  const std::string L = net.local, A = net.adapter;
  for (const auto& [file, nframes] : {std::pair{client_pcap, 5u}, std::pair{sim_pcap, 5u}}) {
    auto rows = tshark_fields(file);
    ASSERT_EQ(rows.size(), nframes) << file;
    std::multiset<std::string> got;
    for (auto& r : rows) {
      ASSERT_EQ(r.size(), 6u);
      EXPECT_EQ(r[5], "1") << "IPv4 header checksum status (1 = good)";
      got.insert(fmt::format("{} {} {} {} {}", r[0], r[1], r[2], r[3], r[4]));
    }
    std::multiset<std::string> want{
        fmt::format("{} {} 12288 12288 26", L, A), fmt::format("{} {} 12289 12289 26", L, A),
        fmt::format("{} {} 12288 12288 282", A, L), fmt::format("{} {} 12288 12288 282", A, L),
        fmt::format("{} {} 12289 12289 90", A, L)};
    EXPECT_EQ(got, want) << file;
    // The two requests come first in the client's capture.
    if (file == client_pcap) {
      EXPECT_EQ(rows[0][4], "26");
      EXPECT_EQ(rows[1][4], "26");
    }
  }
  std::remove(sim_pcap.c_str());
  std::remove(client_pcap.c_str());
}
