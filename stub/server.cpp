#include "stub/server.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include "stub/packet_codec.hpp"

namespace tlpstub::stub {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

using SteadyClock = std::chrono::steady_clock;

IpBytes ip_bytes(const asio::ip::address& a) {
  if (a.is_v6()) return a.to_v6().to_bytes();
  return asio::ip::make_address_v6(asio::ip::v4_mapped, a.to_v4()).to_bytes();
}

// Writes all of `bytes`, waiting for room in the send buffer at most until `limit` has passed
// without progress. False if the peer is gone or did not read for that long.
bool send_all(int fd, std::string_view bytes, std::chrono::milliseconds limit) {
  auto give_up = SteadyClock::now() + limit;
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      give_up = SteadyClock::now() + limit;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(give_up - SteadyClock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLOUT, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno != EINTR) return false;
  }
  return true;
}

// The socket's unread bytes for a long monitor command (stub/long_request.hpp): peeked, so
// the session still reads gdb's next request itself afterwards.
class SocketInput final : public InputProbe {
 public:
  explicit SocketInput(int fd) : fd_(fd) {}
  PeekedInput peek() override {
    PeekedInput in;
    std::array<char, 4096> buf;
    for (;;) {
      const ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_PEEK | MSG_DONTWAIT);
      if (n > 0) in.bytes.assign(buf.data(), static_cast<std::size_t>(n));
      if (n == 0) in.closed = true;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) in.closed = true;
      return in;
    }
  }
  void discard(std::size_t n) override {
    std::array<char, 4096> buf;
    while (n > 0) {
      const ssize_t got = ::recv(fd_, buf.data(), std::min(n, buf.size()), MSG_DONTWAIT);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return;
      n -= static_cast<std::size_t>(got);
    }
  }
  void wait(std::chrono::milliseconds timeout) override {
    pollfd p{fd_, POLLIN, 0};
    (void)::poll(&p, 1, static_cast<int>(timeout.count()));
  }

 private:
  int fd_;
};

// A refused connection, half-closed, read and dropped until its client closes or the timer
// closes it.
struct Lingering {
  tcp::socket sock;
  asio::steady_timer timer;
  std::array<char, 512> sink;
  std::atomic<int>& count;
  Lingering(tcp::socket s, std::atomic<int>& n)
      : sock(std::move(s)), timer(sock.get_executor()), count(n) {
    ++count;
  }
  ~Lingering() { --count; }
};

void drain(const std::shared_ptr<Lingering>& l) {
  l->sock.async_read_some(asio::buffer(l->sink), [l](boost::system::error_code e, std::size_t) {
    if (e)
      l->timer.cancel();
    else
      drain(l);
  });
}

}  // namespace

struct Server::Connection {
  tcp::socket socket;
  std::string peer;
  std::thread thread;
  std::atomic<bool> done{false};
  explicit Connection(tcp::socket s) : socket(std::move(s)) {}
};

Server::Server(ServerOptions opts, TargetFactory factory)
    : opts_(std::move(opts)), factory_(std::move(factory)) {}

Server::~Server() {
  stop();
  std::list<std::shared_ptr<Connection>> conns;
  {
    std::lock_guard lk(mu_);
    conns.swap(connections_);
  }
  for (auto& c : conns)
    if (c->thread.joinable()) c->thread.join();
}

Result<void> Server::listen() {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(opts_.host, ec);
  if (ec) return fail(Errc::invalid_argument, fmt::format("bad listen address '{}'", opts_.host));
  tcp::endpoint ep(addr, opts_.port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return fail(Errc::io, fmt::format("cannot listen on {}:{}: {}", opts_.host, opts_.port,
                                      ec.message()));
  bound_port_ = acceptor_.local_endpoint().port();
  // The stub serves a whole machine's memory without authentication: say so when that
  // reaches beyond this host.
  if (!addr.is_loopback())
    spdlog::warn("listening on {} port {}, not a loopback address: anyone who can reach it{} can "
                 "read the target's memory",
                 opts_.host, bound_port_,
                 opts_.allow.empty() ? " (no --allow given)" : " within --allow");
  if (!opts_.allow.empty()) {
    std::string rules;
    for (const Cidr& c : opts_.allow) rules += (rules.empty() ? "" : ",") + c.to_string();
    spdlog::info("gdb clients allowed from {}", rules);
  }
  return {};
}

void Server::run() {
  accept_loop();
  io_.run();
}

void Server::stop() {
  if (stopping_.exchange(true)) return;
  asio::post(io_, [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
    accept_retry_.cancel();
    std::lock_guard lk(mu_);
    // Unblock sessions waiting in read(): they see an error and end.
    for (auto& c : connections_) c->socket.shutdown(tcp::socket::shutdown_both, ec);
  });
}

void Server::accept_loop() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket sock) {
    if (stopping_) return;
    if (!ec) {
      admit(std::move(sock));
      accept_loop();
      return;
    }
    spdlog::warn("accept failed: {}; accepting again in 100 ms", ec.message());
    accept_retry_.expires_after(std::chrono::milliseconds(100));
    accept_retry_.async_wait([this](boost::system::error_code) {
      if (!stopping_) accept_loop();
    });
  });
}

void Server::admit(tcp::socket sock) {
  boost::system::error_code ec;
  auto rep = sock.remote_endpoint(ec);
  if (ec) return;  // the peer is already gone
  const std::string peer = fmt::format("{}:{}", rep.address().to_string(), rep.port());
  if (!allowed(opts_.allow, ip_bytes(rep.address()))) {
    spdlog::warn("refused gdb connection from {}: not in --allow", peer);
    return refuse(sock, fmt::format("E.tlpstub: address {} is not allowed to connect",
                                    rep.address().to_string()));
  }
  reap_finished();
  const std::size_t live = clients();
  if (live >= opts_.max_clients) {
    spdlog::warn("refused gdb connection from {}: {} clients connected (--max-clients {})", peer,
                 live, opts_.max_clients);
    return refuse(sock, fmt::format("E.tlpstub: too many gdb clients ({} connected, "
                                    "--max-clients {}); try again later",
                                    live, opts_.max_clients));
  }
  sock.set_option(tcp::no_delay(true), ec);
  auto conn = std::make_shared<Connection>(std::move(sock));
  conn->peer = peer;
  std::lock_guard lk(mu_);
  connections_.push_back(conn);
  conn->thread = std::thread([this, conn] { serve(conn); });
}

// "+" first: gdb 13 acks whatever waits on a new connection and then reads this packet as the
// reply to its qSupported, which it prints as "Remote failure reply: E.<text>". The reply is
// small and the send buffer empty, so the non-blocking send never keeps the accept loop.
// Closing at once would make gdb's own first write fail ("Broken pipe") before it reads the
// text, so the socket is only half-closed and lingers (reading and dropping what gdb sends)
// until gdb closes or kLinger passes. At most kMaxLingering sockets linger at a time.
void Server::refuse(tcp::socket& sock, std::string_view text) {
  constexpr auto kLinger = std::chrono::seconds(1);
  constexpr int kMaxLingering = 256;
  const std::string bytes = "+" + rsp_frame(text);
  (void)::send(sock.native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  boost::system::error_code ec;
  sock.shutdown(tcp::socket::shutdown_send, ec);
  if (lingering_ >= kMaxLingering) {
    sock.close(ec);
    return;
  }
  auto l = std::make_shared<Lingering>(std::move(sock), lingering_);
  l->timer.expires_after(kLinger);
  l->timer.async_wait([l](boost::system::error_code) {
    boost::system::error_code ignored;
    l->sock.close(ignored);
  });
  drain(l);
}

std::size_t Server::clients() {
  std::lock_guard lk(mu_);
  std::size_t n = 0;
  for (const auto& c : connections_) n += c->done ? 0 : 1;
  return n;
}

void Server::reap_finished() {
  std::lock_guard lk(mu_);
  for (auto it = connections_.begin(); it != connections_.end();) {
    if ((*it)->done) {
      if ((*it)->thread.joinable()) (*it)->thread.join();
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
}

void Server::serve(std::shared_ptr<Connection> conn) {
  spdlog::info("gdb connected from {}", conn->peer);
  std::unique_ptr<Target> target = factory_();
  bool write_failed = false;
  SessionOptions so = opts_.session;
  so.peer = conn->peer;
  SocketInput input(conn->socket.native_handle());
  Session session(
      *target,
      [&](std::string_view bytes) {
        if (write_failed) return;
        if (!send_all(conn->socket.native_handle(), bytes, opts_.send_stall_limit)) {
          write_failed = true;
          spdlog::warn("gdb {}: reply not taken within {} ms (client stopped reading or is "
                       "gone): disconnecting",
                       conn->peer, opts_.send_stall_limit.count());
        }
      },
      so, &input);
  std::array<std::uint8_t, 64 * 1024> buf;
  while (!session.closed() && !write_failed && !stopping_) {
    boost::system::error_code ec;
    std::size_t n = conn->socket.read_some(asio::buffer(buf), ec);
    if (ec) break;
    session.feed(std::span<const std::uint8_t>(buf.data(), n));
  }
  boost::system::error_code ec;
  conn->socket.shutdown(tcp::socket::shutdown_both, ec);
  conn->socket.close(ec);
  spdlog::info("gdb {} disconnected", conn->peer);
  conn->done = true;
}

}  // namespace tlpstub::stub
