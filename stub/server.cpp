#include "stub/server.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace tlpstub::stub {

namespace asio = boost::asio;
using asio::ip::tcp;

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
    std::lock_guard lk(mu_);
    // Unblock sessions waiting in read(): they see an error and end.
    for (auto& c : connections_) c->socket.shutdown(tcp::socket::shutdown_both, ec);
  });
}

void Server::accept_loop() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket sock) {
    if (stopping_) return;
    if (ec) {
      spdlog::warn("accept failed: {}", ec.message());
    } else {
      sock.set_option(tcp::no_delay(true), ec);
      auto conn = std::make_shared<Connection>(std::move(sock));
      auto rep = conn->socket.remote_endpoint(ec);
      conn->peer = ec ? "?" : fmt::format("{}:{}", rep.address().to_string(), rep.port());
      reap_finished();
      std::lock_guard lk(mu_);
      connections_.push_back(conn);
      conn->thread = std::thread([this, conn] { serve(conn); });
    }
    accept_loop();
  });
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
  Session session(
      *target,
      [&](std::string_view bytes) {
        if (write_failed) return;
        boost::system::error_code ec;
        asio::write(conn->socket, asio::buffer(bytes.data(), bytes.size()), ec);
        if (ec) write_failed = true;
      },
      so);
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
