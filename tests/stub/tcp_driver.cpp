#include "tcp_driver.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <stdexcept>
#include <vector>

namespace tlpstub::stub::testing {

TcpDriver::TcpDriver(Target& target, SessionOptions opts)
    : target_(target), opts_(std::move(opts)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0) throw std::runtime_error("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 1) != 0)
    throw std::runtime_error("bind/listen");
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

TcpDriver::~TcpDriver() {
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void TcpDriver::join() {
  if (thread_.joinable()) thread_.join();
}

std::string TcpDriver::received() const {
  std::lock_guard lock(mu_);
  return received_;
}

std::string TcpDriver::sent() const {
  std::lock_guard lock(mu_);
  return sent_;
}

void TcpDriver::serve() {
  int fd = ::accept(listen_fd_, nullptr, nullptr);
  if (fd < 0) return;
  Session session(
      target_,
      [&](std::string_view bytes) {
        {
          std::lock_guard lock(mu_);
          sent_.append(bytes);
        }
        std::size_t off = 0;
        while (off < bytes.size()) {
          ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
          if (n <= 0) return;
          off += static_cast<std::size_t>(n);
        }
      },
      opts_);
  std::array<std::uint8_t, 4096> buf;
  while (!session.closed()) {
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) break;
    {
      std::lock_guard lock(mu_);
      received_.append(reinterpret_cast<const char*>(buf.data()), static_cast<std::size_t>(n));
    }
    session.feed(std::span(buf.data(), static_cast<std::size_t>(n)));
  }
  ::close(fd);
}

namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

}  // namespace

std::string run_gdb(std::uint16_t port, const std::vector<std::string>& commands,
                    const std::string& file, int timeout_s) {
  std::string cmd =
      "timeout " + std::to_string(timeout_s) + " gdb -batch -nx -ex 'set pagination off'";
  if (!file.empty()) cmd += " -ex " + shell_quote("file " + file);
  cmd += " -ex " + shell_quote("target remote 127.0.0.1:" + std::to_string(port));
  for (const std::string& c : commands) cmd += " -ex " + shell_quote(c);
  cmd += " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return "popen failed";
  std::string out;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  ::pclose(p);
  return out;
}

}  // namespace tlpstub::stub::testing
