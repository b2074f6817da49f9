// infer_driver: discovery, kallsyms, then offset inference on a memory image (a QEMU guest's
// RAM file), and BTF when it is there; prints both for people and for comparing by hand.
//
//   infer_driver RAMFILE [--map SPEC]
//
// stdout: one line per inferred member "inferred STRUCT.PATH OFFSET SOURCE | EVIDENCE", then
// "missing STRUCT.PATH WHY", "btf STRUCT.PATH OFFSET" for every wanted member BTF knows, and
// "summary: ..." lines (tasks, reads, bytes, seconds).
#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <vector>

#include "common/parse.hpp"
#include "kernel/discovery.hpp"
#include "kernel/symbols/btf_locate.hpp"
#include "kernel/symbols/kallsyms.hpp"
#include "kernel/symbols/offset_inference.hpp"
#include "kernel/symbols/wanted_offsets.hpp"
#include "transport/memory_file.hpp"

using namespace tlpstub;
using namespace tlpstub::kernel;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs("usage: infer_driver RAMFILE [--map SPEC]\n", stderr);
    return 2;
  }
  std::vector<MapEntry> map;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--map" && i + 1 < argc) {
      auto m = parse_memory_map(argv[++i]);
      if (!m) return fmt::print(stderr, "--map: {}\n", m.error().message), 2;
      map = *m;
    } else {
      return fmt::print(stderr, "unknown argument '{}'\n", a), 2;
    }
  }
  auto file = MemoryFile::open(argv[1], map);
  if (!file) return fmt::print(stderr, "{}: {}\n", argv[1], file.error().message), 1;
  auto img = discover(**file);
  if (!img) return fmt::print(stderr, "discovery failed: {}\n", img.error().message), 1;
  auto syms = recover_symbols(**file, *img);
  if (!syms) return fmt::print(stderr, "kallsyms: {}\n", syms.error().message), 1;
  auto inf = infer_offsets(**file, *img, syms->table);
  if (!inf) return fmt::print(stderr, "inference: {}\n", inf.error().message), 1;
  for (const InferredMember& m : inf->members)
    fmt::print("inferred {}.{} {} {} | {}\n", m.struct_name, m.path,
               m.found() ? fmt::format("{}", m.offset()) : std::string("-"),
               m.found() ? m.source() : "conflict: " + m.conflict, m.evidence);
  for (const InferenceMissing& m : inf->missing)
    fmt::print("missing {}.{} {}\n", m.struct_name, m.path, m.why);
  for (const std::string& n : inf->notes) fmt::print("note: {}\n", n);
  fmt::print("summary: tasks={}\nsummary: found={}\nsummary: reads={}\nsummary: bytes={}\n"
             "summary: seconds={:.4f}\n",
             inf->tasks_seen, inf->found_count(), inf->cost.reads, inf->cost.bytes,
             inf->cost.seconds);
  auto btf = recover_btf(**file, *img, btf_range(syms->table));
  if (!btf) return fmt::print("summary: btf=none ({})\n", btf.error().message), 0;
  const TypeInfo ti(btf->btf);
  for (const WantedResult& w : resolve_wanted(ti))
    if (w.field) fmt::print("btf {}.{} {}\n", w.struct_name, w.path, w.field->offset);
  return 0;
}
