// symbols_driver: discovery, then kallsyms recovery, on a memory image (a QEMU guest's RAM file);
// prints every recovered symbol, for qemu-test/kallsyms_test.py and for people.
//
//   symbols_driver RAMFILE [--map SPEC] [--no-vmcoreinfo]
//
// stdout: "summary: key=value ..." lines (method, layout, count, percpu, reads, bytes, seconds),
// "note: ..." lines, then one line per symbol: "ADDRESS TYPE NAME" (16 hex digits, as nm and
// /proc/kallsyms print them), with " [percpu]" after per-CPU offsets.
// --no-vmcoreinfo: discovery by the structural scan, and kallsyms found by scanning the image
// (the KernelImage then carries no VMCOREINFO).
#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <vector>

#include "common/parse.hpp"
#include "kernel/discovery.hpp"
#include "kernel/symbols/kallsyms.hpp"
#include "transport/memory_file.hpp"

using namespace tlpstub;
using namespace tlpstub::kernel;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs("usage: symbols_driver RAMFILE [--map SPEC] [--no-vmcoreinfo]\n", stderr);
    return 2;
  }
  std::vector<MapEntry> map;
  DiscoveryOptions opts;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--map" && i + 1 < argc) {
      auto m = parse_memory_map(argv[++i]);
      if (!m) return fmt::print(stderr, "--map: {}\n", m.error().message), 2;
      map = *m;
    } else if (a == "--no-vmcoreinfo") {
      opts.use_vmcoreinfo = false;
    } else {
      return fmt::print(stderr, "unknown argument '{}'\n", a), 2;
    }
  }
  auto file = MemoryFile::open(argv[1], map);
  if (!file) return fmt::print(stderr, "{}: {}\n", argv[1], file.error().message), 1;
  auto img = discover(**file, opts);
  if (!img) return fmt::print(stderr, "discovery failed: {}\n", img.error().message), 1;
  auto syms = recover_symbols(**file, *img);
  if (!syms) return fmt::print(stderr, "kallsyms: {}\n", syms.error().message), 1;
  const KallsymsReport& r = syms->report;
  fmt::print("summary: method={}\nsummary: layout={}\nsummary: count={}\nsummary: percpu={}\n"
             "summary: reads={}\nsummary: bytes={}\nsummary: seconds={:.4f}\n"
             "summary: discovery_method={}\nsummary: text={:#x}\n",
             r.method, r.layout, r.count, r.percpu, r.reads, r.bytes, r.seconds, img->method,
             img->text_va);
  for (const std::string& n : r.notes) fmt::print("note: {}\n", n);
  std::string out;
  for (const Symbol& s : syms->table.symbols())
    out += fmt::format("{:016x} {} {}{}\n", s.address, s.type, s.name, s.percpu ? " [percpu]" : "");
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}
