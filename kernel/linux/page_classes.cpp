#include "kernel/linux/page_classes.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "common/bytes.hpp"

namespace tlpstub::kernel {

namespace {

constexpr std::uint64_t kFramePage = 4096;
// include/linux/page-flags.h (6.1 and 6.12): a slot below this, as a signed int, is a page
// type, not a map count (page_has_type / page_mapcount_is_type).
constexpr std::int32_t kPageMapcountReserve = -128;
constexpr std::uint64_t kPageMappingAnon = 1;

bool page_flag_set(std::uint64_t flags, int n) { return n >= 0 && n < 64 && ((flags >> n) & 1); }

// OFFSET(page.NAME) from VMCOREINFO, else the member from the types.
Result<std::uint64_t> page_offset(const Vmcoreinfo& vi, const TypeInfo* types,
                                  std::string_view name, std::string& source) {
  if (auto v = vi.offset("page." + std::string(name))) return *v;
  if (!types) return fail(Errc::not_found, fmt::format("struct page.{}: not in VMCOREINFO and "
                                                       "no kernel types", name));
  auto f = types->member("page", name);
  if (!f) return fail(f.error().code, fmt::format("struct page.{}: {}", name, f.error().message));
  source = "types (" + f->source + ")";
  return f->offset;
}

int page_flag(const Vmcoreinfo& vi, std::string_view name) {
  auto v = vi.number(name);
  if (!v || static_cast<std::int64_t>(*v) < 0 || *v >= 64) return -1;
  return static_cast<int>(*v);
}

bool excluded_by(PageClass c, unsigned level) {
  switch (c) {
    case PageClass::free: return level & kPageLevelFree;
    case PageClass::user: return level & kPageLevelUser;
    case PageClass::cache: return level & (kPageLevelCache | kPageLevelCachePrivate);
    case PageClass::cache_private: return level & kPageLevelCachePrivate;
    case PageClass::keep: return false;
  }
  return false;
}

void add_run(std::vector<PfnRun>& runs, std::uint64_t b, std::uint64_t e) {
  if (!runs.empty() && runs.back().end == b)
    runs.back().end = e;
  else
    runs.push_back({b, e});
}

}  // namespace

Result<PageLayout> page_layout(const Vmcoreinfo& vi, const TypeInfo* types, unsigned level) {
  PageLayout L;
  std::string source = "VMCOREINFO";
  if (auto s = vi.size("page")) {
    L.size = *s;
  } else if (types) {
    auto s2 = types->struct_size("page");
    if (!s2) return fail(s2.error().code, "sizeof(struct page): " + s2.error().message);
    L.size = *s2;
  } else {
    return fail(Errc::not_found, "sizeof(struct page): not in VMCOREINFO and no kernel types");
  }
  if (L.size < 32 || L.size > 256)
    return fail(Errc::malformed, fmt::format("sizeof(struct page) = {}: not believed", L.size));
  for (auto [dst, name] : {std::pair{&L.flags, "flags"}, {&L.mapcount, "_mapcount"},
                           {&L.private_, "private"}, {&L.mapping, "mapping"},
                           {&L.compound_head, "compound_head"}}) {
    auto o = page_offset(vi, types, name, source);
    if (!o) return std::unexpected(o.error());
    if (*o + 8 > L.size && !(name == std::string_view("_mapcount") && *o + 4 <= L.size))
      return fail(Errc::malformed, fmt::format("struct page.{} at {} is outside the {}-byte "
                                               "struct", name, *o, L.size));
    *dst = *o;
  }
  L.source = source;
  auto buddy = vi.number("PAGE_BUDDY_MAPCOUNT_VALUE");
  if (!buddy)
    return fail(Errc::not_found, "no NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE) in VMCOREINFO: free "
                                 "pages cannot be told");
  L.buddy = static_cast<std::uint32_t>(*buddy);
  // 6.12 (commit 4ffca5a96678): PGTY_buddy << 24, the low 24 bits are the type's own; before,
  // ~PG_buddy with every other bit set, compared whole.
  L.buddy_top_byte = (L.buddy & 0xffffffu) == 0;
  L.pg_lru = page_flag(vi, "PG_lru");
  L.pg_private = page_flag(vi, "PG_private");
  L.pg_swapcache = page_flag(vi, "PG_swapcache");
  L.pg_slab = page_flag(vi, "PG_slab");
  if (level & (kPageLevelCache | kPageLevelCachePrivate | kPageLevelUser)) {
    // Slab pages reuse the mapping slot: they must be recognisable, by PG_slab (up to 6.9)
    // or as a page type (6.10+, NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)).
    if (L.pg_slab < 0 && !vi.number("PAGE_SLAB_MAPCOUNT_VALUE"))
      return fail(Errc::not_found, "neither NUMBER(PG_slab) nor NUMBER(PAGE_SLAB_MAPCOUNT_VALUE) "
                                   "in VMCOREINFO: slab pages cannot be told from user or cache");
    if ((level & (kPageLevelCache | kPageLevelCachePrivate)) &&
        (L.pg_lru < 0 || L.pg_private < 0 || L.pg_swapcache < 0))
      return fail(Errc::not_found, "NUMBER(PG_lru/PG_private/PG_swapcache) missing from "
                                   "VMCOREINFO: page cache cannot be told");
  }
  return L;
}

PageVerdict classify_page(const PageLayout& L, std::span<const std::uint8_t> p,
                          std::uint64_t vmemmap, std::uint64_t head_pfn, PageClass head_class) {
  PageVerdict v;
  const std::uint64_t head = load_le64(p.data() + L.compound_head);
  if (head & 1) {  // a tail: its head is head - 1
    const std::uint64_t h = head - 1;
    if (h >= vmemmap && (h - vmemmap) % L.size == 0 && (h - vmemmap) / L.size == head_pfn)
      v.cls = head_class;
    return v;
  }
  v.is_head = true;
  const std::uint64_t flags = load_le64(p.data() + L.flags);
  const std::uint32_t slot = load_le32(p.data() + L.mapcount);
  const bool typed = static_cast<std::int32_t>(slot) < kPageMapcountReserve;
  const bool buddy = L.buddy_top_byte ? (slot >> 24) == (L.buddy >> 24) : slot == L.buddy;
  if (typed && buddy && !page_flag_set(flags, L.pg_slab)) {
    const std::uint64_t order = load_le64(p.data() + L.private_);
    if (order <= kMaxBuddyOrder) {
      v.cls = PageClass::free;
      v.span = std::uint64_t{1} << order;
    }
    return v;
  }
  if (typed || page_flag_set(flags, L.pg_slab)) return v;
  const std::uint64_t mapping = load_le64(p.data() + L.mapping);
  if (mapping & kPageMappingAnon) {
    v.cls = PageClass::user;
  } else if (mapping != 0 && page_flag_set(flags, L.pg_lru)) {
    v.cls = page_flag_set(flags, L.pg_private) || page_flag_set(flags, L.pg_swapcache) ? PageClass::cache_private
                                                                   : PageClass::cache;
  }
  return v;
}

PageExclusion classify_pages(AddressSpace& as, const PageLayout& L, std::uint64_t vmemmap,
                             std::span<const RamRange> ram, unsigned level) {
  PageExclusion x;
  std::vector<std::uint8_t> buf;
  const std::uint64_t per_chunk = std::max<std::uint64_t>(kPageArrayChunk / L.size, 1);
  std::uint64_t head_pfn = ~0ull;
  PageClass head_class = PageClass::keep;
  for (const RamRange& r : ram) {
    const std::uint64_t first = (r.begin + kFramePage - 1) / kFramePage, last = r.end / kFramePage;
    std::uint64_t pfn = first;
    while (pfn < last) {
      const std::uint64_t n = std::min(per_chunk, last - pfn);
      buf.resize(n * L.size);
      const std::uint64_t va0 = vmemmap + pfn * L.size;
      ReadOutcome o = as.read(VirtAddr(va0), buf);
      ++x.batches;
      const std::uint64_t got = o.bytes_read / L.size;
      std::uint64_t i = 0;
      while (i < got) {
        const PageVerdict v = classify_page(
            L, std::span<const std::uint8_t>(buf.data() + i * L.size, L.size), vmemmap, head_pfn,
            head_class);
        const std::uint64_t span = std::min(v.span, last - (pfn + i));
        if (v.is_head) {
          head_pfn = pfn + i;
          head_class = v.cls;
        }
        if (excluded_by(v.cls, level)) {
          add_run(x.runs, pfn + i, pfn + i + span);
          switch (v.cls) {
            case PageClass::free: x.free += span; break;
            case PageClass::user: x.user += span; break;
            case PageClass::cache: x.cache += span; break;
            case PageClass::cache_private: x.cache_private += span; break;
            case PageClass::keep: break;
          }
        }
        i += span;  // a free block's other frames are not looked at
      }
      if (i >= n) {
        pfn += i;
        continue;
      }
      // Unreadable struct pages (a hole in vmemmap): keep those frames, go on from the next
      // vmemmap page.
      const std::uint64_t bad_va = va0 + i * L.size;
      const std::uint64_t next_va = (bad_va / kFramePage + 1) * kFramePage;
      const std::uint64_t next_pfn = std::min(last, (next_va - vmemmap + L.size - 1) / L.size);
      x.unknown += next_pfn - (pfn + i);
      head_pfn = ~0ull;
      pfn = std::max(next_pfn, pfn + i + 1);
    }
  }
  return x;
}

bool PageExclusion::excluded(std::uint64_t pfn) const {
  auto it = std::upper_bound(runs.begin(), runs.end(), pfn,
                             [](std::uint64_t p, const PfnRun& r) { return p < r.begin; });
  return it != runs.begin() && pfn < std::prev(it)->end;
}

}  // namespace tlpstub::kernel
