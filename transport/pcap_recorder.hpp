// Records NetTLP datagrams to a pcap file that tshark/Wireshark decode: each UDP payload is
// wrapped in synthesized Ethernet II / IPv4 (no options, valid header checksum) / UDP (checksum
// 0, as the adapter sends) headers carrying the real addresses and ports. libpcap writes the
// file (pcap_open_dead + pcap_dump). Thread-safe.
//
//   | dst MAC 6 | src MAC 6 | 0x0800 | IPv4 20 | UDP 8 | NetTLP header 6 | TLP ... |
//
// MAC addresses are made up from the IPv4 address: 02:00:a:b:c:d (locally administered).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace tlpstub {

struct UdpEndpointV4 {
  std::uint32_t ip = 0;  // host byte order: 127.0.0.1 == 0x7f000001
  std::uint16_t port = 0;
};

class PcapRecorder {
 public:
  static Result<std::unique_ptr<PcapRecorder>> open(const std::string& path);
  ~PcapRecorder();
  PcapRecorder(const PcapRecorder&) = delete;
  PcapRecorder& operator=(const PcapRecorder&) = delete;

  void record(const UdpEndpointV4& src, const UdpEndpointV4& dst,
              std::span<const std::uint8_t> payload,
              std::chrono::system_clock::time_point when = std::chrono::system_clock::now());
  void flush();
  std::uint64_t frames() const;
  const std::string& path() const { return path_; }

  // The frame that record() writes (exposed for tests).
  static void build_frame(const UdpEndpointV4& src, const UdpEndpointV4& dst,
                          std::span<const std::uint8_t> payload, std::uint16_t ip_id,
                          std::vector<std::uint8_t>& out);
  static std::uint16_t ipv4_checksum(std::span<const std::uint8_t> header);

 private:
  struct Handles;
  PcapRecorder(std::string path, std::unique_ptr<Handles> h);

  std::string path_;
  std::unique_ptr<Handles> h_;
  mutable std::mutex mu_;
  std::vector<std::uint8_t> frame_;
  std::uint16_t ip_id_ = 0;
  std::uint64_t frames_ = 0;
};

}  // namespace tlpstub
