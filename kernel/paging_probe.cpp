#include "kernel/paging_probe.hpp"

#include <fmt/format.h>

#include "kernel/kernel_image.hpp"
#include "kernel/page_table.hpp"
#include "kernel/paging.hpp"

namespace tlpstub::kernel {

namespace {

struct Run {
  int length = 0;
  unsigned first = 0;        // PD index where the run starts
  std::uint64_t first_pa = 0;
};

// Follows `indices` from `top` through non-leaf entries, then finds the longest run of
// physically contiguous 2 MiB pages in the table reached, as if it were the kernel image's
// page directory.
Run score(PhysicalMemory& mem, PhysAddr top, std::span<const unsigned> indices,
          std::uint64_t strip) {
  PhysAddr t = top;
  for (unsigned idx : indices) {
    auto tab = read_table(mem, t);
    if (!tab) return {};
    std::uint64_t e = (*tab)[idx] & ~strip;
    if (!(e & bits::P) || (e & bits::PS)) return {};
    t = PhysAddr(e & kFrameMask4K);
  }
  auto pd = read_table(mem, t);
  if (!pd) return {};
  Run best, cur;
  std::uint64_t prev = 0;
  for (unsigned i = 0; i < pd->size(); ++i) {
    std::uint64_t e = (*pd)[i] & ~strip;
    bool leaf = (e & bits::P) && is_leaf(e, 2);
    std::uint64_t frame = e & kFrameMask2M;
    if (!leaf)
      cur = {};
    else if (cur.length && frame == prev + kPageSize2M)
      ++cur.length;
    else
      cur = {1, i, frame};
    prev = frame;
    if (cur.length > best.length) best = cur;
  }
  return best;
}

}  // namespace

Result<LevelsGuess> guess_paging_levels(PhysicalMemory& mem, PhysAddr top, std::uint64_t sme_mask) {
  // 0xffffffff80000000: PML5 511 (5-level only), PML4 511, PDPT 510.
  static constexpr unsigned k4[] = {511, 510};
  static constexpr unsigned k5[] = {511, 511, 510};
  LevelsGuess g;
  Run r4 = score(mem, top, k4, sme_mask), r5 = score(mem, top, k5, sme_mask);
  g.score4 = r4.length;
  g.score5 = r5.length;
  if (g.score4 < 2 && g.score5 < 2)
    return fail(Errc::not_found,
                fmt::format("table at {:#x} maps no kernel image at 0xffffffff80000000 in "
                            "either 4- or 5-level layout; is it a kernel page table? "
                            "(--levels 4|5 forces a depth)",
                            top.value),
                top.value);
  g.levels = g.score5 > g.score4 ? 5 : 4;
  const Run& r = g.levels == 5 ? r5 : r4;
  g.image_va = kStartKernelMap + std::uint64_t{r.first} * kPageSize2M;
  g.image_pa = r.first_pa;
  return g;
}

}  // namespace tlpstub::kernel
