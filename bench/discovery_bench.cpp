// Discovery cost over a simulated NetTLP link: bytes read and time from nothing to a usable
// kernel address space, for each path (VMCOREINFO, structural fallback), against the
// reference method (read the whole RAM) on the same link in the same run.
//
//   discovery_bench --memory RAMFILE [--map SPEC] [--latency 12us] [--no-full-read]
//
// The RAM file is a QEMU guest's (bench/discovery_bench.sh boots 512 MiB and 3 GiB guests).
// tlpsim runs in-process on 127.0.0.2; the client binds 127.0.0.1, as on a real two-host link.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "kernel/discovery.hpp"
#include "transport/memory_file.hpp"
#include "transport/nettlp_client.hpp"
#include "transport/tlpsim.hpp"

using namespace tlpstub;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string memory, map;
  std::chrono::nanoseconds latency{12'000};
  bool full_read = true;
};

bool parse(int argc, char** argv, Args& a) {
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto val = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (k == "--memory") {
      if (auto v = val()) a.memory = v; else return false;
    } else if (k == "--map") {
      if (auto v = val()) a.map = v; else return false;
    } else if (k == "--latency") {
      auto v = val();
      if (!v) return false;
      a.latency = std::chrono::nanoseconds(static_cast<long>(std::strtod(v, nullptr) * 1000));
    } else if (k == "--no-full-read") {
      a.full_read = false;
    } else {
      return false;
    }
  }
  return !a.memory.empty();
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The reference method: read every backed byte, 64 KiB per batch of 512-byte reads.
std::pair<double, std::uint64_t> read_everything(PhysicalMemory& mem,
                                                  const std::vector<MapEntry>& map) {
  auto t0 = Clock::now();
  std::uint64_t bytes = 0;
  std::vector<std::uint8_t> buf(4 << 20);
  for (const MapEntry& e : map) {
    for (std::uint64_t off = 0; off < e.length; off += buf.size()) {
      std::size_t n = std::min<std::uint64_t>(buf.size(), e.length - off);
      std::vector<ReadRange> ranges;
      for (std::size_t p = 0; p < n; p += 4096)
        ranges.push_back({PhysAddr(e.phys + off + p), std::span(buf).subspan(p, 4096)});
      std::vector<ReadStatus> st(ranges.size());
      mem.read(ranges, st);
      bytes += n;
    }
  }
  return {seconds_since(t0), bytes};
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse(argc, argv, a)) {
    std::fprintf(stderr, "usage: discovery_bench --memory RAMFILE [--map SPEC] [--latency US] "
                         "[--no-full-read]\n");
    return 2;
  }
  std::vector<MapEntry> map;
  if (!a.map.empty()) {
    auto m = parse_memory_map(a.map);
    if (!m) return std::fprintf(stderr, "%s\n", m.error().message.c_str()), 2;
    map = *m;
  }
  auto file = MemoryFile::open(a.memory, map);
  if (!file) return std::fprintf(stderr, "%s\n", file.error().message.c_str()), 1;
  std::shared_ptr<const MemoryFile> shared(std::move(*file));
  TlpSimOptions so;
  so.latency = a.latency;
  auto sim = TlpSim::open(shared, so);
  if (!sim) return std::fprintf(stderr, "tlpsim: %s\n", sim.error().message.c_str()), 1;
  (*sim)->start();
  NetTlpOptions no;  // RAM size unknown, as on real hardware
  auto client = NetTlpClient::open(no);
  if (!client) return std::fprintf(stderr, "client: %s\n", client.error().message.c_str()), 1;

  std::uint64_t ram = 0;
  for (const MapEntry& e : shared->map()) ram += e.length;
  fmt::print("RAM {} MiB, link latency {} us, RAM size not given to discovery\n", ram >> 20,
             a.latency.count() / 1000.0);
  double best = 0;
  for (bool vmci : {true, false}) {
    kernel::DiscoveryOptions opt;
    opt.use_vmcoreinfo = vmci;
    auto t0 = Clock::now();
    auto img = kernel::discover(**client, opt);
    double t = seconds_since(t0);
    if (!img) {
      fmt::print("  {:<22} FAILED: {}\n", vmci ? "VMCOREINFO path" : "structural fallback",
                 img.error().message);
      continue;
    }
    fmt::print("  {:<22} {:7.3f} s  {:8.2f} MiB read  {:7} reads  -> {} ({}-level)\n",
               vmci ? "VMCOREINFO path" : "structural fallback", t,
               img->cost.bytes / 1048576.0, img->cost.reads, img->release, img->levels);
    best = std::max(best, t);
  }
  if (a.full_read) {
    auto [t, bytes] = read_everything(**client, shared->map());
    fmt::print("  {:<22} {:7.3f} s  {:8.2f} MiB read  (reference: dump all RAM)\n",
               "whole-RAM read", t, bytes / 1048576.0);
    if (best > 0) fmt::print("  slowest discovery path is {:.0f}x faster than the whole-RAM read\n", t / best);
  }
  (*sim)->stop();
  return 0;
}
