// The NetTLP port scheme on one host: UDP sockets bound to IP:0x3000+i (i = tag), all in one
// level-triggered epoll set, received with recvmmsg. Shared by NetTlpClient and tlpsim.
//
// The sockets are Boost.Asio UDP sockets (open, bind, connect, options, errors); the hot loop
// waits with epoll_pwait2 (nanosecond timeouts for the latency/timer queues) and moves
// datagrams with recvmmsg/sendmmsg, which Asio 1.74 does not offer: a re-armed async_wait costs
// an epoll_ctl per datagram and async_receive one syscall per datagram.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "transport/pcap_recorder.hpp"

namespace tlpstub {

class UdpPorts {
 public:
  using Clock = std::chrono::steady_clock;
  // Binds `count` sockets on local_ip:base+i. With `peer`, socket i is connected to
  // peer:base+i, so the kernel drops datagrams from anyone else. The sockets accept UDP GRO
  // (several datagrams of one flow coalesced into one receive; receive() splits them again),
  // and send_many() uses UDP GSO for runs of equal-sized datagrams when the kernel allows:
  // both cut the per-datagram cost of the kernel path, which bounds throughput on loopback.
  static Result<std::unique_ptr<UdpPorts>> open(const std::string& local_ip, unsigned count,
                                                std::uint16_t base,
                                                const std::optional<std::string>& peer);
  ~UdpPorts();
  UdpPorts(const UdpPorts&) = delete;
  UdpPorts& operator=(const UdpPorts&) = delete;

  unsigned count() const;
  UdpEndpointV4 local(unsigned i) const;

  // Waits until a socket is readable, wake() is called or `until` passes (time_point::max():
  // no limit). Calls on_ready(i) for every readable socket. Returns false on wake-up.
  bool wait(Clock::time_point until, const std::function<void(unsigned)>& on_ready);
  void wake();  // thread-safe

  // Receives what socket i holds, without blocking, calling each(bytes, source) per datagram
  // (an oversized datagram arrives cut short). Returns the count.
  using DatagramFn = std::function<void(std::span<const std::uint8_t>, const UdpEndpointV4&)>;
  std::size_t receive(unsigned i, const DatagramFn& each);

  // Sends from socket i (to its peer when connected, else to `to`). Returns false on error.
  bool send(unsigned i, std::span<const std::uint8_t> bytes, const UdpEndpointV4* to = nullptr);
  // Sends several datagrams from socket i to `to`: runs of equal-sized ones (the last of a run
  // may be shorter) as one GSO send when they lie back to back in memory, else one sendmmsg.
  // Returns how many went out.
  std::size_t send_many(unsigned i, std::span<const std::span<const std::uint8_t>> msgs,
                        const UdpEndpointV4& to);

 private:
  struct Impl;
  explicit UdpPorts(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "127.0.0.1" -> 0x7f000001.
Result<std::uint32_t> parse_ipv4(const std::string& s);
std::string format_ipv4(std::uint32_t ip);

}  // namespace tlpstub
