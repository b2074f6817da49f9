// Test-only: a stub::Server over FakeTargets on 127.0.0.1 (port 0) running on its own thread,
// plain POSIX client sockets, and a capture of what the server logs.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "fake_target.hpp"
#include "stub/packet_codec.hpp"
#include "stub/server.hpp"

namespace tlpstub::stub::testing {

// Replaces the default logger while alive; everything logged is kept for the test to search.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(4096)) {
    saved_ = spdlog::default_logger();
    auto logger = std::make_shared<spdlog::logger>("capture", sink_);
    logger->set_level(spdlog::level::info);
    logger->set_pattern("%l %v");
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(saved_); }
  std::string text() const {
    std::string all;
    for (const std::string& line : sink_->last_formatted()) all += line;
    return all;
  }
  bool has(std::string_view s) const { return text().find(s) != std::string::npos; }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> saved_;
};

class ServerRig {
 public:
  explicit ServerRig(ServerOptions opts = {}, Server::TargetFactory factory = {}) {
    opts.port = 0;
    if (!factory) factory = [] { return std::make_unique<FakeTarget>(); };
    server_ = std::make_unique<Server>(opts, std::move(factory));
    auto r = server_->listen();
    EXPECT_TRUE(r) << r.error().message;
    thread_ = std::thread([this] { server_->run(); });
  }
  ~ServerRig() {
    server_->stop();
    thread_.join();
    server_.reset();
  }
  Server& server() { return *server_; }
  std::uint16_t port() const { return server_->port(); }

  // Polls until the server serves exactly n clients (threads end a little after their socket).
  bool wait_clients(std::size_t n, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (server_->clients() != n) {
      if (std::chrono::steady_clock::now() > end) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

 private:
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

// One client connection (blocking socket). rcvbuf > 0 shrinks the receive buffer before
// connecting, so that a client that does not read fills up quickly.
class Client {
 public:
  explicit Client(std::uint16_t port, int rcvbuf = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Client() { close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool send_raw(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  bool send_packet(std::string_view payload) { return send_raw(rsp_frame(payload)); }

  // Reads until `want` appears in what was read, the peer closes, or the time is up.
  std::string read_until(std::string_view want,
                         std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (got_.find(want) == std::string::npos && !eof_) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        eof_ = true;
        break;
      }
      got_.append(buf, static_cast<std::size_t>(n));
    }
    return got_;
  }
  // Everything until the server closes the connection.
  std::string read_to_eof(std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    read_until(std::string(1, '\0') + "never", limit);
    return got_;
  }
  bool eof() const { return eof_; }
  void clear() { got_.clear(); }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string got_;
};

// Resident set size of this process, in bytes.
inline std::size_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace tlpstub::stub::testing
