// tlpstub: a gdb stub that serves a target's physical memory as a read-only x86-64 kernel
// target. main wires the layers (design.md): choose the transport from flags, find the
// address space, serve gdb.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "app/dump_job.hpp"
#include "app/kernel_target.hpp"
#include "app/options.hpp"
#include "app/reference.hpp"
#include "app/target_context.hpp"
#include "common/deadline.hpp"
#include "kernel/paging.hpp"
#include "kernel/paging_probe.hpp"
#include "kernel/symbols/vmlinux_profile.hpp"
#include "stub/server.hpp"
#include "transport/counting_memory.hpp"
#include "transport/kdump_file.hpp"
#include "transport/memory_file.hpp"
#include "transport/nettlp_client.hpp"

using namespace tlpstub;

namespace {

void setup_logging(int verbosity) {
  auto logger = spdlog::stderr_color_mt("tlpstub");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(verbosity >= 1 ? spdlog::level::trace : spdlog::level::info);
}

Result<std::unique_ptr<PhysicalMemory>> open_memory(const app::Options& o) {
  if (!o.memory_file.empty()) {
    // A kdump-compressed dump (makedumpfile, QEMU's kdump-* formats) by its signature.
    std::uint8_t first[16] = {};
    if (std::FILE* f = std::fopen(o.memory_file.c_str(), "rb")) {
      (void)std::fread(first, 1, sizeof first, f);
      std::fclose(f);
    }
    if (is_kdump(first) || std::memcmp(first, "makedumpfile", 12) == 0) {
      if (!o.map.empty())
        return fail(Errc::invalid_argument, "--map does not apply to a kdump dump (it has its "
                                            "own page frame numbers)");
      auto kf = KdumpFile::open(o.memory_file);
      if (!kf) return std::unexpected(kf.error());
      return std::unique_ptr<PhysicalMemory>(std::move(*kf));
    }
    auto mf = MemoryFile::open(o.memory_file, o.map);
    if (!mf) return std::unexpected(mf.error());
    return std::unique_ptr<PhysicalMemory>(std::move(*mf));
  }
  NetTlpOptions no;
  no.adapter_ip = o.nettlp_adapter;
  no.local_ip = o.nettlp_local;
  no.tags = o.tags;
  no.mrrs = o.mrrs;
  no.pcap = o.pcap_file;
  no.max_address = o.ram_size;
  auto withreq = parse_nettlp_options("requester=" + o.requester, no);
  if (!withreq) return std::unexpected(withreq.error());
  auto client = NetTlpClient::open(*withreq);
  if (!client) return std::unexpected(client.error());
  return std::unique_ptr<PhysicalMemory>(std::move(*client));
}

Result<app::SpaceConfig> space_from_cr3(PhysicalMemory& mem, const app::Options& o) {
  app::SpaceConfig sc;
  sc.raw_cr3 = *o.cr3;
  sc.sme_mask = o.sme_mask;
  sc.top = kernel::cr3_table(*o.cr3, o.sme_mask);
  sc.source = "--cr3";
  sc.levels = o.levels;
  auto g = kernel::guess_paging_levels(mem, sc.top, o.sme_mask);
  if (sc.levels == 0) {
    if (!g) return std::unexpected(g.error());
    sc.levels = g->levels;
    spdlog::info("paging depth: {}-level (kernel image runs: 4-level {}, 5-level {})", g->levels,
                 g->score4, g->score5);
  }
  if (g && g->levels == sc.levels) {
    sc.image_va = g->image_va;
    spdlog::info("kernel image mapped at {:#x} (physical {:#x})", g->image_va, g->image_pa);
  }
  return sc;
}

std::atomic<bool> g_dump_cancelled{false};

extern "C" void on_dump_signal(int) { g_dump_cancelled = true; }

// --dump: discover, wait for symbols and types, write the vmcore, exit. Ctrl-C stops it and
// removes the partial file (kernel/export/vmcore_writer.hpp says why).
int dump_and_exit(app::TargetContext& ctx, PhysicalMemory& mem, const app::Options& o,
                  const kernel::DiscoveryOptions& dopts) {
  auto img = ctx.discover([](std::string_view s) { spdlog::info("discovery: {}", s); }, dopts);
  if (!img) {
    spdlog::error("dump: no kernel found: {}", img.error().message);
    return 1;
  }
  spdlog::info("kernel {} ({})", (*img)->release, (*img)->method);
  std::signal(SIGINT, on_dump_signal);
  std::signal(SIGTERM, on_dump_signal);
  app::DumpJob job;
  job.path = o.dump_path;
  job.level = o.dump_level.value_or(kernel::kDumpLevelZero);
  job.say = [](std::string_view s) { spdlog::info("{}", s); };
  job.cancelled = [] { return g_dump_cancelled.load(); };
  auto out = app::run_dump(ctx, mem, job);
  if (!out) {
    spdlog::error("{}", out.error().message);
    return 1;
  }
  std::string summary = app::dump_summary(*out, o.dump_path);
  std::fputs(summary.c_str(), stdout);
  return 0;
}


// --run COMMAND...: the monitor commands of a gdb session, with no gdb: each runs with no
// deadline (it waits for symbols and types as long as they take), its output goes to stdout
// and its error to the log. Ctrl-C stops a long one (a dump removes its file) and the rest.
int run_and_exit(app::TargetContext& ctx, const app::Options& o) {
  std::signal(SIGINT, on_dump_signal);
  std::signal(SIGTERM, on_dump_signal);
  app::KernelTarget target(ctx);
  int rc = 0;
  for (const std::string& line : o.run_commands) {
    if (g_dump_cancelled) {
      spdlog::error("{}: not run (interrupted)", line);
      rc = 1;
      continue;
    }
    target.begin_request(kNoDeadline);
    auto r = target.monitor_long(
        line, [](std::string_view t) { std::fwrite(t.data(), 1, t.size(), stdout); },
        [] { return g_dump_cancelled.load(); });
    std::fflush(stdout);
    if (!r) {
      spdlog::error("{}: {}", line, r.error().message);
      rc = 1;
    }
  }
  return rc;
}

// --make-profile: a vmlinux's profile (kernel/symbols/vmlinux_profile.hpp), no target.
int make_profile_and_exit(const app::Options& o) {
  const auto from = o.make_profile_from == "btf"     ? kernel::VmlinuxTypes::btf
                    : o.make_profile_from == "dwarf" ? kernel::VmlinuxTypes::dwarf
                                                     : kernel::VmlinuxTypes::auto_;
  auto vp = kernel::profile_from_vmlinux_file(o.make_profile, from);
  if (!vp) {
    spdlog::error("--make-profile: {}", vp.error().message);
    return 1;
  }
  if (auto w = kernel::save_profile_file(vp->profile, o.out_file); !w) {
    spdlog::error("--make-profile: {}", w.error().message);
    return 1;
  }
  const std::string types =
      vp->types_from == "BTF"
          ? fmt::format("BTF {} types in {} bytes", vp->btf_types, vp->btf_bytes)
          : fmt::format("DWARF: {} units, {} DIEs in {} bytes of .debug_info", vp->dwarf_units,
                        vp->dwarf_dies, vp->dwarf_bytes);
  spdlog::info("profile of {} (release '{}', build id '{}', {}): {} members, {} struct sizes "
               "written to {}",
               o.make_profile, vp->profile.release, vp->profile.build_id, types,
               vp->profile.members.size(), vp->profile.sizes.size(), o.out_file);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = app::parse_options(argc, argv);
  if (!opts) {
    if (opts.error().code == Errc::not_found) {
      if (opts.error().message == "version")
        std::puts("tlpstub " TLPSTUB_VERSION);
      else if (opts.error().message == "help-markdown")
        std::fputs(app::reference_markdown().c_str(), stdout);
      else
        std::fputs(app::usage_text().c_str(), stdout);
      return 0;
    }
    std::fprintf(stderr, "tlpstub: %s\n%s", opts.error().message.c_str(),
                 "try 'tlpstub --help'\n");
    return 2;
  }
  setup_logging(opts->verbosity);
  if (!opts->make_profile.empty()) return make_profile_and_exit(*opts);

  auto mem = open_memory(*opts);
  if (!mem) {
    spdlog::error("{}", mem.error().message);
    return 1;
  }
  MemoryInfo mi = (*mem)->info();
  spdlog::info("memory: {} ({:#x} bytes addressable)", mi.name, mi.max_address);

  // Every read is counted for `monitor stats`; a NetTLP client adds its link statistics.
  CountingMemory counted(**mem);
  app::TargetContext ctx(counted);
  ctx.read_counts = &counted;
  ctx.prebuild_symbol_file = opts->run_commands.empty();  // no gdb will fetch it
  if (auto* client = dynamic_cast<NetTlpClient*>(mem->get())) ctx.link_stats = &client->stats();
  if (!opts->profile_file.empty()) {
    // Read and checked now: a bad file is an error at start, not later in the background.
    auto p = kernel::load_profile_file(opts->profile_file);
    if (!p) {
      spdlog::error("--profile: {}", p.error().message);
      return 2;
    }
    spdlog::info("profile {}: release '{}', build id '{}', {} members, {} struct sizes",
                 opts->profile_file, p->release, p->build_id, p->members.size(), p->sizes.size());
    ctx.set_profile(std::move(*p), opts->profile_file, opts->profile_force);
  }
  kernel::DiscoveryOptions dopts;
  if (auto* mf = dynamic_cast<MemoryFile*>(mem->get())) {
    for (const MapEntry& e : mf->map()) ctx.source_ranges.push_back({e.phys, e.phys + e.length});
    dopts.vmcoreinfo_text = mf->vmcoreinfo_note();
    if (mf->is_elf_core())
      spdlog::info("ELF core: {} PT_LOAD pieces, VMCOREINFO note {}", mf->map().size(),
                   dopts.vmcoreinfo_text.empty() ? "absent" : "present");
  } else if (auto* kf = dynamic_cast<KdumpFile*>(mem->get())) {
    ctx.source_ranges.push_back({0, mi.max_address});
    dopts.vmcoreinfo_text = kf->vmcoreinfo();
  } else if (mi.max_address) {
    ctx.source_ranges.push_back({0, mi.max_address});
  }
  if (!opts->dump_path.empty()) return dump_and_exit(ctx, counted, *opts, dopts);
  if (opts->cr3) {
    auto sc = space_from_cr3(**mem, *opts);
    if (!sc) {
      spdlog::error("--cr3 {:#x}: {}", *opts->cr3, sc.error().message);
      return 1;
    }
    ctx.set_kernel_space(*sc);
    spdlog::info("kernel page table {:#x} ({}-level) from --cr3", sc->top.value, sc->levels);
  } else if (!opts->run_commands.empty()) {
    // In the foreground: the commands need the kernel anyway. Without one, those that read
    // physical memory only (`phys`, `stats`) still run; the others say what is missing.
    auto img = ctx.discover([](std::string_view s) { spdlog::info("discovery: {}", s); }, dopts);
    if (!img) spdlog::error("no kernel found: {}", img.error().message);
  } else {
    ctx.discover_in_background(dopts);
  }
  if (!opts->run_commands.empty()) return run_and_exit(ctx, *opts);

  stub::ServerOptions so;
  so.host = opts->listen_host;
  so.port = opts->listen_port;
  so.session.packet_size = opts->packet_size;
  so.allow = opts->allow;
  so.max_clients = opts->max_clients;
  stub::Server server(so, [&ctx] { return std::make_unique<app::KernelTarget>(ctx); });
  if (auto r = server.listen(); !r) {
    spdlog::error("{}", r.error().message);
    return 1;
  }
  spdlog::info("listening on {}:{} (gdb: target remote {}:{})", so.host, server.port(), so.host,
               server.port());
  std::signal(SIGPIPE, SIG_IGN);
  boost::asio::signal_set signals(server.io(), SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (!ec) spdlog::info("signal {}: stopping", sig);
    server.stop();
  });
  server.run();
  spdlog::info("reads asked for: {}", counted.format());
  spdlog::info("stopped");
  return 0;
}
