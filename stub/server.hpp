// The RSP server: accepts gdb connections over TCP and runs one Session per connection, each
// on its own thread (memory reads are blocking calls into the target, and several gdb clients
// may read at once). The server only moves bytes; all protocol logic is in Session.
#pragma once

#include <atomic>
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
#include "stub/session.hpp"
#include "stub/target.hpp"

namespace tlpstub::stub {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 1234;  // 0 = pick a free port
  SessionOptions session;
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

  ServerOptions opts_;
  TargetFactory factory_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  std::uint16_t bound_port_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::list<std::shared_ptr<Connection>> connections_;
};

}  // namespace tlpstub::stub
