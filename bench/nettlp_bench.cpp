// NetTLP read throughput through an in-process tlpsim on loopback (latency 12 us, like the
// real platform's median read latency): the pipelined client (256 tags) against a
// one-request-at-a-time client (window 1: libtlp's model), in the same run.
//
//   nettlp_bench [--latency_us=12] [google benchmark flags]
//
// Sequential: 64 MiB per iteration pipelined (MRRS 512, and 4096 for comparison); the serial client reads 8 MiB per iteration
// (64 MiB at one request per round trip would take most of a minute; the rate is what counts).
// Random: 64-byte reads at random addresses, 20000 per batch pipelined, 2000 serial.
// Dump: the vmcore writer (kernel/export/vmcore_writer.hpp) over the pipelined client, the
// 64 MiB image as one RAM range written to a temporary file: its rate against sequential's.
#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kernel/export/vmcore_writer.hpp"
#include "transport/memory_file.hpp"
#include "transport/nettlp_client.hpp"
#include "transport/tlpsim.hpp"

using namespace tlpstub;

namespace {

constexpr std::size_t kImageSize = 64 << 20;
std::chrono::nanoseconds g_latency = std::chrono::microseconds(12);

struct World {
  std::string path;
  std::unique_ptr<TlpSim> sim;
  std::unique_ptr<NetTlpClient> pipelined, serial, big;

  World() {
    char tmpl[] = "/tmp/tlpstub-bench-XXXXXX";
    int fd = mkstemp(tmpl);
    path = tmpl;
    std::vector<std::uint8_t> chunk(1 << 20);
    std::mt19937_64 rng(7);
    for (std::size_t done = 0; done < kImageSize; done += chunk.size()) {
      for (std::size_t i = 0; i < chunk.size(); i += 8) {
        const std::uint64_t v = rng();
        std::memcpy(chunk.data() + i, &v, 8);
      }
      if (::write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) std::abort();
    }
    ::close(fd);
    const std::string base = fmt::format("127.77.{}.", 1 + getpid() % 250);
    TlpSimOptions so;
    so.listen_ip = base + "2";
    so.latency = g_latency;
    auto sim_or = TlpSim::open(std::shared_ptr<const MemoryFile>(MemoryFile::open(path).value()), so);
    if (!sim_or) throw std::runtime_error(sim_or.error().message);
    sim = std::move(*sim_or);
    sim->start();
    NetTlpOptions co;
    co.adapter_ip = so.listen_ip;
    co.local_ip = base + "1";
    pipelined = std::move(NetTlpClient::open(co).value());
    co.local_ip = base + "4";
    co.mrrs = 4096;
    big = std::move(NetTlpClient::open(co).value());
    co.local_ip = base + "3";
    co.mrrs = 512;
    co.window = 1;
    serial = std::move(NetTlpClient::open(co).value());
  }
  ~World() {
    pipelined.reset();
    serial.reset();
    big.reset();
    sim.reset();
    std::remove(path.c_str());
  }
};

World& world() {
  static World w;
  return w;
}

void sequential(benchmark::State& state, bool pipelined, bool mrrs4096 = false) {
  NetTlpClient& c = mrrs4096 ? *world().big : pipelined ? *world().pipelined : *world().serial;
  const std::size_t bytes = pipelined ? kImageSize : kImageSize / 8;
  std::vector<std::uint8_t> buf(bytes);
  for (auto _ : state) {
    auto st = c.read_one(PhysAddr(0), buf);
    if (!st) state.SkipWithError(st.error().message.c_str());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

void random64(benchmark::State& state, bool pipelined) {
  NetTlpClient& c = pipelined ? *world().pipelined : *world().serial;
  const std::size_t n = pipelined ? 20000 : 2000;
  std::mt19937_64 rng(11);
  std::vector<std::uint8_t> buf(n * 64);
  std::vector<ReadRange> rr(n);
  std::vector<ReadStatus> st(n);
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i)
      rr[i] = {PhysAddr(rng() % (kImageSize - 64)), {buf.data() + i * 64, 64}};
    c.read(rr, st);
    for (auto& s : st)
      if (!s) state.SkipWithError(s.error().message.c_str());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

void dump_vmcore(benchmark::State& state) {
  NetTlpClient& c = *world().pipelined;
  kernel::VmcorePlan plan;
  plan.ram = {{0, 0xffff888000000000ull, kImageSize}};
  plan.vmcoreinfo = "OSRELEASE=bench\n";
  const std::string out = world().path + ".vmcore";
  for (auto _ : state) {
    auto r = kernel::write_vmcore(c, plan, out);
    if (!r) state.SkipWithError(r.error().message.c_str());
  }
  std::remove(out.c_str());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kImageSize));
}

BENCHMARK(dump_vmcore)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK_CAPTURE(sequential, pipelined, true)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK_CAPTURE(sequential, pipelined_mrrs4096, true, true)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK_CAPTURE(sequential, serial, false)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK_CAPTURE(random64, pipelined, true)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK_CAPTURE(random64, serial, false)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

// Keeps each benchmark's rate so that main() can print the ratios.
class RateReporter : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, double> rates;
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      for (const char* k : {"bytes_per_second", "items_per_second"})
        if (auto it = r.counters.find(k); it != r.counters.end())
          rates[r.benchmark_name()] = it->second.value;
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--latency_us=", 13) == 0) {
      g_latency = std::chrono::microseconds(std::atoi(argv[i] + 13));
      for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
      --argc;
      --i;
    }
  spdlog::set_level(spdlog::level::warn);
  benchmark::Initialize(&argc, argv);
  RateReporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  auto rate = [&](const std::string& prefix) {
    for (auto& [k, v] : rep.rates)
      if (k.rfind(prefix, 0) == 0) return v;
    return 0.0;
  };
  const double sp = rate("sequential/pipelined/"), ss = rate("sequential/serial");
  const double sb = rate("sequential/pipelined_mrrs4096");
  const double rp = rate("random64/pipelined"), rs = rate("random64/serial");
  std::printf("\nlatency %lld us\n", static_cast<long long>(g_latency.count() / 1000));
  std::printf("sequential: pipelined %.1f MB/s, serial %.1f MB/s, ratio %.1fx (goal >= 10x, >= 400 MB/s)\n",
              sp / 1e6, ss / 1e6, ss > 0 ? sp / ss : 0.0);
  std::printf("sequential, pipelined with mrrs 4096: %.1f MB/s, ratio to serial %.1fx\n", sb / 1e6,
              ss > 0 ? sb / ss : 0.0);
  const double dv = rate("dump_vmcore");
  std::printf("dump (vmcore writer, 4 MiB chunks): %.1f MB/s, %.0f%% of sequential "
              "pipelined (goal >= 80%%)\n",
              dv / 1e6, sp > 0 ? 100 * dv / sp : 0.0);
  std::printf("random 64 B: pipelined %.0f reads/s, serial %.0f reads/s, ratio %.1fx\n", rp, rs,
              rs > 0 ? rp / rs : 0.0);
  if (world().sim) {
    std::printf("\npipelined client:\n%s", world().pipelined->stats().format().c_str());
    std::printf("serial client:\n%s", world().serial->stats().format().c_str());
    std::printf("tlpsim: %s\n", world().sim->format_counters().c_str());
  }
  benchmark::Shutdown();
  return 0;
}
