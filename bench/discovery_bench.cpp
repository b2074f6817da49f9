// Discovery cost over a simulated NetTLP link: bytes read and time from nothing to a usable
// kernel address space, for each path (VMCOREINFO, structural fallback), against the
// reference method (read the whole RAM) on the same link in the same run.
//
//   discovery_bench --memory RAMFILE [--map SPEC] [--latency 12us] [--loss P] [--runs N]
//                   [--stats] [--progress] [--batches] [--notes] [--no-full-read]
//
// The RAM file is a QEMU guest's (bench/discovery_bench.sh boots 512 MiB and 3 GiB guests).
// tlpsim runs in-process on 127.A.B.2 and the client binds 127.A.B.1, as on a real two-host
// link (A.B from the process id, so that benches and tests of others on this machine, which
// bind the same ports, do not collide).
// Every discovery run gets a new client (as a new tlpstub would: nothing learnt about the link
// carries over); --loss drops that share of datagrams both ways; --stats prints the client's
// counters (retries, timeouts, liveness probes, round-trip histogram) after each run, --progress
// the time at which each discovery step began, --batches every batch it read, --notes what
// discovery reports (monitor info).
#include <chrono>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include "kernel/discovery.hpp"
#include "kernel/symbols/btf_locate.hpp"
#include "kernel/symbols/kallsyms.hpp"
#include "kernel/symbols/offset_inference.hpp"
#include "transport/memory_file.hpp"
#include "transport/nettlp_client.hpp"
#include "transport/tlpsim.hpp"

using namespace tlpstub;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string memory, map;
  std::chrono::nanoseconds latency{12'000};
  double loss = 0;
  int runs = 1;
  bool stats = false;
  bool progress = false;
  bool batches = false;
  bool notes = false;
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
    } else if (k == "--loss") {
      auto v = val();
      if (!v) return false;
      a.loss = std::strtod(v, nullptr);
      if (!(a.loss >= 0 && a.loss < 1)) return false;
    } else if (k == "--runs") {
      auto v = val();
      if (!v) return false;
      a.runs = std::atoi(v);
      if (a.runs < 1 || a.runs > 100) return false;
    } else if (k == "--stats") {
      a.stats = true;
    } else if (k == "--progress") {
      a.progress = true;
    } else if (k == "--batches") {
      a.batches = true;
    } else if (k == "--notes") {
      a.notes = true;
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

// --batches: prints every batch discovery hands over (when, how long, how many ranges), to see
// which dependent steps wait on the link.
class BatchLog final : public PhysicalMemory {
 public:
  BatchLog(PhysicalMemory& inner, Clock::time_point t0) : inner_(inner), t0_(t0) {}
  MemoryInfo info() const override { return inner_.info(); }

 protected:
  void do_read(std::span<const ReadRange> ranges, std::span<ReadStatus> results,
               Deadline deadline) override {
    const double start = seconds_since(t0_);
    const auto t = Clock::now();
    inner_.read(ranges, results, deadline);
    std::uint64_t bytes = 0;
    std::size_t failed = 0;
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      bytes += ranges[i].out.size();
      failed += !results[i];
    }
    fmt::print("    batch at {:.4f} s: {:7.2f} ms  {:5} ranges  {:8} bytes  {} failed\n", start,
               seconds_since(t) * 1000, ranges.size(), bytes, failed);
  }

 private:
  PhysicalMemory& inner_;
  Clock::time_point t0_;
};

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

// Times kallsyms and BTF recovery after a discovery, on the same link; BTF is read in the
// [__start_BTF, __stop_BTF) range kallsyms gives, as tlpstub does.
void recover_symbols_and_types(PhysicalMemory& link, const kernel::KernelImage& img) {
  auto t0 = Clock::now();
  auto syms = kernel::recover_symbols(link, img);
  if (!syms) {
    fmt::print("    + kallsyms FAILED: {}\n", syms.error().message);
    return;
  }
  const kernel::KallsymsReport& r = syms->report;
  fmt::print("    + kallsyms  {:7.3f} s  {:8.2f} MiB read  {:7} reads  -> {} symbols ({})\n",
             seconds_since(t0), r.bytes / 1048576.0, r.reads, r.count, r.method);
  // The no-BTF path (kernels without BTF): offset inference from init_task and kernel code,
  // timed on the same link whether or not the kernel has BTF; it reads no BTF.
  t0 = Clock::now();
  auto inf = kernel::infer_offsets(link, img, syms->table);
  if (!inf) {
    fmt::print("    + inference FAILED: {}\n", inf.error().message);
  } else {
    fmt::print("    + inference {:7.3f} s  {:8.2f} MiB read  {:7} reads  -> {} members found, "
               "{} missing, {} tasks on the ring\n",
               seconds_since(t0), inf->cost.bytes / 1048576.0, inf->cost.reads,
               inf->found_count(), inf->missing.size(), inf->tasks_seen);
  }
  t0 = Clock::now();
  auto btf = kernel::recover_btf(link, img, kernel::btf_range(syms->table));
  if (!btf) {
    fmt::print("    + BTF FAILED: {}\n", btf.error().message);
    return;
  }
  fmt::print("    + BTF       {:7.3f} s  {:8.2f} MiB read  {:7} reads  -> {} types, {} bytes ({})\n",
             seconds_since(t0), btf->cost.bytes / 1048576.0, btf->cost.reads,
             btf->btf->type_count(), btf->size, btf->how);
}

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);  // the client's statistics at exit go to --stats
  Args a;
  if (!parse(argc, argv, a)) {
    std::fprintf(stderr, "usage: discovery_bench --memory RAMFILE [--map SPEC] [--latency US] "
                         "[--loss P] [--runs N] [--stats] [--progress] [--batches] [--notes] [--no-full-read]\n");
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
  const unsigned pid = static_cast<unsigned>(getpid());
  const std::string net = fmt::format("127.{}.{}.", 1 + pid % 250, 1 + pid / 250 % 250);
  TlpSimOptions so;
  so.listen_ip = net + "2";
  so.latency = a.latency;
  so.loss = a.loss;
  auto sim = TlpSim::open(shared, so);
  if (!sim) return std::fprintf(stderr, "tlpsim: %s\n", sim.error().message.c_str()), 1;
  (*sim)->start();
  NetTlpOptions no;  // RAM size unknown, as on real hardware
  no.adapter_ip = net + "2";
  no.local_ip = net + "1";
  auto new_client = [&]() -> std::unique_ptr<NetTlpClient> {
    auto c = NetTlpClient::open(no);
    if (!c) std::fprintf(stderr, "client: %s\n", c.error().message.c_str());
    return c ? std::move(*c) : nullptr;
  };

  std::uint64_t ram = 0;
  for (const MapEntry& e : shared->map()) ram += e.length;
  fmt::print("RAM {} MiB, link latency {} us, loss {}, RAM size not given to discovery\n",
             ram >> 20, a.latency.count() / 1000.0, a.loss);
  double best = 0;
  for (bool vmci : {true, false}) {
    for (int run = 0; run < a.runs; ++run) {
      auto client = new_client();  // a new tlpstub: nothing learnt about the link yet
      if (!client) return 1;
      kernel::DiscoveryOptions opt;
      opt.use_vmcoreinfo = vmci;
      auto t0 = Clock::now();
      BatchLog logged(*client, t0);
      PhysicalMemory& mem = a.batches ? static_cast<PhysicalMemory&>(logged) : *client;
      auto img = kernel::discover(mem, opt, [&](std::string_view m) {
        if (a.progress) fmt::print("    +{:.3f} s {}\n", seconds_since(t0), m);
      });
      double t = seconds_since(t0);
      const char* name = vmci ? "VMCOREINFO path" : "structural fallback";
      if (!img) {
        fmt::print("  {:<22} FAILED: {}\n", name, img.error().message);
        continue;
      }
      const TransportStats& st = client->stats();
      fmt::print("  {:<22} {:7.3f} s  {:8.2f} MiB read  {:7} reads  {:4} batches  {:4} retries  {:3} timeouts"
                 "  {:2} probes  -> {} ({}-level)\n",
                 name, t, img->cost.bytes / 1048576.0, img->cost.reads, st.batches.load(), st.retries.load(),
                 st.timeouts.load(), st.probes.load(), img->release, img->levels);
      if (a.stats) fmt::print("{}", st.format());
      // What tlpstub does next (issue 8): kallsyms, then BTF in the range kallsyms gives.
      if (vmci) recover_symbols_and_types(*client, *img);
      if (a.notes)
        for (const std::string& n : img->notes) fmt::print("    note: {}\n", n);
      best = std::max(best, t);
    }
  }
  if (a.full_read) {
    auto client = new_client();
    if (!client) return 1;
    auto [t, bytes] = read_everything(*client, shared->map());
    fmt::print("  {:<22} {:7.3f} s  {:8.2f} MiB read  (reference: dump all RAM)\n",
               "whole-RAM read", t, bytes / 1048576.0);
    if (best > 0) fmt::print("  slowest discovery path is {:.0f}x faster than the whole-RAM read\n", t / best);
  }
  (*sim)->stop();
  return 0;
}
