#include "kernel/paging_probe.hpp"

#include <fmt/format.h>

#include <array>

namespace tlpstub::kernel {

namespace {

constexpr std::uint64_t kPresent = 1, kLarge = 1 << 7;
constexpr std::uint64_t kFrame = 0x000ffffffffff000ull;
constexpr std::uint64_t kLargeFrame2M = 0x000fffffffe00000ull;

using Table = std::array<std::uint64_t, 512>;

Result<Table> read_table(PhysicalMemory& mem, PhysAddr at) {
  Table t{};
  auto st = mem.read_one(at, std::span(reinterpret_cast<std::uint8_t*>(t.data()), 4096));
  if (!st) return std::unexpected(st.error());
  return t;
}

// Follows `indices` from `top` through non-leaf entries, then scores the table reached as the
// kernel image's page directory.
int score(PhysicalMemory& mem, PhysAddr top, std::span<const unsigned> indices,
          std::uint64_t strip) {
  PhysAddr t = top;
  for (unsigned idx : indices) {
    auto tab = read_table(mem, t);
    if (!tab) return 0;
    std::uint64_t e = (*tab)[idx] & ~strip;
    if (!(e & kPresent) || (e & kLarge)) return 0;
    t = PhysAddr(e & kFrame);
  }
  auto pd = read_table(mem, t);
  if (!pd) return 0;
  int best = 0, run = 0;
  std::uint64_t prev = 0;
  for (std::uint64_t raw : *pd) {
    std::uint64_t e = raw & ~strip;
    bool leaf = (e & kPresent) && (e & kLarge);
    std::uint64_t frame = e & kLargeFrame2M;
    run = leaf ? (run && frame == prev + (2ull << 20) ? run + 1 : 1) : 0;
    prev = frame;
    best = std::max(best, run);
  }
  return best;
}

}  // namespace

Result<LevelsGuess> guess_paging_levels(PhysicalMemory& mem, PhysAddr top, std::uint64_t sme_mask) {
  // 0xffffffff80000000: PML5 511 (5-level only), PML4 511, PDPT 510.
  static constexpr unsigned k4[] = {511, 510};
  static constexpr unsigned k5[] = {511, 511, 510};
  LevelsGuess g;
  g.score4 = score(mem, top, k4, sme_mask);
  g.score5 = score(mem, top, k5, sme_mask);
  if (g.score4 < 2 && g.score5 < 2)
    return fail(Errc::not_found,
                fmt::format("table at {:#x} maps no kernel image at 0xffffffff80000000 in "
                            "either 4- or 5-level layout; is it a kernel page table? "
                            "(--levels 4|5 forces a depth)",
                            top.value),
                top.value);
  g.levels = g.score5 > g.score4 ? 5 : 4;
  return g;
}

}  // namespace tlpstub::kernel
