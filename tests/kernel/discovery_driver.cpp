// discovery_driver: runs kernel discovery on a memory image (a QEMU guest's RAM file) and prints
// what it found as key=value lines, for qemu-test/discovery_check.sh and for people.
//
//   discovery_driver RAMFILE [--map SPEC] [--no-vmcoreinfo] [--max-phys SIZE]
//                    [--read-u64 VA]... [--wipe-vmcoreinfo]
//
// --read-u64 VA prints "u64[VA]=0x..." read through the discovered page table (to check a
// variable's value against the guest's kallsyms). --wipe-vmcoreinfo runs discovery once, then
// again with the VMCOREINFO page it found read as zeros (an in-memory overlay; the file is not
// touched): the fallback path on the same memory.
#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/parse.hpp"
#include "kernel/address_space.hpp"
#include "kernel/discovery.hpp"
#include "kernel/page_walker.hpp"
#include "transport/memory_file.hpp"

using namespace tlpstub;
using namespace tlpstub::kernel;

namespace {

// Reads through to `inner`, except one page that reads as zeros.
class WipedPage final : public PhysicalMemory {
 public:
  WipedPage(PhysicalMemory& inner, std::uint64_t page) : inner_(inner), page_(page) {}
  MemoryInfo info() const override { return inner_.info(); }

 protected:
  void do_read(std::span<const ReadRange> ranges, std::span<ReadStatus> results,
               Deadline deadline) override {
    inner_.read(ranges, results, deadline);
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      const std::uint64_t a = ranges[i].addr.value, n = ranges[i].out.size();
      for (std::uint64_t p = a & ~kPageMask; p < a + n; p += kPageSize) {
        if (p != page_) continue;
        const std::uint64_t lo = std::max(a, p), hi = std::min(a + n, p + kPageSize);
        std::memset(ranges[i].out.data() + (lo - a), 0, hi - lo);
      }
    }
  }

 private:
  PhysicalMemory& inner_;
  std::uint64_t page_;
};

void print(const KernelImage& k, PhysicalMemory& mem, const std::vector<std::uint64_t>& reads) {
  fmt::print("method={}\nrelease={}\nbanner={}\nbuild_id={}\n", k.method, k.release, k.banner,
             k.build_id);
  fmt::print("text_va={:#x}\nkaslr_slide={:#x}\nphys_base={:#x}\n", k.text_va, k.kaslr_slide,
             k.phys_base);
  fmt::print("banner_va={:#x}\nbanner_pa={:#x}\n", k.banner_va, k.banner_pa);
  fmt::print("top={:#x}\ntop_va={:#x}\nlevels={}\nsme_mask={:#x}\n", k.top.value, k.top_va,
             k.levels, k.sme_mask);
  fmt::print("page_offset_base={:#x}\nvmalloc_base={:#x}\nvmemmap_base={:#x}\n",
             k.page_offset_base, k.vmalloc_base, k.vmemmap_base);
  fmt::print("vmcoreinfo_pa={:#x}\nvmcoreinfo_keys={}\n", k.vmcoreinfo_pa, k.vmcoreinfo.size());
  fmt::print("cost_reads={}\ncost_bytes={}\ncost_seconds={:.4f}\n", k.cost.reads, k.cost.bytes,
             k.cost.seconds);
  for (const std::string& n : k.notes) fmt::print("note: {}\n", n);
  PageWalker w(mem, k.levels, k.sme_mask);
  AddressSpace as(mem, w, k.top);
  for (std::uint64_t va : reads) {
    auto v = as.read_u64(VirtAddr(va));
    if (v)
      fmt::print("u64[{:#x}]={:#x}\n", va, *v);
    else
      fmt::print("u64[{:#x}]=error: {}\n", va, v.error().message);
  }
}

int usage() {
  std::fputs("usage: discovery_driver RAMFILE [--map SPEC] [--no-vmcoreinfo] [--max-phys SIZE]\n"
             "                        [--read-u64 VA]... [--wipe-vmcoreinfo]\n",
             stderr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string path = argv[1];
  std::vector<MapEntry> map;
  DiscoveryOptions opts;
  std::vector<std::uint64_t> reads;
  bool wipe = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--map" && has_value) {
      auto m = parse_memory_map(argv[++i]);
      if (!m) return fmt::print(stderr, "--map: {}\n", m.error().message), 2;
      map = *m;
    } else if (a == "--no-vmcoreinfo") {
      opts.use_vmcoreinfo = false;
    } else if (a == "--max-phys" && has_value) {
      auto v = parse_size(argv[++i]);
      if (!v) return fmt::print(stderr, "--max-phys: {}\n", v.error().message), 2;
      opts.max_phys = *v;
    } else if (a == "--read-u64" && has_value) {
      auto v = parse_u64(argv[++i], 16);
      if (!v) return fmt::print(stderr, "--read-u64: {}\n", v.error().message), 2;
      reads.push_back(*v);
    } else if (a == "--wipe-vmcoreinfo") {
      wipe = true;
    } else {
      return usage();
    }
  }
  auto file = MemoryFile::open(path, map);
  if (!file) return fmt::print(stderr, "{}: {}\n", path, file.error().message), 1;

  auto progress = [](std::string_view s) { fmt::print(stderr, "progress: {}\n", s); };
  auto img = discover(**file, opts, progress);
  if (!img) return fmt::print(stderr, "discovery failed: {}\n", img.error().message), 1;
  if (!wipe) {
    print(*img, **file, reads);
    return 0;
  }
  if (!img->vmcoreinfo_pa)
    return fmt::print(stderr, "--wipe-vmcoreinfo: discovery found no VMCOREINFO to wipe\n"), 1;
  fmt::print(stderr, "wiping VMCOREINFO page {:#x}\n", img->vmcoreinfo_pa);
  WipedPage wiped(**file, img->vmcoreinfo_pa);
  auto again = discover(wiped, opts, progress);
  if (!again) return fmt::print(stderr, "discovery failed: {}\n", again.error().message), 1;
  print(*again, wiped, reads);
  return 0;
}
