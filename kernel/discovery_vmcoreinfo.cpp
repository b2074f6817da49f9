// Discovery path 1: the layout the VMCOREINFO page names, accepted only if the table it names
// confirms it.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <span>
#include <utility>

#include "kernel/address_space.hpp"
#include "kernel/discovery_detail.hpp"
#include "kernel/page_walker.hpp"
#include "kernel/paging_probe.hpp"
#include "kernel/vmcoreinfo.hpp"

namespace tlpstub::kernel::detail {

namespace {

// VMCOREINFO probe windows (see vmcoreinfo_order()), probed in turn a slice at a time.
constexpr std::uint64_t kVmcoreinfoWindow = 64 * kMiB;
constexpr std::uint64_t kVmcoreinfoSlice = 8 * kMiB;
// include/uapi/linux/utsname.h: struct new_utsname { char sysname[65], nodename[65],
// release[65], version[65], machine[65], domainname[65]; }.
constexpr std::uint64_t kUtsLen = 65;

std::string cstring(std::span<const std::uint8_t> b) {
  std::size_t n = 0;
  while (n < b.size() && b[n] != 0) ++n;
  return std::string(reinterpret_cast<const char*>(b.data()), n);
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

}  // namespace

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

namespace {

// What the sparse scan could read of window `w`, in kVmcoreinfoSlice slices from its edge
// inward (from its end if `w.downward`).
std::vector<PhysRange> window_slices(const SparseScan& s, const PhysRange& w) {
  std::vector<PhysRange> pieces;
  for (const PhysRange& b : s.backed) {
    const std::uint64_t lo = std::max(w.begin, b.begin), hi = std::min(w.end, b.end);
    if (lo < hi) pieces.push_back({lo, hi, w.downward});
  }
  if (w.downward) std::reverse(pieces.begin(), pieces.end());
  std::vector<PhysRange> cut;
  for (const PhysRange& p : pieces)
    for (std::uint64_t done = 0; done < p.end - p.begin; done += kVmcoreinfoSlice) {
      const std::uint64_t n = std::min(kVmcoreinfoSlice, p.end - p.begin - done);
      cut.push_back(w.downward ? PhysRange{p.end - done - n, p.end - done, true}
                               : PhysRange{p.begin + done, p.begin + done + n});
    }
  return cut;
}

}  // namespace

// VMCOREINFO's page comes from the buddy allocator at subsys_initcall time; measured on 512 MiB
// guests [obs]: right after the image's _end (6.12 on both CPUs), near the top of RAM (6.1,
// qemu64), 19 MiB from the bottom (6.1, -cpu max); on a 3 GiB guest whose image KASLR put
// above 4 GiB, just above 4 GiB (the start of the second RAM block) [obs]. Probe those places
// first (the window after _sdata, then both ends of every RAM block), then the rest. Each
// window is probed from its edge inward (the top of a block downward), and the windows take
// turns, kVmcoreinfoSlice at a time: which window holds the page differs from boot to boot
// (on 6.12, 512 MiB, it sat 13 MiB below the top of RAM in two boots [obs]), and taking turns
// makes the cost the page's distance from its edge times the number of windows, not the
// whole of every window probed before its own.
std::vector<PhysRange> vmcoreinfo_order(const SparseScan& s, bool likely_only) {
  std::vector<PhysRange> want;
  for (std::size_t i = 0; i < s.sdata.size() && i < 2; ++i)
    want.push_back({s.sdata[i], s.sdata[i] + kVmcoreinfoWindow});
  if (s.ram_top > kVmcoreinfoWindow)
    want.push_back({s.ram_top - kVmcoreinfoWindow, s.ram_top, true});
  want.push_back({0, kVmcoreinfoWindow});
  for (const PhysRange& b : s.backed) {
    want.push_back({b.begin, std::min(b.end, b.begin + kVmcoreinfoWindow)});
    want.push_back({b.end - std::min(b.end - b.begin, kVmcoreinfoWindow), b.end, true});
  }
  std::vector<std::vector<PhysRange>> slices;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const PhysRange& w = want[i];
    if (std::none_of(want.begin(), want.begin() + static_cast<std::ptrdiff_t>(i),
                     [&](const PhysRange& o) { return o.begin == w.begin && o.end == w.end; }))
      slices.push_back(window_slices(s, w));  // (a block's end may be the top of RAM again)
  }
  std::vector<PhysRange> out;
  for (std::size_t turn = 0;; ++turn) {
    bool any = false;
    for (const auto& w : slices)
      if (turn < w.size()) {
        out.push_back(w[turn]);
        any = true;
      }
    if (!any) break;
  }
  if (!likely_only)
    for (const PhysRange& b : s.backed) out.push_back({b.begin, std::min(b.end, s.ram_top)});
  return out;
}

}  // namespace tlpstub::kernel::detail
