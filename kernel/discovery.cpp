#include "kernel/discovery.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstring>
#include <optional>

#include "kernel/address_space.hpp"
#include "kernel/banner.hpp"
#include "kernel/page_walker.hpp"
#include "kernel/paging.hpp"
#include "kernel/paging_probe.hpp"
#include "kernel/vmcoreinfo.hpp"
#include "transport/counting_memory.hpp"

namespace tlpstub::kernel {

namespace {

constexpr std::uint64_t kMiB = 1ull << 20;
constexpr std::uint64_t k2M = kPageSize2M;
// Slots of the kernel image mapping: the page directory under __START_KERNEL_map covers 1 GiB
// (KERNEL_IMAGE_SIZE with KASLR, arch/x86/include/asm/page_64_types.h) in 2 MiB entries.
constexpr unsigned kImageSlots = 512;

// include/uapi/linux/magic.h. start_kernel() writes it at the lowest word of init_task's stack
// (set_task_stack_end_magic(&init_task), init/main.c, kernel/fork.c; all versions since 3.x).
constexpr std::uint32_t kStackEndMagic = 0x57AC6E9D;
// Bytes read per 2 MiB region by the sparse scan: the magic and 28 zero bytes above it (the
// bottom of a 16 KiB stack that never ran that deep).
constexpr std::size_t kSparseProbeBytes = 32;
constexpr std::size_t kSparseBatch = 4096;
// init_top_pgt is in head_64.S's .data, linked first into .data after init_stack and the
// page-aligned data: _sdata+0x10000 on Debian 6.1.192, _sdata+0x22000 on 6.12.117 [obs].
constexpr std::uint64_t kTableWindow = 4 * kMiB;
constexpr std::size_t kMaxImageCandidates = 8;
constexpr std::size_t kMaxTableCandidates = 32;
// The banner search reads .rodata in chunks of this size (one batch of 4 KiB ranges each), and
// never more than kMaxBannerSearch in all (Debian's whole .rodata is 10-12 MiB [obs]; a table
// that maps a huge read-only "image" must not make discovery read it all).
constexpr std::uint64_t kBannerChunk = 256 * 1024;
constexpr std::uint64_t kMaxBannerSearch = 16 * kMiB;
// VMCOREINFO probe windows (see vmcoreinfo_order()).
constexpr std::uint64_t kVmcoreinfoWindow = 64 * kMiB;
// include/uapi/linux/utsname.h: struct new_utsname { char sysname[65], nodename[65],
// release[65], version[65], machine[65], domainname[65]; }.
constexpr std::uint64_t kUtsLen = 65;

std::string mib(std::uint64_t bytes) {
  if (bytes % kMiB == 0) return fmt::format("{} MiB", bytes / kMiB);
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / kMiB);
}

std::uint64_t le64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

std::string cstring(std::span<const std::uint8_t> b) {
  std::size_t n = 0;
  while (n < b.size() && b[n] != 0) ++n;
  return std::string(reinterpret_cast<const char*>(b.data()), n);
}

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

// ---------------------------------------------------------------------------------------------
// Sparse scan: one small read per 2 MiB region.

struct SparseScan {
  std::vector<std::uint64_t> sdata;  // regions that begin with init_task's stack (_sdata)
  std::vector<PhysRange> backed;     // readable regions, merged
  std::uint64_t regions = 0, readable = 0;
  std::uint64_t ram_top = 0;         // end of the highest readable region
};

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
        const std::uint32_t magic =
            h[0] | h[1] << 8 | h[2] << 16 | static_cast<std::uint32_t>(h[3]) << 24;
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

struct ImageMap {
  std::array<std::optional<Translation>, kImageSlots> slot;  // translation of each slot's start
};

struct ImageRun {
  unsigned first = 0, count = 0;  // slots [first, first + count), physically contiguous
  std::uint64_t pa = 0;           // physical address of slot `first`
  std::uint64_t va() const { return kStartKernelMap + first * k2M; }
  std::uint64_t size() const { return count * k2M; }
};

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

struct BannerFound {
  BannerCandidate cand;
  std::uint64_t va = 0;
};

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
  auto table = [&](std::uint64_t pa) -> std::optional<std::array<std::uint64_t, 512>> {
    std::array<std::uint64_t, 512> t{};
    if (!c.mem.read_one(PhysAddr(pa), std::span(reinterpret_cast<std::uint8_t*>(t.data()), 4096)))
      return std::nullopt;
    return t;
  };
  auto first_present = [&](const std::array<std::uint64_t, 512>& t, unsigned from) -> int {
    for (unsigned i = from; i < 512; ++i)
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

// ---------------------------------------------------------------------------------------------
// Shared tail: given an accepted table and the image run, fill in the banner and region bases.

struct Layout {
  PhysAddr top;
  int levels = 4;
  std::uint64_t sme = 0;
  std::uint64_t text_va = 0, text_pa = 0;
};

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

// ---------------------------------------------------------------------------------------------
// Path 1: VMCOREINFO.

std::optional<std::uint64_t> kallsyms_hint(const Vmcoreinfo& vi) {
  std::optional<std::uint64_t> lo;
  for (const char* s : {"kallsyms_names", "kallsyms_num_syms", "kallsyms_token_table",
                        "kallsyms_token_index", "kallsyms_offsets", "kallsyms_relative_base",
                        "kallsyms_markers", "kallsyms_addresses"})
    if (auto v = vi.symbol(s); v && *v >= kStartKernelMap) lo = lo ? std::min(*lo, *v) : *v;
  return lo;
}

struct VmcoreinfoLayout {
  Layout l;
  std::uint64_t top_va = 0, phys_base = 0;
};

// The layout VMCOREINFO claims: nothing read yet, only arithmetic and range checks.
Result<VmcoreinfoLayout> vmcoreinfo_layout(Ctx& c, const Vmcoreinfo& vi) {
  auto top_va = vi.symbol("init_top_pgt");
  if (!top_va) top_va = vi.symbol("swapper_pg_dir");
  auto phys_base = vi.number("phys_base");
  auto stext = vi.symbol("_stext");
  if (!top_va || !phys_base || !stext)
    return fail(Errc::malformed, "lacks SYMBOL(init_top_pgt), NUMBER(phys_base) or SYMBOL(_stext)");
  if (*top_va < kStartKernelMap || *stext < kStartKernelMap)
    return fail(Errc::malformed, "init_top_pgt or _stext outside the kernel image mapping");
  VmcoreinfoLayout v;
  v.top_va = *top_va;
  v.phys_base = *phys_base;
  Layout& l = v.l;
  l.sme = vi.number("sme_mask").value_or(0);
  // Page-table physical address = SYMBOL(init_top_pgt) - __START_KERNEL_map + phys_base.
  l.top = PhysAddr(*top_va - kStartKernelMap + *phys_base);
  if ((l.top.value & kPageMask) || l.top.value >= c.max_phys)
    return fail(Errc::malformed,
                fmt::format("init_top_pgt would be at physical {:#x}", l.top.value));
  if (auto l5 = vi.number("pgtable_l5_enabled")) {
    l.levels = *l5 ? 5 : 4;
  } else {
    auto g = guess_paging_levels(c.mem, l.top, l.sme);
    if (!g) return std::unexpected(g.error());
    l.levels = g->levels;
  }
  // _text == _stext on x86-64 (arch/x86/kernel/vmlinux.lds.S: both at the start of .text).
  l.text_va = *stext;
  l.text_pa = *stext - kStartKernelMap + *phys_base;
  return v;
}

// The table VMCOREINFO names must map itself and _stext where phys_base says they are, and
// init_uts_ns.name.release must say what OSRELEASE says: a VMCOREINFO page left by an earlier
// boot names addresses that no longer hold this. Returns init_uts_ns.name.version ("" if
// VMCOREINFO does not name init_uts_ns).
Result<std::string> confirm_vmcoreinfo(Ctx& c, PageWalker& w, const VmcoreinfoLayout& v,
                                       const Vmcoreinfo& vi) {
  const Layout& l = v.l;
  for (auto [name, va] : {std::pair<const char*, std::uint64_t>{"init_top_pgt", v.top_va},
                          std::pair<const char*, std::uint64_t>{"_stext", l.text_va}}) {
    auto t = w.translate(l.top, VirtAddr(va));
    const std::uint64_t want = va - kStartKernelMap + v.phys_base;
    if (!t) return fail(Errc::not_found, fmt::format("{}: {}", name, t.error().message));
    if (t->phys.value != want)
      return fail(Errc::not_found, fmt::format("{} {:#x} translates to {:#x}, not {:#x}", name, va,
                                               t->phys.value, want));
  }
  auto uts = vi.symbol("init_uts_ns");
  if (!uts) {
    c.note("VMCOREINFO has no SYMBOL(init_uts_ns): release not cross-checked");
    return std::string();
  }
  AddressSpace as(c.mem, w, l.top);
  const std::uint64_t name_va = *uts + vi.offset("uts_namespace.name").value_or(0);
  std::array<std::uint8_t, 4 * kUtsLen> u{};
  auto r = as.read(VirtAddr(name_va), u);
  if (!r.complete()) return fail(Errc::not_found, "init_uts_ns unreadable: " + r.fault->message);
  const std::string sys = cstring(std::span(u).subspan(0, kUtsLen));
  const std::string rel = cstring(std::span(u).subspan(2 * kUtsLen, kUtsLen));
  if (sys != "Linux" || rel != vi.osrelease())
    return fail(Errc::not_found, fmt::format("init_uts_ns says '{}' '{}', VMCOREINFO says '{}'",
                                             sys, rel, vi.osrelease()));
  return cstring(std::span(u).subspan(3 * kUtsLen, kUtsLen));
}

// The banner next to the kallsyms tables, checked against OSRELEASE and init_uts_ns. The table
// is confirmed already: a banner that cannot be found is reported, not fatal.
std::optional<BannerFound> vmcoreinfo_banner(Ctx& c, PageWalker& w, const Layout& l,
                                             const Vmcoreinfo& vi, const std::string& uts_version) {
  const ImageMap m = map_image(w, l.top);
  auto run = run_containing(m, l.text_pa);
  if (!run) {
    c.note("linux_banner not searched: the table does not map _stext on a 2 MiB slot");
    return std::nullopt;
  }
  auto banner = find_banner(c, w, l, m, *run, kallsyms_hint(vi));
  if (!banner) {
    c.note("linux_banner not found (" + banner.error().message + "); release from OSRELEASE");
    return std::nullopt;
  }
  if (banner->cand.release != vi.osrelease()) {
    c.note(fmt::format("banner at {:#x} ignored: its release '{}' differs from OSRELEASE '{}'",
                       banner->cand.pa, banner->cand.release, vi.osrelease()));
    return std::nullopt;
  }
  if (uts_version.empty()) return *banner;
  if (banner->cand.version != uts_version)
    c.note(fmt::format("banner UTS_VERSION '{}' differs from init_uts_ns.name.version '{}'",
                       banner->cand.version, uts_version));
  else
    c.note("banner UTS_VERSION matches init_uts_ns.name.version");
  return *banner;
}

// x86-64: VMALLOC_START is vmalloc_base and vmemmap is (struct page *)vmemmap_base
// (arch/x86/include/asm/pgtable_64_types.h, pgtable_64.h); kernel/vmcore_info.c exports both
// (NUMBER(VMALLOC_START), SYMBOL(vmemmap): present in Debian 6.12.117, absent in 6.1.192 [obs]).
// page_offset_base is not exported by either; fill_common() derives it from the table.
void vmcoreinfo_regions(Ctx& c, PageWalker& w, const Layout& l, const Vmcoreinfo& vi,
                        KernelImage& img) {
  if (auto v = vi.number("VMALLOC_START")) {
    img.vmalloc_base = *v;
    c.note(fmt::format("vmalloc_base {:#x} (VMCOREINFO NUMBER(VMALLOC_START))", *v));
  } else {
    c.note("vmalloc_base unknown until symbols are loaded (no NUMBER(VMALLOC_START))");
  }
  if (auto v = vi.symbol("vmemmap")) {
    auto t = w.translate(l.top, VirtAddr(*v));
    img.vmemmap_base = *v;
    c.note(fmt::format("vmemmap_base {:#x} (VMCOREINFO SYMBOL(vmemmap)){}", *v,
                       t ? ", mapped (struct page of pfn 0)" : ", NOT mapped: suspicious"));
  } else {
    c.note("vmemmap_base unknown until symbols are loaded (no SYMBOL(vmemmap))");
  }
}

Result<KernelImage> from_vmcoreinfo(Ctx& c, const VmcoreinfoHit& hit) {
  const Vmcoreinfo& vi = hit.info;
  auto v = vmcoreinfo_layout(c, vi);
  if (!v) return std::unexpected(v.error());
  const Layout& l = v->l;
  PageWalker w(c.mem, l.levels, l.sme);
  auto uts_version = confirm_vmcoreinfo(c, w, *v, vi);
  if (!uts_version) return std::unexpected(uts_version.error());

  c.note(fmt::format("VMCOREINFO at phys {:#x} ({} bytes, {} keys): OSRELEASE={}, accepted: "
                     "init_top_pgt and _stext translate to themselves through the table it "
                     "names{}",
                     hit.pa.value, vi.text_length, vi.entries.size(), vi.osrelease(),
                     uts_version->empty() ? "" : ", init_uts_ns.name.release matches"));
  for (const std::string& p : vi.problems) c.note("VMCOREINFO: " + p);

  const auto banner = vmcoreinfo_banner(c, w, l, vi, *uts_version);
  KernelImage img;
  fill_common(c, w, l, banner ? &*banner : nullptr, img);
  if (!banner) img.release = vi.osrelease();
  img.phys_base = v->phys_base;
  img.build_id = vi.build_id();
  img.top_va = v->top_va;
  img.vmcoreinfo = vi.entries;
  img.vmcoreinfo_pa = hit.pa.value;
  img.method = "vmcoreinfo";
  img.kaslr_slide = vi.kerneloffset().value_or(l.text_va - kDefaultTextVa);
  if (img.kaslr_slide != l.text_va - kDefaultTextVa)
    c.note(fmt::format("KERNELOFFSET {:#x} != _text - {:#x}: CONFIG_PHYSICAL_START is not "
                       "0x1000000",
                       img.kaslr_slide, kDefaultTextVa));
  c.note(fmt::format("_text {:#x} (SYMBOL(_stext)), KASLR slide {:#x}{}, phys_base {:#x} "
                     "(NUMBER(phys_base)), image at phys {:#x}",
                     img.text_va, img.kaslr_slide, vi.kerneloffset() ? " (KERNELOFFSET)" : "",
                     img.phys_base, l.text_pa));
  c.note(fmt::format("page table: init_top_pgt VA {:#x} = phys {:#x}, {}-level "
                     "(NUMBER(pgtable_l5_enabled){}), sme_mask {:#x}",
                     img.top_va, img.top.value, l.levels,
                     vi.number("pgtable_l5_enabled") ? "" : " absent: guessed from the tables",
                     l.sme));
  vmcoreinfo_regions(c, w, l, vi, img);
  return img;
}

// VMCOREINFO's page comes from the buddy allocator at subsys_initcall time; measured on 512 MiB
// guests [obs]: right after the image's _end (6.12 on both CPUs), near the top of RAM (6.1,
// qemu64), 19 MiB from the bottom (6.1, -cpu max); on a 3 GiB guest whose image KASLR put
// above 4 GiB, just above 4 GiB (the start of the second RAM block) [obs]. Probe those places
// first (the window after _sdata, then both ends of every RAM block), then the rest.
std::vector<PhysRange> vmcoreinfo_order(const SparseScan& s) {
  std::vector<PhysRange> want;
  for (std::size_t i = 0; i < s.sdata.size() && i < 2; ++i)
    want.push_back({s.sdata[i], s.sdata[i] + kVmcoreinfoWindow});
  if (s.ram_top > kVmcoreinfoWindow) want.push_back({s.ram_top - kVmcoreinfoWindow, s.ram_top});
  want.push_back({0, kVmcoreinfoWindow});
  for (const PhysRange& b : s.backed) {
    want.push_back({b.begin, std::min(b.end, b.begin + kVmcoreinfoWindow)});
    want.push_back({b.end - std::min(b.end - b.begin, kVmcoreinfoWindow), b.end});
  }
  want.push_back({0, s.ram_top});
  // Only what the sparse scan could read.
  std::vector<PhysRange> out;
  for (const PhysRange& w : want)
    for (const PhysRange& b : s.backed) {
      const std::uint64_t lo = std::max(w.begin, b.begin), hi = std::min(w.end, b.end);
      if (lo < hi) out.push_back({lo, hi});
    }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Path 2: scan. The top-level table by structure, then the image it maps.

struct TableCandidate {
  PhysAddr pa;
  std::uint64_t sme = 0;
};

// A top-level table entry of the kernel half: a present table pointer (never a large page at
// the top), its frame inside RAM. Bits 47..51 that every entry has are taken as the SME C-bit.
bool table_pointer(std::uint64_t e, std::uint64_t sme, std::uint64_t max_phys) {
  e &= ~sme;
  if (!(e & bits::P) || (e & bits::PS) || (e & kHighBits)) return false;
  const std::uint64_t f = e & kFrameMask4K;
  return f != 0 && f < max_phys;
}

// SME C-bit position candidates: bit 47 (EPYC) .. bit 51. arch/x86/mm/mem_encrypt_identity.c.
constexpr std::uint64_t kSmeBits = 0x000F'8000'0000'0000ull;

std::vector<TableCandidate> find_tables(Ctx& c, std::uint64_t from, std::uint64_t to,
                                        std::size_t* probed) {
  // Pass 1: entries 0 and 511 of every page (two 8-byte reads per page, one batch).
  std::vector<std::uint64_t> pages;
  for (std::uint64_t p = from; p < to; p += kPageSize) pages.push_back(p);
  *probed = pages.size();
  std::vector<std::array<std::uint8_t, 8>> e0(pages.size()), e511(pages.size());
  std::vector<ReadRange> ranges;
  for (std::size_t i = 0; i < pages.size(); ++i) {
    ranges.push_back({PhysAddr(pages[i]), std::span<std::uint8_t>(e0[i])});
    ranges.push_back({PhysAddr(pages[i] + 0xff8), std::span<std::uint8_t>(e511[i])});
  }
  std::vector<ReadStatus> st(ranges.size());
  c.mem.read(ranges, st);
  std::vector<std::uint64_t> survivors;
  for (std::size_t i = 0; i < pages.size(); ++i) {
    if (!st[2 * i] || !st[2 * i + 1]) continue;
    const std::uint64_t a = le64(e0[i].data()), z = le64(e511[i].data());
    if (a != 0) continue;
    if (table_pointer(z, 0, c.max_phys) || table_pointer(z, z & kSmeBits, c.max_phys))
      survivors.push_back(pages[i]);
  }
  // Pass 2: whole pages of the survivors. x86_64_start_kernel() clears init_top_pgt and then
  // fills only kernel-half entries (arch/x86/kernel/head64.c, 4.14-6.12; the static identity
  // entry 0 of head_64.S is gone by then), and init_mm never maps user space: entries 0..255
  // are empty; the kernel half holds the direct map, vmalloc, vmemmap, ... and 511.
  std::vector<TableCandidate> out;
  if (survivors.empty()) return out;
  std::vector<std::array<std::uint64_t, 512>> tabs(survivors.size());
  ranges.clear();
  for (std::size_t i = 0; i < survivors.size(); ++i)
    ranges.push_back({PhysAddr(survivors[i]),
                      std::span(reinterpret_cast<std::uint8_t*>(tabs[i].data()), kPageSize)});
  st.assign(ranges.size(), ReadStatus{});
  c.mem.read(ranges, st);
  for (std::size_t i = 0; i < survivors.size() && out.size() < kMaxTableCandidates; ++i) {
    if (!st[i]) continue;
    const auto& t = tabs[i];
    if (std::any_of(t.begin(), t.begin() + 256, [](std::uint64_t e) { return e != 0; })) continue;
    std::uint64_t common = kSmeBits;
    int present = 0;
    for (unsigned k = 256; k < 512; ++k)
      if (t[k] & bits::P) {
        common &= t[k];
        ++present;
      }
    // One C-bit at most; anything else in 47..51 would be a frame bit.
    const std::uint64_t sme = std::has_single_bit(common) ? common : 0;
    bool sound = present >= 2;
    for (unsigned k = 256; k < 512 && sound; ++k)
      sound = t[k] == 0 || table_pointer(t[k], sme, c.max_phys);
    if (sound) out.push_back({PhysAddr(survivors[i]), sme});
  }
  return out;
}

// Accepts table `t` for the image whose _sdata is at physical `sdata`, or says why not.
Result<KernelImage> try_table(Ctx& c, const TableCandidate& t, std::uint64_t sdata) {
  auto g = guess_paging_levels(c.mem, t.pa, t.sme);
  if (!g) return fail(Errc::not_found, "maps no kernel image");
  Layout l;
  l.top = t.pa;
  l.sme = t.sme;
  l.levels = g->levels;
  PageWalker w(c.mem, l.levels, l.sme);
  const ImageMap m = map_image(w, l.top);
  auto run = run_containing(m, sdata);
  if (!run)
    return fail(Errc::not_found,
                fmt::format("does not map _sdata candidate {:#x} in the image", sdata));
  // cleanup_highmap() (arch/x86/mm/init_64.c) clears the image mapping below _text, and
  // __startup_64 (head64.c) maps the image from a 2 MiB-aligned _text: the run starts at _text.
  l.text_va = run->va();
  l.text_pa = run->pa;
  const std::uint64_t top_va = l.text_va + (l.top.value - l.text_pa);
  if (l.top.value < l.text_pa || l.top.value >= l.text_pa + run->size())
    return fail(Errc::not_found, "lies outside the image it maps (a stale or foreign table)");
  auto self = w.translate(l.top, VirtAddr(top_va));
  if (!self || self->phys.value != l.top.value)
    return fail(Errc::not_found, fmt::format("does not map itself at VA {:#x}", top_va));

  auto banner = find_banner(c, w, l, m, *run, std::nullopt);
  if (!banner) return std::unexpected(banner.error());

  KernelImage img;
  fill_common(c, w, l, &*banner, img);
  img.top_va = top_va;
  img.method = "scan";
  img.kaslr_slide = l.text_va - kDefaultTextVa;
  c.note(fmt::format("page table: phys {:#x} (VA {:#x}), {}-level (image mapping scores: "
                     "4-level {}, 5-level {}), sme_mask {:#x}; found by structure (user half "
                     "empty, kernel half table pointers) and confirmed: maps itself, _sdata and "
                     "the banner",
                     l.top.value, top_va, l.levels, g->score4, g->score5, l.sme));
  c.note(fmt::format("_text {:#x} = phys {:#x} (first slot of the image mapping, {} slots), "
                     "KASLR slide {:#x} (assumes CONFIG_PHYSICAL_START 0x1000000), phys_base {:#x}",
                     l.text_va, l.text_pa, run->count, img.kaslr_slide, img.phys_base));
  c.note("vmalloc_base, vmemmap_base unknown until symbols are loaded (not in the page table "
         "without VMCOREINFO)");
  return img;
}

Result<KernelImage> from_scan(Ctx& c, const SparseScan& s) {
  if (s.sdata.empty())
    return fail(Errc::not_found,
                fmt::format("no kernel image: none of the {} readable 2 MiB boundaries below {:#x} "
                            "holds an init task stack (STACK_END_MAGIC at _sdata)",
                            s.readable, c.max_phys));
  std::vector<std::string> rejected;
  std::size_t examined = 0;
  for (std::uint64_t sdata : s.sdata) {
    if (examined++ == kMaxImageCandidates) break;
    const std::uint64_t to = std::min(sdata + kTableWindow, c.max_phys);
    c.say(fmt::format("image candidate at {:#x}: looking for its page table...", sdata));
    std::size_t probed = 0;
    auto tables = find_tables(c, sdata, to, &probed);
    if (tables.empty()) {
      rejected.push_back(
          fmt::format("{:#x}: no top-level table among {} pages after it", sdata, probed));
      continue;
    }
    for (const TableCandidate& t : tables) {
      const std::size_t mark = c.notes.size();
      auto img = try_table(c, t, sdata);
      if (img) {
        c.note(fmt::format("image: _sdata at phys {:#x} (init task stack at a 2 MiB boundary, "
                           "one of {} such), table among {} pages after it ({} structural "
                           "candidates)",
                           sdata, s.sdata.size(), probed, tables.size()));
        for (const std::string& r : rejected) c.note("rejected " + r);
        return img;
      }
      c.notes.resize(mark);
      rejected.push_back(fmt::format("table {:#x}: {}", t.pa.value, img.error().message));
    }
  }
  std::string all;
  for (const std::string& r : rejected) all += "; " + r;
  return fail(Errc::not_found,
              fmt::format("no kernel image confirmed by its page table ({} candidate(s){})",
                          s.sdata.size(), all));
}

}  // namespace

Result<KernelImage> discover(PhysicalMemory& memory, const DiscoveryOptions& opts,
                             const ProgressFn& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  Ctx c{CountingMemory(memory), progress, 0, {}};
  c.max_phys = opts.max_phys ? opts.max_phys : memory.info().max_address;
  if (!c.max_phys) {
    c.max_phys = kUnknownRamCeiling;
    c.note(fmt::format("RAM size unknown: scanning up to {}", mib(c.max_phys)));
  }

  c.say(fmt::format("scanning {} for the kernel image (one read per 2 MiB)...", mib(c.max_phys)));
  const SparseScan s = sparse_scan(c);
  // With the RAM size unknown, what answered bounds every later probe.
  if (!opts.max_phys && !memory.info().max_address && s.ram_top) c.max_phys = s.ram_top;
  c.note(fmt::format("sparse scan: {} of {} 2 MiB regions readable, {} init-stack candidate(s)",
                     s.readable, s.regions, s.sdata.size()));
  if (s.readable == 0)
    return fail(Errc::unbacked, fmt::format("no readable memory below {:#x}", c.max_phys));

  auto finish = [&](KernelImage img) -> Result<KernelImage> {
    const MemoryCounters mc = c.mem.counters();
    img.cost.reads = mc.ranges;
    img.cost.bytes = mc.bytes;
    img.cost.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    c.note(fmt::format("cost: {} reads in {} batches ({} round trips at {} tags in flight), {} "
                       "bytes, {:.3f} s",
                       mc.ranges, mc.batches, mc.round_trips, c.mem.in_flight(), mc.bytes,
                       img.cost.seconds));
    img.notes = std::move(c.notes);
    return img;
  };

  std::string vmcoreinfo_outcome = "not used (use_vmcoreinfo=false)";
  if (opts.use_vmcoreinfo) {
    c.say(fmt::format("probing page starts for VMCOREINFO (up to {} pages)...",
                      std::min<std::uint64_t>(kVmcoreinfoMaxPages, s.ram_top / kPageSize)));
    const auto order = vmcoreinfo_order(s);
    std::optional<KernelImage> found;
    std::vector<std::string> rejected;
    VmcoreinfoScanStats st;
    auto hit = scan_for_vmcoreinfo(
        c.mem, order, kVmcoreinfoMaxPages,
        [&](const VmcoreinfoHit& h) {
          const std::size_t mark = c.notes.size();
          auto img = from_vmcoreinfo(c, h);
          if (img) {
            found = std::move(*img);
            return true;
          }
          c.notes.resize(mark);  // findings about a rejected candidate would mislead
          rejected.push_back(fmt::format("VMCOREINFO candidate at {:#x} rejected: {}", h.pa.value,
                                         img.error().message));
          return false;
        },
        &st);
    for (const std::string& r : rejected) c.note(r);
    if (hit && found) {
      c.note(fmt::format("VMCOREINFO probe: {} page starts read, {} hit(s)", st.pages_probed,
                         st.hits));
      return finish(std::move(*found));
    }
    vmcoreinfo_outcome = fmt::format("not found ({} page starts probed{}, {} rejected)",
                                     st.pages_probed,
                                     st.budget_exhausted ? ", budget exhausted" : "", st.rejected);
    c.note("VMCOREINFO " + vmcoreinfo_outcome + "; falling back to the scan");
  }

  auto img = from_scan(c, s);
  if (!img)
    return fail(Errc::not_found,
                fmt::format("no Linux kernel found in {} of physical memory: VMCOREINFO {}; {}. "
                            "Is this an x86-64 Linux machine, and is the RAM size right?",
                            mib(s.ram_top), vmcoreinfo_outcome, img.error().message));
  return finish(std::move(*img));
}

}  // namespace tlpstub::kernel
