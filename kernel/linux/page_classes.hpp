// What each page frame holds, from its struct page in vmemmap, for makedumpfile-style dump
// levels (`monitor dump --level`, facts: vmcore.md "makedumpfile dump level"):
//   16 free   the first page of a free block of the buddy allocator (a page type: the
//             _mapcount/page_type slot equals NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)); the block
//             spans 1 << page->private pages (mm/page_alloc.c set_buddy_order, 6.1 and 6.12).
//    8 user   anonymous memory: page->mapping has PAGE_MAPPING_ANON (bit 0) set
//             (include/linux/page-flags.h).
//  2/4 cache  page cache: on an LRU list (PG_lru), mapping a file (non-zero mapping without the
//             anon bit); 2 excludes only those without PG_private / PG_swapcache, 4 all.
// Tail pages of a compound page (bit 0 of the compound_head slot, include/linux/page-flags.h)
// take the class of their head. Pages with a page type (slab on 6.12, page tables, offline,
// ...: the slot is below PAGE_MAPCOUNT_RESERVE = -128 as a signed int, 6.1 and 6.12) or with
// PG_slab (6.1) are never user or cache: their mapping slot holds something else.
//
// Every number comes from the kernel: the layout from VMCOREINFO (SIZE(page), OFFSET(page.*),
// NUMBER(PG_*), NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE): crash_core.c 6.1, vmcore_info.c 6.12) or,
// for the offsets, from the types (BTF); the flag numbers only from VMCOREINFO. Without them
// nothing is classified (the dump keeps every page). On a live target the result is one
// moment's view: a page freed or allocated after the scan is misjudged.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "kernel/address_space.hpp"
#include "kernel/linux/iomem.hpp"
#include "kernel/symbols/type_info.hpp"
#include "kernel/vmcoreinfo.hpp"

namespace tlpstub::kernel {

// makedumpfile's -d bits beyond zero pages (1).
inline constexpr unsigned kPageLevelCache = 2;         // page cache without private data
inline constexpr unsigned kPageLevelCachePrivate = 4;  // all page cache
inline constexpr unsigned kPageLevelUser = 8;          // anonymous pages
inline constexpr unsigned kPageLevelFree = 16;         // buddy allocator's free pages
inline constexpr unsigned kPageLevelClassBits = 2 | 4 | 8 | 16;

struct PageLayout {
  std::uint64_t size = 0, flags = 0, mapcount = 0, private_ = 0, mapping = 0, compound_head = 0;
  int pg_lru = -1, pg_private = -1, pg_swapcache = -1, pg_slab = -1;  // -1: unknown
  std::uint32_t buddy = 0;   // NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE) as the u32 in the slot
  bool buddy_top_byte = false;  // 6.12: only the top byte names the type (low 24 bits free)
  std::string source;        // where the offsets came from
};

// The layout from VMCOREINFO, offsets missing there from `types` (may be null). Fails when
// the buddy value or a needed offset is unknown (then no page can be classified safely).
Result<PageLayout> page_layout(const Vmcoreinfo& vi, const TypeInfo* types, unsigned level);

enum class PageClass : std::uint8_t { keep, free, cache, cache_private, user };

struct PfnRun {
  std::uint64_t begin = 0, end = 0;  // [begin, end) page frame numbers
};

struct PageExclusion {
  std::vector<PfnRun> runs;  // excluded frames, sorted, merged, not overlapping
  std::uint64_t free = 0, cache = 0, cache_private = 0, user = 0;  // frames excluded per class
  std::uint64_t unknown = 0;  // frames whose struct page could not be read (kept)
  std::uint64_t batches = 0;  // struct page read batches

  bool excluded(std::uint64_t pfn) const;
};

// Buddy blocks above this order are not believed (MAX_ORDER is 10 on x86-64 6.1 and 6.12;
// a corrupt private field must not exclude half the RAM).
inline constexpr std::uint64_t kMaxBuddyOrder = 12;
// struct page bytes per read (1 MiB: 16384 frames = 64 MiB of RAM with a 64-byte page).
inline constexpr std::size_t kPageArrayChunk = 1u << 20;

// The classes `level` asks for, over the frames of `ram`, reading struct page at
// vmemmap + pfn * size through `as` in kPageArrayChunk reads.
PageExclusion classify_pages(AddressSpace& as, const PageLayout& L, std::uint64_t vmemmap,
                             std::span<const RamRange> ram, unsigned level);

// One frame's class from its struct page bytes (exposed for tests). `head_class` is the class
// of the last head page seen and `head_pfn` its frame; a tail page pointing at it inherits it.
struct PageVerdict {
  PageClass cls = PageClass::keep;
  std::uint64_t span = 1;  // frames this verdict covers (a free block's 1 << order)
  bool is_head = false;    // not a tail: may be a head for the pages after it
};
PageVerdict classify_page(const PageLayout& L, std::span<const std::uint8_t> page,
                          std::uint64_t vmemmap, std::uint64_t head_pfn, PageClass head_class);

}  // namespace tlpstub::kernel
