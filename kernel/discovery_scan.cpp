// Discovery path 2, without VMCOREINFO: the top-level table found by structure after each image
// candidate of the sparse scan, accepted only if it maps the image onto itself and the banner.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>

#include "common/bytes.hpp"
#include "kernel/discovery_detail.hpp"
#include "kernel/page_table.hpp"
#include "kernel/page_walker.hpp"
#include "kernel/paging.hpp"
#include "kernel/paging_probe.hpp"

namespace tlpstub::kernel::detail {

namespace {

// init_top_pgt is in head_64.S's .data, linked first into .data after init_stack and the
// page-aligned data: _sdata+0x10000 on Debian 6.1.192, _sdata+0x22000 on 6.12.117 [obs].
constexpr std::uint64_t kTableWindow = 4 * kMiB;
constexpr std::size_t kMaxImageCandidates = 8;
constexpr std::size_t kMaxTableCandidates = 32;

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
    const std::uint64_t a = load_le64(e0[i].data()), z = load_le64(e511[i].data());
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
  std::vector<PageTable> tabs(survivors.size());
  std::vector<TableRead> reads;
  for (std::size_t i = 0; i < survivors.size(); ++i)
    reads.push_back({PhysAddr(survivors[i]), &tabs[i]});
  st.assign(reads.size(), ReadStatus{});
  read_tables(c.mem, reads, st);
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

}  // namespace

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

}  // namespace tlpstub::kernel::detail
