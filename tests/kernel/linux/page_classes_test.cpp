// Page classes for dump levels (kernel/linux/page_classes.hpp) on struct pages built by hand
// from the kernel's definitions (include/linux/mm_types.h, page-flags.h) and the VMCOREINFO
// values Debian's 6.1 and 6.12 kernels export (NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE) = -129 on
// 6.1: ~PG_buddy; PGTY_buddy << 24 = 0xf0000000 on 6.12), not from the classifier.
#include <gtest/gtest.h>

#include <cstring>

#include "kernel/linux/page_classes.hpp"

namespace tlpstub::kernel {
namespace {

constexpr std::uint64_t kVmemmap = 0xffffea0000000000ull;

// struct page, 64 bytes: flags @0, compound_head (lru.next) @8, mapping @24, private @40,
// _mapcount / page_type @48 (6.1 and 6.12 x86-64 with BTF).
Vmcoreinfo info(const char* buddy, bool slab_flag) {
  Vmcoreinfo vi;
  vi.entries = {{"SIZE(page)", "64"},
                {"OFFSET(page.flags)", "0"},
                {"OFFSET(page.compound_head)", "8"},
                {"OFFSET(page.mapping)", "24"},
                {"OFFSET(page.private)", "40"},
                {"OFFSET(page._mapcount)", "48"},
                {"NUMBER(PG_lru)", "4"},
                {"NUMBER(PG_private)", "13"},
                {"NUMBER(PG_swapcache)", "10"},
                {"NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)", buddy}};
  if (slab_flag)
    vi.entries["NUMBER(PG_slab)"] = "9";
  else
    vi.entries["NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)"] = "-184549376";  // PGTY_slab 0xf5 << 24
  return vi;
}

struct RawPage {
  std::uint8_t b[64] = {};
  RawPage& u64(std::size_t off, std::uint64_t v) { std::memcpy(b + off, &v, 8); return *this; }
  RawPage& u32(std::size_t off, std::uint32_t v) { std::memcpy(b + off, &v, 4); return *this; }
  RawPage() { u32(48, 0xffffffffu); }  // _mapcount -1: not mapped, no type
};

PageVerdict judge(const PageLayout& L, const RawPage& p, std::uint64_t head_pfn = ~0ull,
                  PageClass head_class = PageClass::keep) {
  return classify_page(L, std::span<const std::uint8_t>(p.b, 64), kVmemmap, head_pfn, head_class);
}

TEST(PageClasses, LayoutFromVmcoreinfo) {
  auto L = page_layout(info("-129", true), nullptr, 31);
  ASSERT_TRUE(L) << L.error().message;
  EXPECT_EQ(L->size, 64u);
  EXPECT_EQ(L->mapcount, 48u);
  EXPECT_EQ(L->buddy, 0xffffff7fu);
  EXPECT_FALSE(L->buddy_top_byte);
  auto L12 = page_layout(info("-268435456", false), nullptr, 31);
  ASSERT_TRUE(L12) << L12.error().message;
  EXPECT_EQ(L12->buddy, 0xf0000000u);
  EXPECT_TRUE(L12->buddy_top_byte);
}

TEST(PageClasses, MissingFactsAreErrorsNotGuesses) {
  Vmcoreinfo vi = info("-129", true);
  vi.entries.erase("NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)");
  EXPECT_FALSE(page_layout(vi, nullptr, 16));
  vi = info("-129", true);
  vi.entries.erase("NUMBER(PG_slab)");
  EXPECT_TRUE(page_layout(vi, nullptr, 16));   // free pages need no slab test
  EXPECT_FALSE(page_layout(vi, nullptr, 8));   // user pages do
  vi = info("-129", true);
  vi.entries.erase("OFFSET(page.compound_head)");
  EXPECT_FALSE(page_layout(vi, nullptr, 16));  // and no types to ask
}

TEST(PageClasses, BuddyHeadsSpanTheirOrder61) {
  const PageLayout L = *page_layout(info("-129", true), nullptr, 31);
  auto v = judge(L, RawPage().u32(48, 0xffffff7fu).u64(40, 3));
  EXPECT_EQ(v.cls, PageClass::free);
  EXPECT_EQ(v.span, 8u);
  // Another page type (PG_table 0x200 cleared) is not free, nor user/cache.
  EXPECT_EQ(judge(L, RawPage().u32(48, 0xfffffdffu).u64(24, 0x1235)).cls, PageClass::keep);
  // A mapped page whose map count happens to be large is not a type.
  EXPECT_EQ(judge(L, RawPage().u32(48, 5)).cls, PageClass::keep);
  // An absurd order is not believed.
  EXPECT_EQ(judge(L, RawPage().u32(48, 0xffffff7fu).u64(40, 40)).cls, PageClass::keep);
}

TEST(PageClasses, BuddyByTopByte612) {
  const PageLayout L = *page_layout(info("-268435456", false), nullptr, 31);
  auto v = judge(L, RawPage().u32(48, 0xf0000000u).u64(40, 10));
  EXPECT_EQ(v.cls, PageClass::free);
  EXPECT_EQ(v.span, 1024u);
  EXPECT_EQ(judge(L, RawPage().u32(48, 0xf0000abcu)).cls, PageClass::free);
  // Slab (PGTY_slab) with a mapping slot that looks anonymous stays.
  EXPECT_EQ(judge(L, RawPage().u32(48, 0xf5000000u).u64(24, 0x7)).cls, PageClass::keep);
}

TEST(PageClasses, UserCacheSlabAndTails) {
  const PageLayout L = *page_layout(info("-129", true), nullptr, 31);
  const std::uint64_t lru = 1u << 4, priv = 1u << 13, slab = 1u << 9;
  EXPECT_EQ(judge(L, RawPage().u64(24, 0xffff888001234561ull).u64(0, lru)).cls, PageClass::user);
  EXPECT_EQ(judge(L, RawPage().u64(24, 0xffff888001234560ull).u64(0, lru)).cls, PageClass::cache);
  EXPECT_EQ(judge(L, RawPage().u64(24, 0xffff888001234560ull).u64(0, lru | priv)).cls,
            PageClass::cache_private);
  // Not on an LRU: not page cache (buffers, being freed).
  EXPECT_EQ(judge(L, RawPage().u64(24, 0xffff888001234560ull)).cls, PageClass::keep);
  // Slab: its mapping slot is slab_cache.
  EXPECT_EQ(judge(L, RawPage().u64(24, 0xffff888001234561ull).u64(0, slab | lru)).cls,
            PageClass::keep);
  // A tail takes its head's class only when the head is the last head seen.
  const std::uint64_t head_va = kVmemmap + 100 * 64;
  RawPage tail = RawPage().u64(8, head_va | 1).u64(24, 0x1);
  EXPECT_EQ(judge(L, tail, 100, PageClass::cache).cls, PageClass::cache);
  EXPECT_FALSE(judge(L, tail, 100, PageClass::cache).is_head);
  EXPECT_EQ(judge(L, tail, 99, PageClass::cache).cls, PageClass::keep);
}

TEST(PageClasses, ExclusionLookup) {
  PageExclusion x;
  x.runs = {{10, 20}, {30, 31}};
  EXPECT_FALSE(x.excluded(9));
  EXPECT_TRUE(x.excluded(10));
  EXPECT_TRUE(x.excluded(19));
  EXPECT_FALSE(x.excluded(20));
  EXPECT_TRUE(x.excluded(30));
  EXPECT_FALSE(x.excluded(31));
  EXPECT_FALSE(PageExclusion{}.excluded(0));
}

}  // namespace
}  // namespace tlpstub::kernel
