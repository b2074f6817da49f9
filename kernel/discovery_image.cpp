// Discovery's common ground: the sparse scan for the image, the image as a page table maps it,
// the linux_banner search and the checks shared by both paths (page_offset_base, fill_common).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.hpp"
#include "kernel/banner.hpp"
#include "kernel/discovery_detail.hpp"
#include "kernel/page_table.hpp"
#include "kernel/page_walker.hpp"
#include "kernel/paging.hpp"

namespace tlpstub::kernel::detail {

namespace {

// include/uapi/linux/magic.h. start_kernel() writes it at the lowest word of init_task's stack
// (set_task_stack_end_magic(&init_task), init/main.c, kernel/fork.c; all versions since 3.x).
constexpr std::uint32_t kStackEndMagic = 0x57AC6E9D;
// Bytes read per 2 MiB region by the sparse scan: the magic and 28 zero bytes above it (the
// bottom of a 16 KiB stack that never ran that deep).
constexpr std::size_t kSparseProbeBytes = 32;
constexpr std::size_t kSparseBatch = 4096;
// The banner search reads .rodata in chunks of this size (one batch of 4 KiB ranges each), and
// never more than kMaxBannerSearch in all (Debian's whole .rodata is 10-12 MiB [obs]; a table
// that maps a huge read-only "image" must not make discovery read it all).
constexpr std::uint64_t kBannerChunk = 256 * 1024;
constexpr std::uint64_t kMaxBannerSearch = 16 * kMiB;

// Bytes [pa, pa+len) read as 4 KiB ranges in one batch; unreadable pages read as zeros.
std::vector<std::uint8_t> read_block(Ctx& c, std::uint64_t pa, std::uint64_t len) {
  std::vector<std::uint8_t> buf(len, 0);
  std::vector<ReadRange> ranges;
  for (std::uint64_t off = 0; off < len;) {
    const std::uint64_t n = std::min(len - off, kPageSize - ((pa + off) & kPageMask));
    ranges.push_back({PhysAddr(pa + off), std::span<std::uint8_t>(buf.data() + off, n)});
    off += n;
  }
  std::vector<ReadStatus> st(ranges.size());
  c.mem.read(ranges, st);
  for (std::size_t i = 0; i < ranges.size(); ++i)
    if (!st[i]) std::fill(ranges[i].out.begin(), ranges[i].out.end(), 0);
  return buf;
}

}  // namespace

std::string mib(std::uint64_t bytes) {
  if (bytes % kMiB == 0) return fmt::format("{} MiB", bytes / kMiB);
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / kMiB);
}

// ---------------------------------------------------------------------------------------------
// Sparse scan: one small read per 2 MiB region.

// On x86-64 .rodata ends 2 MiB-aligned and .data starts with init_task's stack
// (arch/x86/kernel/vmlinux.lds.S: X86_ALIGN_RODATA_END, then _sdata and INIT_TASK_DATA, 4.x to
// 6.12), and the image is 2 MiB-aligned physically (CONFIG_PHYSICAL_ALIGN is a multiple of
// 2 MiB on 64-bit, arch/x86/Kconfig). So _sdata is a 2 MiB boundary whose first word is
// STACK_END_MAGIC. Other stacks can match by chance; the page-table check sorts them out.
SparseScan sparse_scan(Ctx& c) {
  SparseScan s;
  s.regions = (c.max_phys + k2M - 1) / k2M;
  // Probe one region per block first and scan only the blocks that answer: every unbacked
  // read costs a whole timeout over NetTLP (silence is how real hardware says "no memory").
  // RAM below 4 GiB runs from 0 up to the PCI hole, which starts on a 64 MiB boundary or
  // higher; above 4 GiB RAM comes in whole GiBs from 4 GiB up (e820 on x86 servers and QEMU).
  const std::uint64_t low = std::min<std::uint64_t>(s.regions, (4ull << 30) / k2M);
  constexpr std::uint64_t kLowBlock = (64ull << 20) / k2M, kHighBlock = (1ull << 30) / k2M;
  auto block_of = [&](std::uint64_t r) { return r < low ? kLowBlock : kHighBlock; };
  std::vector<std::uint64_t> phase1;
  for (std::uint64_t r = 0; r < s.regions; r += block_of(r)) phase1.push_back(r);

  std::vector<bool> readable(s.regions, false);
  std::vector<std::uint64_t> sdata;
  auto read_regions = [&](const std::vector<std::uint64_t>& which) {
    std::vector<std::array<std::uint8_t, kSparseProbeBytes>> heads;
    std::vector<ReadRange> ranges;
    std::vector<ReadStatus> st;
    for (std::size_t first = 0; first < which.size(); first += kSparseBatch) {
      const std::size_t n = std::min<std::size_t>(kSparseBatch, which.size() - first);
      heads.assign(n, {});
      ranges.clear();
      for (std::size_t i = 0; i < n; ++i)
        ranges.push_back({PhysAddr(which[first + i] * k2M), std::span<std::uint8_t>(heads[i])});
      st.assign(n, ReadStatus{});
      c.mem.read(ranges, st);
      for (std::size_t i = 0; i < n; ++i) {
        if (!st[i]) continue;
        readable[which[first + i]] = true;
        const auto& h = heads[i];
        const std::uint32_t magic = load_le32(h.data());
        if (magic == kStackEndMagic &&
            std::all_of(h.begin() + 4, h.end(), [](auto b) { return !b; }))
          sdata.push_back(which[first + i] * k2M);
      }
    }
  };
  read_regions(phase1);
  std::vector<std::uint64_t> phase2;
  for (std::uint64_t b : phase1)
    if (readable[b])
      for (std::uint64_t r = b + 1; r < std::min(b + block_of(b), s.regions); ++r)
        phase2.push_back(r);
  read_regions(phase2);

  for (std::uint64_t r = 0; r < s.regions; ++r) {
    if (!readable[r]) continue;
    ++s.readable;
    const std::uint64_t pa = r * k2M;
    if (!s.backed.empty() && s.backed.back().end == pa)
      s.backed.back().end = pa + k2M;
    else
      s.backed.push_back({pa, pa + k2M});
  }
  std::sort(sdata.begin(), sdata.end());
  s.sdata = std::move(sdata);
  if (!s.backed.empty()) s.ram_top = std::min(s.backed.back().end, c.max_phys);
  return s;
}

// ---------------------------------------------------------------------------------------------
// The kernel image as a page table maps it.

ImageMap map_image(PageWalker& w, PhysAddr top) {
  std::vector<VirtAddr> vas;
  for (unsigned i = 0; i < kImageSlots; ++i) vas.emplace_back(kStartKernelMap + i * k2M);
  auto res = w.translate_many(top, vas);
  ImageMap m;
  for (unsigned i = 0; i < kImageSlots; ++i)
    if (res[i]) m.slot[i] = *res[i];
  return m;
}

// The contiguous run of slots that maps the 2 MiB-aligned physical address `pa`.
std::optional<ImageRun> run_containing(const ImageMap& m, std::uint64_t pa) {
  for (unsigned i = 0; i < kImageSlots; ++i) {
    if (!m.slot[i] || m.slot[i]->phys.value != pa) continue;
    unsigned a = i, b = i;
    while (a > 0 && m.slot[a - 1] && m.slot[a - 1]->phys.value + k2M == m.slot[a]->phys.value) --a;
    while (b + 1 < kImageSlots && m.slot[b + 1] &&
           m.slot[b + 1]->phys.value == m.slot[b]->phys.value + k2M)
      ++b;
    return ImageRun{a, b - a + 1, m.slot[a]->phys.value};
  }
  return std::nullopt;
}

namespace {

// The read-only, no-execute part of the run: .rodata (mark_rodata_ro(), arch/x86/mm/init_64.c,
// maps _etext.._sdata read-only and NX; 2 MiB slot granularity is enough because .rodata begins
// and ends on 2 MiB boundaries, see X86_ALIGN_RODATA_BEGIN/END).
std::optional<std::pair<unsigned, unsigned>> rodata_slots(const ImageMap& m, const ImageRun& r) {
  unsigned b = r.first;
  const unsigned end = r.first + r.count;
  while (b < end && !(m.slot[b]->nx && !m.slot[b]->writable)) ++b;
  if (b == end) return std::nullopt;
  unsigned e = b;
  while (e < end && m.slot[e]->nx && !m.slot[e]->writable) ++e;
  return std::make_pair(b, e);
}

// ---------------------------------------------------------------------------------------------
// linux_banner: the real one is a C string in .rodata with a build number. Validation by
// translation: its VA (image arithmetic) must translate to its physical address through the
// accepted table, and the mapping must be read-only (not the printk copy in .bss, not a page
// of the direct map).

bool banner_maps(PageWalker& w, PhysAddr top, std::uint64_t va, std::uint64_t pa,
                 std::string* why) {
  auto t = w.translate(top, VirtAddr(va));
  if (!t) {
    *why = t.error().message;
    return false;
  }
  if (t->phys.value != pa) {
    *why = fmt::format("VA {:#x} translates to {:#x}, not {:#x}", va, t->phys.value, pa);
    return false;
  }
  if (t->writable) {
    *why = fmt::format("VA {:#x} is mapped writable: a copy, not the const linux_banner", va);
    return false;
  }
  return true;
}

// Streams [pa_begin, pa_end) of the image (mapped at pa + va_minus_pa) and returns the first
// real banner the table confirms. The real banner is linked at the end of .rodata proper
// (init/version-timestamp.o, last object before the kallsyms tables, 6.1+) or near its start
// (init/version.o, <= 6.0): a forward search stops after 1.1 MiB on Debian 6.1, 1.6 MiB on
// 6.12 [obs].
std::optional<BannerFound> search_banner(Ctx& c, PageWalker& w, PhysAddr top,
                                         std::uint64_t pa_begin, std::uint64_t pa_end,
                                         std::uint64_t va_minus_pa, std::string* how) {
  std::optional<BannerFound> fallback;  // last non-copy candidate the table confirms
  std::size_t copies = 0, placeholders = 0, unmapped = 0;
  std::string last_why;
  for (std::uint64_t start = pa_begin; start < pa_end;) {
    const std::uint64_t len = std::min(kBannerChunk + kMaxBannerLength, pa_end - start);
    const bool final = start + len >= pa_end;
    auto buf = read_block(c, start, len);
    // Candidates that start in the last kMaxBannerLength bytes are left to the next chunk.
    const std::uint64_t safe_end = final ? start + len : start + len - kMaxBannerLength;
    for (auto& cand : find_banner_candidates(buf, start)) {
      if (cand.pa >= safe_end) continue;
      if (cand.kind == BannerKind::copy) {
        ++copies;
        continue;
      }
      const std::uint64_t va = cand.pa + va_minus_pa;
      if (!banner_maps(w, top, va, cand.pa, &last_why)) {
        ++unmapped;
        continue;
      }
      if (cand.kind == BannerKind::placeholder) {
        ++placeholders;
        fallback = BannerFound{cand, va};
        continue;
      }
      *how = fmt::format("searched {} of .rodata from {:#x}; skipped {} placeholder(s), {} copies, "
                         "{} not mapped read-only",
                         mib(cand.pa - pa_begin + cand.text.size()), pa_begin, placeholders,
                         copies, unmapped);
      return BannerFound{std::move(cand), va};
    }
    if (final) break;
    start = safe_end;
  }
  if (fallback) {
    *how = fmt::format("no banner with a build number in {:#x}-{:#x}; the last C-string banner "
                       "mapped read-only was taken",
                       pa_begin, pa_end);
    return fallback;
  }
  *how = fmt::format("no banner mapped read-only in {:#x}-{:#x} ({} copies, {} unmapped{}{})",
                     pa_begin, pa_end, copies, unmapped, last_why.empty() ? "" : ": ", last_why);
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// page_offset_base: the direct map is the lowest mapping of the kernel half (below vmalloc,
// vmemmap, cpu_entry_area, the image: arch/x86/mm/kaslr.c keeps the regions in this order and
// randomizes their bases on 1 GiB (PUD) steps; Documentation/arch/x86/x86_64/mm.rst), and it
// maps physical 0 at its base. Confirmed by translating `probes` (physical addresses) through it.

std::optional<std::uint64_t> derive_page_offset_base(Ctx& c, PageWalker& w, PhysAddr top,
                                                     int levels, std::uint64_t sme,
                                                     std::span<const std::uint64_t> probes,
                                                     std::string* how) {
  auto table = [&](std::uint64_t pa) -> std::optional<PageTable> {
    auto t = read_table(c.mem, PhysAddr(pa));
    if (!t) return std::nullopt;
    return *t;
  };
  auto first_present = [&](const PageTable& t, unsigned from) -> int {
    for (unsigned i = from; i < kEntriesPerTable; ++i)
      if (t[i] & bits::P) return static_cast<int>(i);
    return -1;
  };
  auto top_tab = table(top.value);
  if (!top_tab) {
    *how = "top-level table unreadable";
    return std::nullopt;
  }
  const std::uint64_t sign = ~((1ull << va_bits(levels)) - 1);
  int tries = 0;
  for (int i = first_present(*top_tab, 256); i >= 0 && i < 511 && tries < 4;
       i = first_present(*top_tab, i + 1), ++tries) {
    std::uint64_t va = sign | (static_cast<std::uint64_t>(i) << level_shift(levels));
    std::uint64_t e = (*top_tab)[i] & ~sme;
    bool ok = true;
    for (int level = levels - 1; level >= 3; --level) {
      auto t = table(e & kFrameMask4K);
      if (!t) { ok = false; break; }
      const int j = first_present(*t, 0);
      if (j < 0) { ok = false; break; }
      va += static_cast<std::uint64_t>(j) << level_shift(level);
      e = (*t)[j] & ~sme;
      if (is_leaf(e, level)) break;
    }
    if (!ok) continue;
    auto t0 = w.translate(top, VirtAddr(va));
    if (!t0 || t0->phys.value != 0) continue;
    std::vector<VirtAddr> vas;
    for (std::uint64_t p : probes) vas.emplace_back(va + p);
    auto res = w.translate_many(top, vas);
    std::size_t good = 0;
    for (std::size_t k = 0; k < res.size(); ++k) good += res[k] && res[k]->phys.value == probes[k];
    if (good != res.size()) continue;
    *how = fmt::format("the lowest kernel-half mapping ({} entry {}) maps physical 0 at {:#x}; "
                       "{} more physical addresses translate through it",
                       table_name(levels), i, va, good);
    return va;
  }
  *how = "no kernel-half region maps physical 0 and the probe addresses";
  return std::nullopt;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Shared tail: given an accepted table and the image run, fill in the banner and region bases.

Result<BannerFound> find_banner(Ctx& c, PageWalker& w, const Layout& l, const ImageMap& m,
                                const ImageRun& run, std::optional<std::uint64_t> hint_va) {
  const std::uint64_t va_minus_pa = l.text_va - l.text_pa;
  std::string why;
  // VMCOREINFO (6.0+) names the kallsyms tables; the real banner sits right before the first of
  // them (6.1+, init/version-timestamp.o is linked last, scripts/link-vmlinux.sh): one read.
  if (hint_va) {
    const std::uint64_t hint_pa = *hint_va - va_minus_pa;
    const std::uint64_t from = hint_pa > kPageSize ? hint_pa - kPageSize : 0;
    auto buf = read_block(c, from, hint_pa - from + kMaxBannerLength);
    std::optional<BannerFound> best;
    for (auto& cand : find_banner_candidates(buf, from)) {
      if (cand.kind != BannerKind::real || cand.pa >= hint_pa) continue;
      if (!banner_maps(w, l.top, cand.pa + va_minus_pa, cand.pa, &why)) continue;
      best = BannerFound{cand, cand.pa + va_minus_pa};  // keep the last one
    }
    if (best) {
      c.note(fmt::format("banner: found right before the kallsyms tables (VMCOREINFO "
                         "SYMBOL(kallsyms_*) {:#x})",
                         *hint_va));
      return *best;
    }
    c.note(fmt::format("banner: none right before kallsyms at {:#x}{}{}; searching .rodata",
                       *hint_va, why.empty() ? "" : ": ", why));
  }
  auto ro = rodata_slots(m, run);
  std::uint64_t b = run.pa, e = run.pa + run.size();
  if (ro) {
    b = run.pa + (ro->first - run.first) * k2M;
    e = run.pa + (ro->second - run.first) * k2M;
  } else {
    c.note("banner: no read-only NX slot in the image mapping; searching the whole image");
  }
  if (e - b > kMaxBannerSearch) {
    c.note(fmt::format("banner: read-only part of the image is {}; searching its first {}",
                       mib(e - b), mib(kMaxBannerSearch)));
    e = b + kMaxBannerSearch;
  }
  c.say(fmt::format("searching {} of .rodata for linux_banner...", mib(e - b)));
  std::string how;
  auto found = search_banner(c, w, l.top, b, e, va_minus_pa, &how);
  if (!found) return fail(Errc::not_found, "no linux_banner in the kernel image: " + how);
  c.note("banner: " + how);
  return *found;
}

void fill_common(Ctx& c, PageWalker& w, const Layout& l, const BannerFound* banner,
                 KernelImage& img) {
  img.top = l.top;
  img.levels = l.levels;
  img.sme_mask = l.sme;
  img.text_va = l.text_va;
  img.phys_base = l.text_pa - (l.text_va - kStartKernelMap);
  if (banner) {
    img.banner = banner->cand.text;
    img.release = banner->cand.release;
    img.banner_pa = banner->cand.pa;
    img.banner_va = banner->va;
    c.note(fmt::format("banner at VA {:#x} = phys {:#x}: \"{}\" (confirmed by translation, "
                       "mapped read-only)",
                       banner->va, banner->cand.pa, banner->cand.text));
  }

  // Probes inside the image: RAM for certain. (The last page of RAM is not: firmware tables at
  // the top are not in the direct map, which maps memblock memory only.)
  const std::array<std::uint64_t, 3> probes{l.top.value, l.text_pa + k2M, l.text_pa};
  std::string how;
  if (auto pob = derive_page_offset_base(c, w, l.top, l.levels, l.sme, probes, &how)) {
    img.page_offset_base = *pob;
    c.note(fmt::format("page_offset_base {:#x}: {}", *pob, how));
  } else {
    c.note("page_offset_base unknown: " + how);
  }
}

}  // namespace tlpstub::kernel::detail
