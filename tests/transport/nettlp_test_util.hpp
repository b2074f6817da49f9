// Helpers for the NetTLP tests: a memory image on disk, unique loopback address pairs (ctest
// may run tests in parallel, and both ends bind ports 0x3000+tag), and a scriptable fake
// adapter for spoofed/late/duplicated datagrams.
#pragma once

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "transport/tlp_codec.hpp"
#include "transport/udp_ports.hpp"

namespace tlpstub::test {

using Bytes = std::vector<std::uint8_t>;

inline std::uint8_t image_byte(std::uint64_t off) {
  std::uint64_t x = off * 0x9E3779B97F4A7C15ull;
  return static_cast<std::uint8_t>(x >> 56 ^ off >> 12);
}

struct TempImage {
  std::string path;
  std::size_t size;
  explicit TempImage(std::size_t n) : size(n) {
    char tmpl[] = "/tmp/tlpstub-nettlp-XXXXXX";
    int fd = mkstemp(tmpl);
    path = tmpl;
    Bytes data(n);
    for (std::size_t i = 0; i < n; ++i) data[i] = image_byte(i);
    std::size_t done = 0;
    while (done < n) {
      ssize_t w = ::write(fd, data.data() + done, n - done);
      if (w <= 0) break;
      done += static_cast<std::size_t>(w);
    }
    ::close(fd);
  }
  ~TempImage() { std::remove(path.c_str()); }
  Bytes expect(std::uint64_t off, std::size_t n) const {
    Bytes b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = image_byte(off + i);
    return b;
  }
};

struct LoopbackPair {
  std::string adapter;  // 127.A.B.2
  std::string local;    // 127.A.B.1
};

inline LoopbackPair unique_loopback() {
  static std::atomic<int> n{0};
  const int a = 1 + static_cast<int>(getpid() % 250);
  const int b = 1 + (n++ % 250);
  return {fmt::format("127.{}.{}.2", a, b), fmt::format("127.{}.{}.1", a, b)};
}

// Completions of a request for `data` as a root complex would send them.
inline std::vector<Bytes> good_completions(const tlp::RequestTlp& r, const Bytes& data) {
  std::vector<Bytes> out;
  std::uint32_t done = 0;
  while (done < r.len) {
    std::uint32_t k = tlp::completion_split(r.start + done, r.len - done);
    Bytes c;
    tlp::encode_completion({0, tlp::CplStatus::sc, r.len - done, r.requester, r.tag, r.start + done},
                           {data.data() + done, k}, c);
    out.push_back(std::move(c));
    done += k;
  }
  return out;
}

// Listens like an adapter on ip:0x3000..0x30FF and hands every parsed request to `respond`.
class FakeAdapter {
 public:
  using Respond = std::function<void(const tlp::RequestTlp&, unsigned port, const UdpEndpointV4& from)>;

  FakeAdapter(const std::string& ip, Respond respond) : respond_(std::move(respond)) {
    ports_ = std::move(UdpPorts::open(ip, 256, tlp::kTagPortBase, std::nullopt).value());
    thread_ = std::thread([this] {
      while (!stop_) {
        ports_->wait(UdpPorts::Clock::time_point::max(), [&](unsigned port) {
          ports_->receive(port, [&](std::span<const std::uint8_t> d, const UdpEndpointV4& from) {
            auto r = tlp::parse_request(d);
            if (r && r->kind == tlp::RequestTlp::Kind::mem_read) {
              std::lock_guard lock(mu_);
              ++requests_;
              respond_(*r, port, from);
            }
          });
        });
      }
    });
  }
  ~FakeAdapter() {
    stop_ = true;
    ports_->wake();
    thread_.join();
  }
  void send(unsigned port, const Bytes& b, const UdpEndpointV4& to) { ports_->send(port, b, &to); }
  int requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  Respond respond_;
  std::unique_ptr<UdpPorts> ports_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  int requests_ = 0;
};

}  // namespace tlpstub::test
