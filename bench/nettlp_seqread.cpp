// Sequential read rate over a running NetTLP adapter (tlpsim or hardware), for dump_bench.sh:
// the same link the dump uses, so the dump's rate can be set against it in the same run.
//
//   nettlp_seqread --adapter IP --local IP [--from PHYS] --bytes SIZE [--tags N] [--mrrs B]
//                  [--runs N]
//
// Reads [from, from + bytes) in order, 64 MiB per batch (nettlp_bench's sequential row reads
// 64 MiB as one range too), with up to --tags reads in flight: 256 is the pipelined client,
// 1 the one-read-at-a-time client (libtlp's model). Prints one line per run:
//   seqread: tags 256 mrrs 512: 268435456 bytes in 12.345 s, 21.7 MB/s
// and exits 1 if any read failed (the rate of a read that failed means nothing).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/parse.hpp"
#include "transport/nettlp_client.hpp"

using namespace tlpstub;

namespace {

constexpr const char* kSeqreadUsage =
    "usage: nettlp_seqread --adapter IP --local IP [--from PHYS] --bytes SIZE [--tags N]\n"
    "                      [--mrrs BYTES] [--runs N]\n"
    "Reads [PHYS, PHYS+SIZE) in order, 64 MiB per batch, and prints the rate of each run.\n";

struct SeqreadArgs {
  NetTlpOptions net;
  std::uint64_t from = 0, bytes = 0;
  unsigned runs = 1;
};

bool parse_seqread(int argc, char** argv, SeqreadArgs& a) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "-h" || k == "--help") return false;
    if (i + 1 >= argc) {
      std::fprintf(stderr, "nettlp_seqread: %s needs a value\n", k.c_str());
      return false;
    }
    const std::string v = argv[++i];
    auto num = [&](auto parser, std::uint64_t lo, std::uint64_t hi) -> Result<std::uint64_t> {
      auto r = parser(v);
      if (!r || *r < lo || *r > hi)
        return fail(Errc::invalid_argument, fmt::format("{} {}: want {}..{}", k, v, lo, hi));
      return *r;
    };
    Result<std::uint64_t> r = 0;
    if (k == "--adapter") a.net.adapter_ip = v;
    else if (k == "--local") a.net.local_ip = v;
    else if (k == "--from") { r = num([](std::string_view s) { return parse_size(s); }, 0, ~0ull); if (r) a.from = *r; }
    else if (k == "--bytes") { r = num([](std::string_view s) { return parse_size(s); }, 4096, 1ull << 40); if (r) a.bytes = *r; }
    else if (k == "--tags") { r = num([](std::string_view s) { return parse_u64(s, 10); }, 1, 256); if (r) a.net.tags = static_cast<unsigned>(*r); }
    else if (k == "--mrrs") { r = num([](std::string_view s) { return parse_u64(s, 10); }, 4, 4096); if (r) a.net.mrrs = static_cast<std::uint32_t>(*r); }
    else if (k == "--runs") { r = num([](std::string_view s) { return parse_u64(s, 10); }, 1, 100); if (r) a.runs = static_cast<unsigned>(*r); }
    else {
      std::fprintf(stderr, "nettlp_seqread: unknown option %s\n", k.c_str());
      return false;
    }
    if (!r) {
      std::fprintf(stderr, "nettlp_seqread: %s\n", r.error().message.c_str());
      return false;
    }
  }
  if (a.bytes == 0) std::fprintf(stderr, "nettlp_seqread: --bytes is required\n");
  return a.bytes != 0;
}

}  // namespace

int main(int argc, char** argv) {
  SeqreadArgs a;
  if (!parse_seqread(argc, argv, a)) {
    std::fputs(kSeqreadUsage, stderr);
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  auto client = NetTlpClient::open(a.net);
  if (!client) {
    std::fprintf(stderr, "nettlp_seqread: %s\n", client.error().message.c_str());
    return 1;
  }
  constexpr std::uint64_t kBatch = 64ull << 20;
  std::vector<std::uint8_t> buf(static_cast<std::size_t>(std::min(kBatch, a.bytes)));
  for (unsigned run = 0; run < a.runs; ++run) {
    const auto t0 = std::chrono::steady_clock::now();
    for (std::uint64_t done = 0; done < a.bytes; done += buf.size()) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), a.bytes - done));
      if (auto st = (*client)->read_one(PhysAddr(a.from + done), {buf.data(), n}); !st) {
        std::fprintf(stderr, "nettlp_seqread: read at %#llx: %s\n",
                     static_cast<unsigned long long>(a.from + done), st.error().message.c_str());
        return 1;
      }
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("seqread: tags %u mrrs %u: %llu bytes in %.3f s, %.1f MB/s\n", a.net.tags,
                a.net.mrrs, static_cast<unsigned long long>(a.bytes), s,
                static_cast<double>(a.bytes) / s / 1e6);
    std::fflush(stdout);
  }
  return 0;
}
