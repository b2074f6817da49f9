// The RSP server: accepts gdb connections over TCP and runs one Session per connection, each
// on its own thread (memory reads are blocking calls into the target, and several gdb clients
// may read at once). The server only moves bytes; all protocol logic is in Session.
//
// Exposure: it refuses peers outside `allow` and connections beyond `max_clients` with an RSP
// error text (gdb 13 prints "Remote failure reply: E.<text>") and logs each refusal and each
// connection with the peer's address. A client that stops reading its replies cannot hold
// its thread (and whatever it holds) for long: the kernel's socket send buffer is its whole
// output queue, and once that stays full for `send_stall_limit`, the client is disconnected.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange unincluded
#include <boost/asio.hpp>

#include "common/error.hpp"
#include "stub/cidr.hpp"
#include "stub/session.hpp"
#include "stub/target.hpp"

namespace tlpstub::stub {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 1234;  // 0 = pick a free port
  SessionOptions session;
  std::vector<Cidr> allow;      // peers that may connect; empty = anyone who reaches the port
  std::size_t max_clients = 32;  // live gdb connections (one thread each)
  // How long a reply may wait for room in a full socket send buffer before the client is
  // taken to have stopped reading and is disconnected.
  std::chrono::milliseconds send_stall_limit{5000};
};

class Server {
 public:
  // Makes the per-connection Target: each gdb client gets its own state.
  using TargetFactory = std::function<std::unique_ptr<Target>()>;

  Server(ServerOptions opts, TargetFactory factory);
  ~Server();

  // Binds and listens; a clear error if the address is bad or the port is taken.
  Result<void> listen();
  std::uint16_t port() const { return bound_port_; }
  // Connections being served now (refused ones never count).
  std::size_t clients();
  // Accepts connections until stop() (callable from any thread or a signal handler's
  // io_context callback).
  void run();
  void stop();
  // For wiring signal handling (boost::asio::signal_set) into the accept loop.
  boost::asio::io_context& io() { return io_; }

 private:
  struct Connection;
  void accept_loop();
  void serve(std::shared_ptr<Connection> conn);
  void reap_finished();
  void admit(boost::asio::ip::tcp::socket sock);
  void refuse(boost::asio::ip::tcp::socket& sock, std::string_view text);

  ServerOptions opts_;
  TargetFactory factory_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  // After a failed accept (out of file descriptors: EMFILE), the next one waits a moment
  // instead of spinning on the same error.
  boost::asio::steady_timer accept_retry_{io_};
  std::uint16_t bound_port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> lingering_{0};  // refused sockets waiting for their client to close
  std::mutex mu_;
  std::list<std::shared_ptr<Connection>> connections_;
};

}  // namespace tlpstub::stub
