// tlpsim: a software NetTLP adapter serving a memory file (see transport/tlpsim.hpp).
//
//   tlpsim --memory FILE [--map PHYS:OFF:LEN,...] --listen IP [--latency 12us] [--loss P]
//          [--reorder P] [--duplicate P] [--unbacked silent|ur] [--pcap FILE] [--seed N]
//          [--ports N] [--stall 200ms --stall-every 2s] [-v|-vv]
//
// On one machine, run tlpsim on a second loopback address (both ends bind ports 0x3000+tag):
//   tlpsim --memory ram.img --listen 127.0.0.2 --latency 12us
//   tlpstub --nettlp adapter=127.0.0.2,local=127.0.0.1 ...
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <string>
#include <string_view>

#include "common/parse.hpp"
#include "transport/memory_file.hpp"
#include "transport/tlpsim.hpp"

using namespace tlpstub;

namespace {

constexpr const char* kUsage =
    "usage: tlpsim --memory FILE [--map PHYS:OFF:LEN,...] --listen IP [--latency 12us]\n"
    "              [--loss P] [--reorder P] [--duplicate P] [--unbacked silent|ur]\n"
    "              [--pcap FILE] [--seed N] [--ports N] [--stall T --stall-every T]\n"
    "              [-v|-vv] [--version]\n"
    "Serves NetTLP memory reads from FILE on UDP IP:0x3000..0x30FF until SIGINT/SIGTERM.\n"
    "  --map        place file ranges at physical addresses (default: phys == file offset)\n"
    "  --latency    delay of every answer: 12us, 1ms, 500ns (a bare number is microseconds)\n"
    "  --loss P     drop each datagram with probability P (requests and completions)\n"
    "  --reorder P  hold back each completion with probability P (20-200 us + 1-4 latencies)\n"
    "  --duplicate P  send each completion twice with probability P\n"
    "  --stall T --stall-every T  go quiet for T (e.g. 200ms) at the end of every period:\n"
    "               requests are taken in, their completions leave when the stall ends\n"
    "  --unbacked   answer reads outside the file with silence (default, like real hardware)\n"
    "               or an Unsupported Request completion\n"
    "  --pcap FILE  record every datagram (Ethernet/IPv4/UDP framing; tshark reads it)\n";

Result<std::chrono::nanoseconds> parse_duration(std::string_view s) {
  std::uint64_t mul = 1000;  // bare number: microseconds
  auto ends = [&](std::string_view suf) {
    if (s.size() > suf.size() && s.substr(s.size() - suf.size()) == suf) {
      s.remove_suffix(suf.size());
      return true;
    }
    return false;
  };
  if (ends("ns")) mul = 1;
  else if (ends("us")) mul = 1000;
  else if (ends("ms")) mul = 1'000'000;
  else if (ends("s")) mul = 1'000'000'000;
  auto v = parse_u64(s, 10);
  if (!v) return fail(Errc::invalid_argument, fmt::format("bad duration '{}'", s));
  return std::chrono::nanoseconds(*v * mul);
}

Result<double> parse_prob(std::string_view s) {
  try {
    std::size_t used = 0;
    double p = std::stod(std::string(s), &used);
    if (used == s.size() && p >= 0 && p <= 1) return p;
  } catch (...) {
  }
  return fail(Errc::invalid_argument, fmt::format("'{}' is not a probability in [0, 1]", s));
}

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "tlpsim: %s\n%s", msg.c_str(), kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string memory_path, map_spec;
  TlpSimOptions opt;
  bool have_listen = false;
  int verbose = 0;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--version") {
      std::puts("tlpsim " TLPSTUB_VERSION);
      return 0;
    } else if (a == "-v") {
      ++verbose;
      continue;
    } else if (a == "-vv") {
      verbose += 2;
      continue;
    }
    const char* v = value();
    if (!v) return usage_error(fmt::format("{} needs a value", a));
    if (a == "--memory") memory_path = v;
    else if (a == "--map") map_spec = v;
    else if (a == "--listen") opt.listen_ip = v, have_listen = true;
    else if (a == "--pcap") opt.pcap = v;
    else if (a == "--latency" || a == "--stall" || a == "--stall-every") {
      auto d = parse_duration(v);
      if (!d) return usage_error(d.error().message);
      (a == "--latency" ? opt.latency : a == "--stall" ? opt.stall : opt.stall_every) = *d;
    } else if (a == "--loss" || a == "--reorder" || a == "--duplicate") {
      auto p = parse_prob(v);
      if (!p) return usage_error(p.error().message);
      (a == "--loss" ? opt.loss : a == "--reorder" ? opt.reorder : opt.duplicate) = *p;
    } else if (a == "--unbacked") {
      if (std::string_view(v) == "silent") opt.unbacked = TlpSimOptions::Unbacked::silent;
      else if (std::string_view(v) == "ur") opt.unbacked = TlpSimOptions::Unbacked::ur;
      else return usage_error("--unbacked is silent or ur");
    } else if (a == "--seed" || a == "--ports") {
      auto n = parse_u64(v);
      if (!n) return usage_error(n.error().message);
      if (a == "--seed") opt.seed = *n;
      else opt.ports = static_cast<unsigned>(*n);
    } else {
      return usage_error(fmt::format("unknown option {}", a));
    }
  }
  if (memory_path.empty()) return usage_error("--memory is required");
  if (!have_listen) return usage_error("--listen is required");
  spdlog::set_level(verbose >= 2 ? spdlog::level::trace
                    : verbose == 1 ? spdlog::level::debug
                                   : spdlog::level::info);

  std::vector<MapEntry> map;
  if (!map_spec.empty()) {
    auto m = parse_memory_map(map_spec);
    if (!m) return usage_error(m.error().message);
    map = std::move(*m);
  }
  auto mem = MemoryFile::open(memory_path, std::move(map));
  if (!mem) {
    std::fprintf(stderr, "tlpsim: %s\n", mem.error().message.c_str());
    return 1;
  }
  // Block the signals before any thread starts, then wait for them here.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  auto sim = TlpSim::open(std::shared_ptr<const MemoryFile>(std::move(*mem)), opt);
  if (!sim) {
    std::fprintf(stderr, "tlpsim: %s\n", sim.error().message.c_str());
    return 1;
  }
  spdlog::info("tlpsim: serving {} on {}:0x3000..{:#x}, latency {} ns, loss {}, reorder {}, "
               "duplicate {}, stall {} ms every {} ms, unbacked {}",
               memory_path, opt.listen_ip, 0x3000 + opt.ports - 1, opt.latency.count(), opt.loss,
               opt.reorder, opt.duplicate,
               std::chrono::duration_cast<std::chrono::milliseconds>(opt.stall).count(),
               std::chrono::duration_cast<std::chrono::milliseconds>(opt.stall_every).count(),
               opt.unbacked == TlpSimOptions::Unbacked::ur ? "ur" : "silent");
  (*sim)->start();
  int sig = 0;
  sigwait(&sigs, &sig);
  (*sim)->stop();
  const std::uint64_t violations = (*sim)->write_violations();
  std::string summary = (*sim)->format_counters();
  sim->reset();
  spdlog::info("tlpsim: {} received, exiting", strsignal(sig));
  std::fprintf(stderr, "tlpsim: %s\n", summary.c_str());
  std::fprintf(stderr, "tlpsim: write violations: %llu\n", static_cast<unsigned long long>(violations));
  return 0;
}
