// The ceiling for bench/rsp_throughput.sh: tlpstub's own RSP server (stub::Server, Session,
// hex encoding, PacketSize) in front of a Target that serves a constant buffer, with no page
// walk and no transport behind it. What gdb reads from this is as fast as gdb 13's hex `m`
// path allows on this machine; the real path is measured against it in the same run. With
// --file it serves that file's bytes from --base on (the very bytes the real run read, so
// run-length compression of the replies is the same), else an address-dependent pattern.
//   rsp_ceiling_server [--packet-size BYTES] [--file F --base ADDR]
// prints "listening on 127.0.0.1:PORT".
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/parse.hpp"
#include "stub/server.hpp"

using namespace tlpstub;

namespace {

class ConstantTarget final : public stub::Target {
 public:
  ConstantTarget(const std::vector<std::uint8_t>& data, std::uint64_t base)
      : data_(data), base_(base) {}
  stub::MemoryReadResult read_memory(std::uint64_t addr, std::span<std::uint8_t> out) override {
    for (std::size_t i = 0; i < out.size(); ++i) {
      const std::uint64_t off = addr + i - base_;
      out[i] = off < data_.size() ? data_[off]
                                  : static_cast<std::uint8_t>((addr + i) * 0x9E3779B1u >> 24);
    }
    return {out.size(), std::nullopt};
  }
  std::vector<stub::ThreadInfo> threads() override { return {{1, "ceiling", "constant buffer"}}; }
  Result<stub::RegisterSet> registers(std::int64_t) override {
    stub::RegisterSet r;
    r.set(stub::Reg::rip, 0xffffffff81000000ull);
    return r;
  }
  Result<void> monitor(std::string_view, const stub::OutputFn& out) override {
    out("constant buffer: the RSP ceiling\n");
    return {};
  }

 private:
  const std::vector<std::uint8_t>& data_;
  std::uint64_t base_;
};

}  // namespace

int main(int argc, char** argv) {
  stub::ServerOptions so;
  so.port = 0;
  std::vector<std::uint8_t> data;
  std::uint64_t base = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--file") {
      std::ifstream f(argv[i + 1], std::ios::binary);
      if (!f) {
        std::fprintf(stderr, "cannot read '%s'\n", argv[i + 1]);
        return 1;
      }
      data.assign(std::istreambuf_iterator<char>(f), {});
      continue;
    }
    auto n = parse_u64(argv[i + 1], 0);
    if (!n || (flag != "--packet-size" && flag != "--base")) {
      std::fprintf(stderr, "usage: rsp_ceiling_server [--packet-size BYTES] [--file F --base ADDR]\n");
      return 2;
    }
    (flag == "--base" ? base : so.session.packet_size) = *n;
  }
  spdlog::set_level(spdlog::level::warn);
  stub::Server server(so, [&] { return std::make_unique<ConstantTarget>(data, base); });
  if (auto r = server.listen(); !r) {
    std::fprintf(stderr, "%s\n", r.error().message.c_str());
    return 1;
  }
  std::printf("listening on 127.0.0.1:%u\n", server.port());
  std::fflush(stdout);
  boost::asio::signal_set signals(server.io(), SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) { server.stop(); });
  server.run();
  return 0;
}
