#include "transport/udp_ports.hpp"

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>

#include "transport/tlp_codec.hpp"

namespace tlpstub {

namespace asio = boost::asio;
using asio::ip::udp;

namespace {
constexpr unsigned kBatch = 16;
constexpr std::size_t kBuf = 65536;  // room for a GRO-coalesced receive
constexpr int kUdpSegment = 103;     // UDP_SEGMENT (linux/udp.h)
constexpr int kUdpGro = 104;         // UDP_GRO
constexpr std::size_t kCtl = CMSG_SPACE(sizeof(int));

sockaddr_in to_sockaddr(const UdpEndpointV4& e) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(e.port);
  sa.sin_addr.s_addr = htonl(e.ip);
  return sa;
}
}  // namespace

Result<std::uint32_t> parse_ipv4(const std::string& s) {
  boost::system::error_code ec;
  auto a = asio::ip::make_address_v4(s, ec);
  if (ec) return fail(Errc::invalid_argument, fmt::format("'{}' is not an IPv4 address", s));
  return a.to_uint();
}

std::string format_ipv4(std::uint32_t ip) { return asio::ip::address_v4(ip).to_string(); }

struct UdpPorts::Impl {
  asio::io_context io{1};
  std::vector<udp::socket> socks;
  std::vector<UdpEndpointV4> locals;
  int epfd = -1;
  int evfd = -1;
  std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(kBatch * kBuf);
  mmsghdr msgs[kBatch]{};
  iovec iov[kBatch]{};
  sockaddr_in from[kBatch]{};
  alignas(cmsghdr) std::uint8_t ctl[kBatch][kCtl]{};
  bool gso = true;  // cleared when the kernel refuses UDP_SEGMENT

  ~Impl() {
    if (epfd >= 0) ::close(epfd);
    if (evfd >= 0) ::close(evfd);
  }
};

Result<std::unique_ptr<UdpPorts>> UdpPorts::open(const std::string& local_ip, unsigned count,
                                                 std::uint16_t base,
                                                 const std::optional<std::string>& peer) {
  auto lip = parse_ipv4(local_ip);
  if (!lip) return std::unexpected(lip.error());
  std::optional<std::uint32_t> pip;
  if (peer) {
    auto p = parse_ipv4(*peer);
    if (!p) return std::unexpected(p.error());
    pip = *p;
  }
  auto im = std::make_unique<Impl>();
  im->epfd = epoll_create1(EPOLL_CLOEXEC);
  im->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (im->epfd < 0 || im->evfd < 0) return fail(Errc::io, "cannot create epoll/eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u32 = UINT32_MAX;
  epoll_ctl(im->epfd, EPOLL_CTL_ADD, im->evfd, &ev);
  im->socks.reserve(count);
  for (unsigned i = 0; i < count; ++i) {
    const auto port = static_cast<std::uint16_t>(base + i);
    boost::system::error_code ec;
    udp::socket s(im->io);
    s.open(udp::v4(), ec);
    if (!ec) s.set_option(asio::socket_base::receive_buffer_size(1 << 20), ec);
    if (!ec) s.set_option(asio::socket_base::send_buffer_size(1 << 20), ec);
    if (ec) return fail(Errc::io, fmt::format("cannot open a UDP socket: {}", ec.message()));
    s.bind(udp::endpoint(asio::ip::address_v4(*lip), port), ec);
    if (ec)
      return fail(Errc::io, fmt::format("cannot bind {}:{} ({:#x}): {}", local_ip, port, port,
                                        ec.message()));
    if (pip) {
      s.connect(udp::endpoint(asio::ip::address_v4(*pip), port), ec);
      if (ec)
        return fail(Errc::io, fmt::format("cannot connect to {}:{}: {}", *peer, port, ec.message()));
    }
    s.native_non_blocking(true, ec);
    int one = 1;  // best effort: without GRO every datagram arrives on its own
    setsockopt(s.native_handle(), IPPROTO_UDP, kUdpGro, &one, sizeof one);
    ev.data.u32 = i;
    if (epoll_ctl(im->epfd, EPOLL_CTL_ADD, s.native_handle(), &ev) != 0)
      return fail(Errc::io, "epoll_ctl failed");
    im->socks.push_back(std::move(s));
    im->locals.push_back({*lip, port});
  }
  for (unsigned k = 0; k < kBatch; ++k) {
    im->iov[k] = {im->buf.data() + k * kBuf, kBuf};
    im->msgs[k].msg_hdr.msg_iov = &im->iov[k];
    im->msgs[k].msg_hdr.msg_iovlen = 1;
  }
  return std::unique_ptr<UdpPorts>(new UdpPorts(std::move(im)));
}

UdpPorts::UdpPorts(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
UdpPorts::~UdpPorts() = default;

unsigned UdpPorts::count() const { return static_cast<unsigned>(impl_->socks.size()); }
UdpEndpointV4 UdpPorts::local(unsigned i) const { return impl_->locals[i]; }

bool UdpPorts::wait(Clock::time_point until, const std::function<void(unsigned)>& on_ready) {
  epoll_event evs[64];
  timespec ts{};
  timespec* tsp = nullptr;
  if (until != Clock::time_point::max()) {
    auto d = std::max(Clock::duration::zero(), until - Clock::now());
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    tsp = &ts;
  }
  int n = epoll_pwait2(impl_->epfd, evs, 64, tsp, nullptr);
  bool woken = false;
  for (int k = 0; k < n; ++k) {
    if (evs[k].data.u32 == UINT32_MAX) {
      std::uint64_t v;
      while (::read(impl_->evfd, &v, sizeof v) > 0) {
      }
      woken = true;
    } else {
      on_ready(evs[k].data.u32);
    }
  }
  return !woken;
}

void UdpPorts::wake() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(impl_->evfd, &one, sizeof one);
}

std::size_t UdpPorts::receive(unsigned i, const DatagramFn& each) {
  Impl& im = *impl_;
  const int fd = im.socks[i].native_handle();
  std::size_t total = 0;
  for (int round = 0; round < 8; ++round) {  // bounded: one busy socket must not starve others
    for (unsigned k = 0; k < kBatch; ++k) {
      im.msgs[k].msg_hdr.msg_name = &im.from[k];
      im.msgs[k].msg_hdr.msg_namelen = sizeof(sockaddr_in);
      im.msgs[k].msg_hdr.msg_control = im.ctl[k];
      im.msgs[k].msg_hdr.msg_controllen = kCtl;
    }
    int n = recvmmsg(fd, im.msgs, kBatch, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EINTR || errno == ECONNREFUSED) continue;  // ICMP port unreachable, cleared now
      break;
    }
    for (int k = 0; k < n; ++k) {
      const sockaddr_in& sa = im.from[k];
      const UdpEndpointV4 src{ntohl(sa.sin_addr.s_addr), ntohs(sa.sin_port)};
      std::size_t seg = 0;  // GRO: the datagrams were coalesced, each `seg` bytes but the last
      msghdr& mh = im.msgs[k].msg_hdr;
      for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == kUdpGro) {
          int v = 0;
          std::memcpy(&v, CMSG_DATA(c), sizeof v);
          seg = v > 0 ? static_cast<std::size_t>(v) : 0;
        }
      const std::uint8_t* p = im.buf.data() + k * kBuf;
      const std::size_t len = im.msgs[k].msg_len;
      if (seg == 0 || seg >= len) {
        each({p, len}, src);
        continue;
      }
      for (std::size_t off = 0; off < len; off += seg) each({p + off, std::min(seg, len - off)}, src);
    }
    total += static_cast<std::size_t>(n);
    if (n < static_cast<int>(kBatch)) break;
  }
  return total;
}

bool UdpPorts::send(unsigned i, std::span<const std::uint8_t> bytes, const UdpEndpointV4* to) {
  const int fd = impl_->socks[i].native_handle();
  ssize_t r;
  if (to) {
    sockaddr_in sa = to_sockaddr(*to);
    r = ::sendto(fd, bytes.data(), bytes.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  } else {
    r = ::send(fd, bytes.data(), bytes.size(), MSG_DONTWAIT);
  }
  return r == static_cast<ssize_t>(bytes.size());
}

std::size_t UdpPorts::send_many(unsigned i, std::span<const std::span<const std::uint8_t>> msgs,
                                const UdpEndpointV4& to) {
  Impl& im = *impl_;
  const int fd = im.socks[i].native_handle();
  sockaddr_in sa = to_sockaddr(to);
  std::size_t sent = 0;
  while (sent < msgs.size()) {
    // A GSO run: equal sizes, back to back in memory, the last one possibly shorter.
    std::size_t run = 1;
    const std::size_t seg = msgs[sent].size();
    std::size_t bytes = seg;
    while (im.gso && sent + run < msgs.size() && run < 64 && msgs[sent + run].size() <= seg &&
           msgs[sent + run].data() == msgs[sent + run - 1].data() + msgs[sent + run - 1].size() &&
           bytes + msgs[sent + run].size() <= 60000) {
      bytes += msgs[sent + run].size();
      ++run;
      if (msgs[sent + run - 1].size() < seg) break;
    }
    if (run > 1) {
      iovec iov{const_cast<std::uint8_t*>(msgs[sent].data()), bytes};
      alignas(cmsghdr) std::uint8_t ctl[CMSG_SPACE(sizeof(std::uint16_t))]{};
      msghdr mh{};
      mh.msg_name = &sa;
      mh.msg_namelen = sizeof sa;
      mh.msg_iov = &iov;
      mh.msg_iovlen = 1;
      mh.msg_control = ctl;
      mh.msg_controllen = sizeof ctl;
      cmsghdr* c = CMSG_FIRSTHDR(&mh);
      c->cmsg_level = IPPROTO_UDP;
      c->cmsg_type = kUdpSegment;
      c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
      const auto gso_size = static_cast<std::uint16_t>(seg);
      std::memcpy(CMSG_DATA(c), &gso_size, sizeof gso_size);
      if (::sendmsg(fd, &mh, MSG_DONTWAIT) == static_cast<ssize_t>(bytes)) {
        sent += run;
        continue;
      }
      if (errno == EINVAL || errno == EIO || errno == ENOPROTOOPT) im.gso = false;  // no GSO here
    }
    mmsghdr hdrs[kBatch]{};
    iovec iov[kBatch];
    const std::size_t n = std::min<std::size_t>(kBatch, msgs.size() - sent);
    for (std::size_t k = 0; k < n; ++k) {
      iov[k] = {const_cast<std::uint8_t*>(msgs[sent + k].data()), msgs[sent + k].size()};
      hdrs[k].msg_hdr.msg_iov = &iov[k];
      hdrs[k].msg_hdr.msg_iovlen = 1;
      hdrs[k].msg_hdr.msg_name = &sa;
      hdrs[k].msg_hdr.msg_namelen = sizeof sa;
    }
    int r = sendmmsg(fd, hdrs, static_cast<unsigned>(n), MSG_DONTWAIT);
    if (r <= 0) break;
    sent += static_cast<std::size_t>(r);
  }
  return sent;
}

}  // namespace tlpstub
