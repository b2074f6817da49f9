#include "kernel/page_walker.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "tests/support/fake_memory.hpp"

using namespace tlpstub;
using namespace tlpstub::kernel;
using tlpstub::test::FakeMemory;
using tlpstub::test::PageTableBuilder;

namespace {

// Direct-map bases (facts/linux.md, table in section 1): 4-level and 5-level.
std::uint64_t direct_map(int levels) {
  return levels == 5 ? 0xff11000000000000ull : 0xffff888000000000ull;
}

PageTableBuilder::Options opts(int levels) {
  PageTableBuilder::Options o;
  o.levels = levels;
  return o;
}

class WalkerDepth : public ::testing::TestWithParam<int> {
 protected:
  int levels() const { return GetParam(); }
  VirtAddr va(std::uint64_t offset) const { return VirtAddr(direct_map(levels()) + offset); }
  FakeMemory mem;
};

INSTANTIATE_TEST_SUITE_P(Paging, WalkerDepth, ::testing::Values(4, 5),
                         [](const auto& info) { return "L" + std::to_string(info.param); });

}  // namespace

TEST_P(WalkerDepth, Maps4KPagesWithOffsetsAtTheEdges) {
  PageTableBuilder b(mem, opts(levels()));
  const VirtAddr page = va(0x123000);
  b.map_4k(page, PhysAddr(0x7654000));
  PageWalker w(mem, levels());

  auto t = w.translate(b.top(), page + 0xabc);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->phys.value, 0x7654abcu);
  EXPECT_EQ(t->page_size, kPageSize4K);
  EXPECT_EQ(t->page_base().value, 0x7654000u);
  EXPECT_EQ(t->bytes_to_page_end(), 0x1000u - 0xabc);
  EXPECT_TRUE(t->writable);
  EXPECT_FALSE(t->user);
  EXPECT_TRUE(t->nx);

  ASSERT_EQ(t->steps.size(), static_cast<std::size_t>(levels()));
  EXPECT_EQ(t->steps[0].table, b.top());
  for (std::size_t i = 0; i < t->steps.size(); ++i) {
    const int level = levels() - static_cast<int>(i);
    EXPECT_EQ(t->steps[i].level, level);
    EXPECT_EQ(t->steps[i].index, level_index(page, level));
    EXPECT_EQ(t->steps[i].table, b.table_at(level, page));
  }
  EXPECT_EQ(t->steps.back().entry, 0x7654000u | PageTableBuilder::kKernelData);

  EXPECT_EQ(w.translate(b.top(), page)->phys.value, 0x7654000u);
  EXPECT_EQ(w.translate(b.top(), page + 0xfff)->phys.value, 0x7654fffu);
  auto next = w.translate(b.top(), page + 0x1000);  // the neighbour is not mapped
  ASSERT_FALSE(next);
  EXPECT_EQ(next.error().code, Errc::not_present);
  EXPECT_EQ(next.error().address, (page + 0x1000).value);
  auto prev = w.translate(b.top(), VirtAddr(page.value - 1));
  ASSERT_FALSE(prev);
  EXPECT_EQ(prev.error().code, Errc::not_present);
}

TEST_P(WalkerDepth, Maps2MPages) {
  PageTableBuilder b(mem, opts(levels()));
  const VirtAddr page = va(0x40000000 + 3 * kPageSize2M);
  b.map_2m(page, PhysAddr(0x3e00000));
  PageWalker w(mem, levels());

  auto t = w.translate(b.top(), page + 0x1fffff);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->phys.value, 0x3ffffffu);
  EXPECT_EQ(t->page_size, kPageSize2M);
  EXPECT_EQ(t->page_base().value, 0x3e00000u);
  EXPECT_EQ(t->bytes_to_page_end(), 1u);
  EXPECT_EQ(t->steps.size(), static_cast<std::size_t>(levels() - 1));
  EXPECT_EQ(t->steps.back().level, 2);
  EXPECT_EQ(w.translate(b.top(), page + 0x12345)->phys.value, 0x3e12345u);
  EXPECT_FALSE(w.translate(b.top(), page + kPageSize2M));
}

TEST_P(WalkerDepth, Maps1GPages) {
  PageTableBuilder b(mem, opts(levels()));
  const VirtAddr page = va(5 * kPageSize1G);
  b.map_1g(page, PhysAddr(0x80000000));
  PageWalker w(mem, levels());

  auto t = w.translate(b.top(), page + 0x3fffffff);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->phys.value, 0xbfffffffu);
  EXPECT_EQ(t->page_size, kPageSize1G);
  EXPECT_EQ(t->steps.size(), static_cast<std::size_t>(levels() - 2));
  EXPECT_EQ(t->steps.back().level, 3);
  EXPECT_EQ(w.translate(b.top(), page)->phys.value, 0x80000000u);
  EXPECT_EQ(w.translate(b.top(), page + 0x2345678)->phys.value, 0x82345678u);
}

TEST_P(WalkerDepth, HoleAtEveryLevelNamesTheLevel) {
  const VirtAddr target = va(0x1234567000);
  for (int level = 1; level <= levels(); ++level) {
    FakeMemory m;
    PageTableBuilder b(m, opts(levels()));
    b.map_4k(target, PhysAddr(0x9000));
    b.clear_bits(level, target, PageTableBuilder::P);  // frame bits stay: still not present
    PageWalker w(m, levels());
    auto t = w.translate(b.top(), target + 8);
    ASSERT_FALSE(t) << "level " << level;
    EXPECT_EQ(t.error().code, Errc::not_present);
    EXPECT_EQ(t.error().address, (target + 8).value);
    const std::string& msg = t.error().message;
    EXPECT_EQ(msg.rfind(std::string(entry_name(level)) + " not present for 0x", 0), 0u) << msg;
    EXPECT_NE(msg.find(fmt::format("(level {}, entry {:#x}", level, b.get_raw(level, target))),
              std::string::npos)
        << msg;
    Walk walk = w.walk(b.top(), target);
    EXPECT_EQ(walk.steps.size(), static_cast<std::size_t>(levels() - level + 1));
    EXPECT_EQ(walk.steps.back().level, level);
  }
}

TEST_P(WalkerDepth, NonCanonicalAddressesFailWithoutReading) {
  PageTableBuilder b(mem, opts(levels()));
  PageWalker w(mem, levels());
  const VirtAddr bad(levels() == 4 ? 0x0000800000000000 : 0x0100000000000000);
  auto t = w.translate(b.top(), bad);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, Errc::non_canonical);
  EXPECT_EQ(t.error().address, bad.value);
  EXPECT_EQ(mem.batches(), 0u);
}

TEST_P(WalkerDepth, TranslateManyCostsOneBatchPerLevel) {
  PageTableBuilder b(mem, opts(levels()));
  const VirtAddr region = va(0x7e00000);  // 2 MiB aligned
  b.map_range_4k(region, PhysAddr(0x40000000), kPageSize2M);
  // Scramble one page so that a wrong index would show.
  b.map_4k(region + 0x5000, PhysAddr(0x1234000));
  PageWalker w(mem, levels());
  std::vector<VirtAddr> vas;
  for (std::uint64_t k = 0; k < 512; ++k) vas.push_back(region + k * kPageSize + (k & 0xff));
  mem.reset_counters();

  auto results = w.translate_many(b.top(), vas);
  ASSERT_EQ(results.size(), 512u);
  for (std::uint64_t k = 0; k < 512; ++k) {
    ASSERT_TRUE(results[k]) << results[k].error().message;
    const std::uint64_t frame = k == 5 ? 0x1234000 : 0x40000000 + k * kPageSize;
    EXPECT_EQ(results[k]->phys.value, frame + (k & 0xff)) << k;
  }
  EXPECT_EQ(mem.batches(), static_cast<std::size_t>(levels()));
  EXPECT_EQ(mem.ranges(), static_cast<std::size_t>(levels()));  // one table per level
  EXPECT_EQ(w.stats().batches, static_cast<std::uint64_t>(levels()));
  EXPECT_EQ(w.stats().walks, 512u);

  // Everything is cached now.
  mem.reset_counters();
  auto again = w.translate_many(b.top(), vas);
  EXPECT_EQ(mem.batches(), 0u);
  EXPECT_EQ(again[511]->phys.value, 0x40000000u + 511 * kPageSize + 0xff);
}

TEST(Walker, BatchesDistinctTablesOfManyRegions) {
  FakeMemory mem;
  PageTableBuilder b(mem);
  const std::uint64_t dm = direct_map(4);
  // Three PTs under one PD, a fourth PT under another PDPT entry, and a 2M page.
  const std::vector<VirtAddr> mapped = {VirtAddr(dm + 0x1000), VirtAddr(dm + 0x201000),
                                        VirtAddr(dm + 0x401000),
                                        VirtAddr(dm + 3 * kPageSize1G + 0x1000),
                                        VirtAddr(dm + 0x800000)};
  for (std::size_t i = 0; i < 4; ++i) b.map_4k(mapped[i], PhysAddr(0x100000000 + i * kPageSize));
  b.map_2m(mapped[4], PhysAddr(0x200000000));
  const VirtAddr hole(dm + 0x601000);  // PD entry 3 is empty
  const VirtAddr noncanon(0x0000900000000000);

  PageWalker w(mem);
  std::vector<VirtAddr> vas = mapped;
  vas.insert(vas.begin() + 2, hole);
  vas.push_back(noncanon);
  vas.push_back(mapped[0] + 0x10);
  mem.reset_counters();
  auto r = w.translate_many(b.top(), vas);

  // Level 4: the PML4; level 3: one PDPT; level 2: two PDs; level 1: four PTs.
  ASSERT_EQ(mem.batches(), 4u);
  EXPECT_EQ(mem.log()[0].size(), 1u);
  EXPECT_EQ(mem.log()[1].size(), 1u);
  EXPECT_EQ(mem.log()[2].size(), 2u);
  EXPECT_EQ(mem.log()[3].size(), 4u);
  for (auto& batch : mem.log())
    for (auto& range : batch) {
      EXPECT_EQ(range.length, kPageSize);  // whole table pages
      EXPECT_EQ(range.addr & kPageMask, 0u);
    }

  ASSERT_EQ(r.size(), 8u);
  EXPECT_EQ(r[0]->phys.value, 0x100000000u);
  EXPECT_EQ(r[1]->phys.value, 0x100001000u);
  ASSERT_FALSE(r[2]);
  EXPECT_EQ(r[2].error().code, Errc::not_present);
  EXPECT_EQ(r[2].error().address, hole.value);
  EXPECT_EQ(r[3]->phys.value, 0x100002000u);
  EXPECT_EQ(r[4]->phys.value, 0x100003000u);
  EXPECT_EQ(r[5]->phys.value, 0x200000000u);
  EXPECT_EQ(r[5]->page_size, kPageSize2M);
  ASSERT_FALSE(r[6]);
  EXPECT_EQ(r[6].error().code, Errc::non_canonical);
  EXPECT_EQ(r[7]->phys.value, 0x100000010u);
}

TEST(Walker, FiveLevelAddressesNeedFiveLevels) {
  FakeMemory mem;
  PageTableBuilder b(mem, opts(5));
  const VirtAddr v(0xff11000000001000);
  b.map_4k(v, PhysAddr(0x5000));
  PageWalker w(mem, 4);
  auto t = w.translate(b.top(), v);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, Errc::non_canonical);
  w.set_levels(5);
  ASSERT_TRUE(w.translate(b.top(), v));
  EXPECT_EQ(w.translate(b.top(), v)->phys.value, 0x5000u);
  EXPECT_THROW(w.set_levels(3), std::invalid_argument);
  EXPECT_THROW(PageWalker(mem, 6), std::invalid_argument);
}

TEST(Walker, PtiPairNormalisesToTheKernelHalf) {
  FakeMemory mem;
  PageTableBuilder::Options o;
  o.pti = true;
  PageTableBuilder b(mem, o);
  const VirtAddr kva(0xffffffff81000000);
  const VirtAddr uva(0x0000000000401000);
  b.map_4k(kva, PhysAddr(0x1000000), PageTableBuilder::kKernelText);
  // The kernel copy maps user space too, with NX forced on its PML4 entry (arch/x86/mm/pti.c).
  b.map_4k(uva, PhysAddr(0x7000), PageTableBuilder::kUserData & ~PageTableBuilder::NX);
  b.add_bits(4, uva, PageTableBuilder::NX);
  b.use_user_half();
  b.map_4k(uva, PhysAddr(0x7000), PageTableBuilder::kUserData & ~PageTableBuilder::NX);

  const std::uint64_t cr3 = b.cr3(/*pcid=*/0x2a, /*user_half=*/true, /*noflush=*/true);
  ASSERT_EQ(cr3 & 0x1000, 0x1000u);
  ASSERT_NE(cr3 >> 63, 0u);
  const PhysAddr top = cr3_table(cr3);
  EXPECT_EQ(top, b.top());

  PageWalker w(mem);
  auto k = w.translate(top, kva + 0x42);
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_EQ(k->phys.value, 0x1000042u);
  EXPECT_FALSE(k->writable);
  EXPECT_FALSE(k->nx);
  // The user half does not map the kernel: normalisation is what makes this work.
  auto via_user = w.translate(b.user_top(), kva);
  ASSERT_FALSE(via_user);
  EXPECT_EQ(via_user.error().code, Errc::not_present);

  // NX on a user address in the kernel half is reported, not a reason to fail.
  auto u = w.translate(top, uva);
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_TRUE(u->user);
  EXPECT_TRUE(u->nx);
  auto u2 = w.translate(b.user_top(), uva);
  ASSERT_TRUE(u2);
  EXPECT_FALSE(u2->nx);
  EXPECT_EQ(u2->phys, u->phys);
}

TEST(Walker, SmeMaskIsStrippedFromCr3AndEntries) {
  FakeMemory mem;
  constexpr std::uint64_t kC = 1ull << 47;
  PageTableBuilder::Options o;
  o.sme_mask = kC;
  PageTableBuilder b(mem, o);
  const VirtAddr v(0xffff888000345000);
  b.map_4k(v, PhysAddr(0x2345000));
  b.map_2m(VirtAddr(0xffff888040000000), PhysAddr(0x4000000));
  ASSERT_NE(b.cr3() & kC, 0u);
  ASSERT_NE(mem.peek_u64(b.entry_addr(1, v)) & kC, 0u);

  PageWalker w(mem, 4, kC);
  auto t = w.translate(cr3_table(b.cr3(), kC), v + 0x10);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->phys.value, 0x2345010u);
  EXPECT_NE(t->steps.back().entry & kC, 0u);  // steps keep the raw entry
  EXPECT_EQ(w.translate(b.top(), VirtAddr(0xffff888040123456))->phys.value, 0x4123456u);

  // Without the mask the walk follows the C-bit into memory that does not exist.
  PageWalker plain(mem, 4, 0);
  auto bad = plain.translate(b.top(), v);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::unbacked);
}

TEST(Walker, PatBitOfA4KPteIsNotPageSize) {
  FakeMemory mem;
  PageTableBuilder b(mem);
  const VirtAddr v(0xffffc90000123000);
  b.map_4k(v, PhysAddr(0x7e5000), PageTableBuilder::kKernelData | PageTableBuilder::PS);
  PageWalker w(mem);
  auto t = w.translate(b.top(), v + 0x123);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->page_size, kPageSize4K);
  EXPECT_EQ(t->phys.value, 0x7e5123u);  // a 2M reading would give 0x600000 + 0x123123
}

TEST(Walker, CorruptTablePointerIsNotFollowed) {
  FakeMemory mem;
  PageTableBuilder b(mem);
  const VirtAddr v(0xffff888000345000);
  b.map_4k(v, PhysAddr(0x2345000));
  b.add_bits(2, v, 1ull << 55);
  PageWalker w(mem);
  mem.reset_counters();
  auto t = w.translate(b.top(), v);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, Errc::malformed);
  EXPECT_EQ(t.error().address, v.value);
  EXPECT_NE(t.error().message.find("PDE"), std::string::npos) << t.error().message;
  EXPECT_NE(t.error().message.find("corrupt"), std::string::npos) << t.error().message;
  EXPECT_EQ(mem.batches(), 3u);  // PML4, PDPT, PD; never the PT behind the bad entry
}

TEST(Walker, LeafMayCarryProtectionKeyBits) {
  FakeMemory mem;
  PageTableBuilder b(mem);
  const VirtAddr v(0x00007f0000001000);
  b.map_4k(v, PhysAddr(0x2345000), PageTableBuilder::kUserData | (0x5ull << 59));
  PageWalker w(mem);
  auto t = w.translate(b.top(), v);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->phys.value, 0x2345000u);
}

TEST(Walker, ReservedBitsInLargeEntriesAreCorrupt) {
  FakeMemory mem;
  PageTableBuilder b(mem);
  const VirtAddr big(0xffff888040000000);
  b.map_2m(big, PhysAddr(0x4000000));
  b.add_bits(2, big, 1ull << 16);
  const VirtAddr pml4_ps(0xffff900000000000);
  b.map_4k(pml4_ps, PhysAddr(0x5000));
  b.add_bits(4, pml4_ps, PageTableBuilder::PS);
  PageWalker w(mem);
  auto t = w.translate(b.top(), big);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, Errc::malformed);
  auto u = w.translate(b.top(), pml4_ps);
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code, Errc::malformed);
  EXPECT_NE(u.error().message.find("PML4E"), std::string::npos) << u.error().message;
}

TEST(Walker, TableReadFailurePropagatesTheTransportError) {
  FakeMemory mem;
  PageTableBuilder b(mem);
  const VirtAddr v(0xffff888000345000);
  b.map_4k(v, PhysAddr(0x2345000));
  const PhysAddr pd = b.table_at(2, v);
  mem.fail_at(pd, Errc::timeout);
  PageWalker w(mem);
  auto t = w.translate(b.top(), v);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, Errc::timeout);
  EXPECT_EQ(t.error().address, pd.value);
  EXPECT_NE(t.error().message.find("PD table"), std::string::npos) << t.error().message;
  EXPECT_NE(t.error().message.find("injected"), std::string::npos) << t.error().message;

  // The failure holds for the epoch (no re-read per address), and clears with it.
  mem.clear_failures();
  mem.reset_counters();
  EXPECT_FALSE(w.translate(b.top(), v));
  EXPECT_EQ(mem.batches(), 0u);
  w.new_epoch();
  EXPECT_TRUE(w.translate(b.top(), v));

  // A table page that is not backed at all.
  w.new_epoch();
  mem.remove_page(b.table_at(1, v));
  auto u = w.translate(b.top(), v);
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code, Errc::unbacked);
  EXPECT_EQ(u.error().address, b.table_at(1, v).value);
}

TEST(Walker, CachesTablesUntilTheNextEpoch) {
  FakeMemory mem;
  PageTableBuilder b(mem);
  const VirtAddr v(0xffff888000345000);
  b.map_4k(v, PhysAddr(0x2345000));
  b.map_4k(v + kPageSize, PhysAddr(0x9999000));
  PageWalker w(mem);
  mem.reset_counters();

  ASSERT_TRUE(w.translate(b.top(), v));
  EXPECT_EQ(mem.batches(), 4u);
  EXPECT_EQ(mem.bytes(), 4 * kPageSize);
  EXPECT_EQ(w.cached_tables(), 4u);

  mem.reset_counters();
  EXPECT_EQ(w.translate(b.top(), v + kPageSize)->phys.value, 0x9999000u);
  EXPECT_EQ(w.translate(b.top(), v)->phys.value, 0x2345000u);
  EXPECT_EQ(mem.batches(), 0u);
  EXPECT_EQ(w.stats().cache_hits, 8u);

  // The target remaps the page. Within the epoch the walker answers from its tables ...
  b.map_4k(v, PhysAddr(0x7777000));
  EXPECT_EQ(w.translate(b.top(), v)->phys.value, 0x2345000u);
  // ... and a new request sees the live tables.
  w.new_epoch();
  EXPECT_EQ(w.cached_tables(), 0u);
  EXPECT_EQ(w.translate(b.top(), v)->phys.value, 0x7777000u);
  EXPECT_EQ(mem.batches(), 4u);
  EXPECT_EQ(w.stats().epochs, 1u);
}

// The v2p text of these walks is checked in tests/app/commands/v2p_test.cpp.
TEST(Walker, WalkKeepsTheStepsForV2p) {
  FakeMemory mem;
  PageTableBuilder b(mem);
  const VirtAddr v(0xffff888000345000);
  b.map_4k(v, PhysAddr(0x2345000));
  PageWalker w(mem);

  Walk ok = w.walk(b.top(), v + 0x10);
  ASSERT_TRUE(ok.result);
  ASSERT_EQ(ok.steps.size(), 4u);
  EXPECT_EQ(ok.steps[0].level, 4);
  EXPECT_EQ(ok.steps[0].index, 0x111u);
  EXPECT_EQ(ok.steps[0].table.value, 0x100000u);
  EXPECT_EQ(ok.steps[0].entry, 0x101067u);
  EXPECT_EQ(ok.steps[3].index, 0x145u);
  EXPECT_EQ(ok.steps[3].table.value, 0x103000u);
  EXPECT_EQ(ok.steps[3].entry, 0x8000000002345163u);
  EXPECT_EQ(ok.result->phys.value, 0x2345010u);

  Walk hole = w.walk(b.top(), VirtAddr(0xffff888000600000));
  ASSERT_FALSE(hole.result);
  ASSERT_EQ(hole.steps.size(), 3u);
  EXPECT_EQ(hole.steps[2].level, 2);
  EXPECT_EQ(hole.steps[2].index, 3u);
  EXPECT_EQ(hole.steps[2].entry, 0u);
  EXPECT_NE(hole.result.error().message.find("PDE not present for 0xffff888000600000"),
            std::string::npos);
}

TEST(Walker, RightsNarrowAcrossLevels) {
  FakeMemory mem;
  PageTableBuilder b(mem);
  const VirtAddr v(0x0000555555554000);
  b.map_4k(v, PhysAddr(0x8000), PageTableBuilder::kUserData & ~PageTableBuilder::NX);
  PageWalker w(mem);
  auto t = w.translate(b.top(), v);
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->writable);
  EXPECT_TRUE(t->user);
  EXPECT_FALSE(t->nx);
  w.new_epoch();
  b.clear_bits(3, v, PageTableBuilder::RW);
  b.clear_bits(4, v, PageTableBuilder::US);
  b.add_bits(2, v, PageTableBuilder::NX);
  t = w.translate(b.top(), v);
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->writable);
  EXPECT_FALSE(t->user);
  EXPECT_TRUE(t->nx);
}
