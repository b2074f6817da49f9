// Test-only: serves one Session over one TCP connection on 127.0.0.1 (plain POSIX sockets),
// so that a real gdb can talk to a FakeTarget. Records everything received and sent.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "stub/session.hpp"
#include "stub/target.hpp"

namespace tlpstub::stub::testing {

class TcpDriver {
 public:
  explicit TcpDriver(Target& target, SessionOptions opts = {});
  ~TcpDriver();
  TcpDriver(const TcpDriver&) = delete;
  TcpDriver& operator=(const TcpDriver&) = delete;

  std::uint16_t port() const { return port_; }
  // Waits until the connection ended.
  void join();
  std::string received() const;
  std::string sent() const;

 private:
  void serve();

  Target& target_;
  SessionOptions opts_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  std::string received_, sent_;
};

// Runs `gdb -batch -nx` (loading `file` first, if given) connected to 127.0.0.1:port with
// these commands (one -ex each) and returns its stdout and stderr together. Killed after
// timeout_s seconds.
std::string run_gdb(std::uint16_t port, const std::vector<std::string>& commands,
                    const std::string& file = {}, int timeout_s = 60);

}  // namespace tlpstub::stub::testing
