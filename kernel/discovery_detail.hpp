// Internals of kernel discovery (kernel/discovery.hpp), shared by its files:
//   discovery_image.cpp       the sparse scan, the image map, the banner search, the layout checks
//   discovery_vmcoreinfo.cpp  path 1: the layout VMCOREINFO names
//   discovery_scan.cpp        path 2: the top-level table found by structure
//   discovery.cpp             discover(): the sparse scan, then path 1, then path 2
// Not part of the public API.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/address.hpp"
#include "common/error.hpp"
#include "kernel/banner.hpp"
#include "kernel/discovery.hpp"
#include "kernel/kernel_image.hpp"
#include "kernel/page_walker.hpp"
#include "kernel/paging.hpp"
#include "kernel/vmcoreinfo.hpp"
#include "transport/counting_memory.hpp"

namespace tlpstub::kernel::detail {

inline constexpr std::uint64_t kMiB = 1ull << 20;
inline constexpr std::uint64_t k2M = kPageSize2M;
// Slots of the kernel image mapping: the page directory under __START_KERNEL_map covers 1 GiB
// (KERNEL_IMAGE_SIZE with KASLR, arch/x86/include/asm/page_64_types.h) in 2 MiB entries.
inline constexpr unsigned kImageSlots = 512;

struct Ctx {
  CountingMemory mem;  // what discovery asks of the memory: its cost report
  const ProgressFn& progress;
  std::uint64_t max_phys = 0;
  std::vector<std::string> notes;

  void note(std::string s) { notes.push_back(std::move(s)); }
  void say(const std::string& s) {
    if (progress) progress(s);
  }
};

// "12 MiB", "1.5 MiB": a byte count for notes and progress.
std::string mib(std::uint64_t bytes);

// ---------------------------------------------------------------------------------------------
// Sparse scan: one small read per 2 MiB region.

struct SparseScan {
  std::vector<std::uint64_t> sdata;  // regions that begin with init_task's stack (_sdata)
  std::vector<PhysRange> backed;     // readable regions, merged
  std::uint64_t regions = 0, readable = 0;
  std::uint64_t ram_top = 0;         // end of the highest readable region
};

// One small read per 2 MiB region up to c.max_phys (discovery_image.cpp).
SparseScan sparse_scan(Ctx& c);

// ---------------------------------------------------------------------------------------------
// The kernel image as a page table maps it.

struct ImageMap {
  std::array<std::optional<Translation>, kImageSlots> slot;  // translation of each slot's start
};

struct ImageRun {
  unsigned first = 0, count = 0;  // slots [first, first + count), physically contiguous
  std::uint64_t pa = 0;           // physical address of slot `first`
  std::uint64_t va() const { return kStartKernelMap + first * k2M; }
  std::uint64_t size() const { return count * k2M; }
};

ImageMap map_image(PageWalker& w, PhysAddr top);
// The contiguous run of slots that maps the 2 MiB-aligned physical address `pa`.
std::optional<ImageRun> run_containing(const ImageMap& m, std::uint64_t pa);

// ---------------------------------------------------------------------------------------------
// linux_banner, confirmed by translation through the accepted table (discovery_image.cpp).

struct BannerFound {
  BannerCandidate cand;
  std::uint64_t va = 0;
};

// ---------------------------------------------------------------------------------------------
// Shared tail: given an accepted table and the image run, fill in the banner and region bases.

struct Layout {
  PhysAddr top;
  int levels = 4;
  std::uint64_t sme = 0;
  std::uint64_t text_va = 0, text_pa = 0;
};

// The real linux_banner in the image run; `hint_va` (VMCOREINFO's kallsyms tables) first.
Result<BannerFound> find_banner(Ctx& c, PageWalker& w, const Layout& l, const ImageMap& m,
                                const ImageRun& run, std::optional<std::uint64_t> hint_va);
// Fills `img` from the layout and banner, and derives page_offset_base.
void fill_common(Ctx& c, PageWalker& w, const Layout& l, const BannerFound* banner,
                 KernelImage& img);

// ---------------------------------------------------------------------------------------------
// Path 1: VMCOREINFO (discovery_vmcoreinfo.cpp).

Result<KernelImage> from_vmcoreinfo(Ctx& c, const VmcoreinfoHit& hit);
// Where to probe for the VMCOREINFO page, most likely places first (the 64 MiB windows where
// it was seen, 8 MiB slices of each in turn, each window from its RAM block's edge inward);
// with likely_only, only those windows, without the rest of RAM.
std::vector<PhysRange> vmcoreinfo_order(const SparseScan& s, bool likely_only);

// ---------------------------------------------------------------------------------------------
// Path 2: scan (discovery_scan.cpp).

Result<KernelImage> from_scan(Ctx& c, const SparseScan& s);

}  // namespace tlpstub::kernel::detail
