#include "transport/pcap_recorder.hpp"

#include <pcap/pcap.h>

#include <fmt/format.h>

namespace tlpstub {

struct PcapRecorder::Handles {
  pcap_t* pcap = nullptr;
  pcap_dumper_t* dumper = nullptr;
  ~Handles() {
    if (dumper) pcap_dump_close(dumper);
    if (pcap) pcap_close(pcap);
  }
};

namespace {
constexpr std::size_t kEth = 14, kIp = 20, kUdp = 8;
constexpr int kSnapLen = 65535;

void put16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void put32(std::uint8_t* p, std::uint32_t v) {
  put16(p, static_cast<std::uint16_t>(v >> 16));
  put16(p + 2, static_cast<std::uint16_t>(v));
}
void mac_for(std::uint8_t* p, std::uint32_t ip) {
  p[0] = 0x02;
  p[1] = 0x00;
  put32(p + 2, ip);
}
}  // namespace

std::uint16_t PcapRecorder::ipv4_checksum(std::span<const std::uint8_t> h) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) sum += std::uint32_t{h[i]} << 8 | h[i + 1];
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

void PcapRecorder::build_frame(const UdpEndpointV4& src, const UdpEndpointV4& dst,
                               std::span<const std::uint8_t> payload, std::uint16_t ip_id,
                               std::vector<std::uint8_t>& out) {
  out.assign(kEth + kIp + kUdp + payload.size(), 0);
  std::uint8_t* e = out.data();
  mac_for(e, dst.ip);
  mac_for(e + 6, src.ip);
  put16(e + 12, 0x0800);
  std::uint8_t* ip = e + kEth;
  ip[0] = 0x45;  // version 4, IHL 5
  put16(ip + 2, static_cast<std::uint16_t>(kIp + kUdp + payload.size()));
  put16(ip + 4, ip_id);
  put16(ip + 6, 0x4000);  // don't fragment
  ip[8] = 64;             // TTL
  ip[9] = 17;             // UDP
  put32(ip + 12, src.ip);
  put32(ip + 16, dst.ip);
  put16(ip + 10, ipv4_checksum({ip, kIp}));
  std::uint8_t* udp = ip + kIp;
  put16(udp, src.port);
  put16(udp + 2, dst.port);
  put16(udp + 4, static_cast<std::uint16_t>(kUdp + payload.size()));
  // UDP checksum 0: "no checksum", what the NetTLP adapter sends.
  std::copy(payload.begin(), payload.end(), udp + kUdp);
}

Result<std::unique_ptr<PcapRecorder>> PcapRecorder::open(const std::string& path) {
  auto h = std::make_unique<Handles>();
  h->pcap = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, kSnapLen, PCAP_TSTAMP_PRECISION_NANO);
  if (!h->pcap) return fail(Errc::io, "pcap_open_dead failed");
  h->dumper = pcap_dump_open(h->pcap, path.c_str());
  if (!h->dumper)
    return fail(Errc::io, fmt::format("cannot write pcap {}: {}", path, pcap_geterr(h->pcap)));
  return std::unique_ptr<PcapRecorder>(new PcapRecorder(path, std::move(h)));
}

PcapRecorder::PcapRecorder(std::string path, std::unique_ptr<Handles> h)
    : path_(std::move(path)), h_(std::move(h)) {}

PcapRecorder::~PcapRecorder() = default;

void PcapRecorder::record(const UdpEndpointV4& src, const UdpEndpointV4& dst,
                          std::span<const std::uint8_t> payload,
                          std::chrono::system_clock::time_point when) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
  std::lock_guard lock(mu_);
  build_frame(src, dst, payload, ip_id_++, frame_);
  pcap_pkthdr hdr{};
  hdr.ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  hdr.ts.tv_usec = static_cast<suseconds_t>(ns % 1'000'000'000);  // nanoseconds: see open()
  hdr.caplen = hdr.len = static_cast<bpf_u_int32>(frame_.size());
  pcap_dump(reinterpret_cast<u_char*>(h_->dumper), &hdr, frame_.data());
  ++frames_;
}

void PcapRecorder::flush() {
  std::lock_guard lock(mu_);
  pcap_dump_flush(h_->dumper);
}

std::uint64_t PcapRecorder::frames() const {
  std::lock_guard lock(mu_);
  return frames_;
}

}  // namespace tlpstub
