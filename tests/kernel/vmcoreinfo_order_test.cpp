// Where the VMCOREINFO probe looks first: the likely windows take turns, 8 MiB at a time, each
// from its edge inward (the top of RAM downward). Positions as measured on Debian 6.12 with
// 512 MiB [obs]: _sdata at 0x7600000, VMCOREINFO at 0x1f35c000 (13 MiB below the top).
#include <gtest/gtest.h>

#include <vector>

#include "kernel/discovery_detail.hpp"
#include "kernel/vmcoreinfo.hpp"
#include "tests/support/fake_memory.hpp"

using namespace tlpstub;
using namespace tlpstub::kernel;
using tlpstub::test::FakeMemory;

namespace {

constexpr std::uint64_t kMiB = 1 << 20;
constexpr std::uint64_t kTop = 512 * kMiB;

detail::SparseScan guest_512m() {
  detail::SparseScan s;
  s.sdata = {0x7600000};
  s.backed = {{0, kTop}};
  s.ram_top = kTop;
  return s;
}

bool same(const PhysRange& a, const PhysRange& b) {
  return a.begin == b.begin && a.end == b.end && a.downward == b.downward;
}

}  // namespace

TEST(VmcoreinfoOrder, WindowsTakeTurnsFromTheirEdges) {
  const auto order = detail::vmcoreinfo_order(guest_512m(), true);
  // Three windows (after _sdata, top of RAM, bottom of RAM; the block's ends are the same
  // two), 64 MiB each in 8 MiB slices: 24 slices.
  ASSERT_EQ(order.size(), 24u);
  EXPECT_TRUE(same(order[0], {0x7600000, 0x7600000 + 8 * kMiB, false}));
  EXPECT_TRUE(same(order[1], {kTop - 8 * kMiB, kTop, true}));
  EXPECT_TRUE(same(order[2], {0, 8 * kMiB, false}));
  EXPECT_TRUE(same(order[3], {0x7600000 + 8 * kMiB, 0x7600000 + 16 * kMiB, false}));
  EXPECT_TRUE(same(order[4], {kTop - 16 * kMiB, kTop - 8 * kMiB, true}));
  EXPECT_TRUE(same(order[23], {56 * kMiB, 64 * kMiB, false}));
  // All of RAM after the windows when the likely places held nothing.
  const auto all = detail::vmcoreinfo_order(guest_512m(), false);
  ASSERT_EQ(all.size(), 25u);
  EXPECT_TRUE(same(all.back(), {0, kTop, false}));
}

TEST(VmcoreinfoOrder, PageNearTheTopIsFoundInThreeBatches) {
  FakeMemory mem;  // only the one page exists: the others fail and are skipped
  const std::uint64_t at = 0x1f35c000;
  std::vector<std::uint8_t> page(4096, 0);
  const std::string text = "OSRELEASE=6.12.117+deb12-amd64\n";
  std::copy(text.begin(), text.end(), page.begin());
  mem.write(PhysAddr(at), page);
  const auto order = detail::vmcoreinfo_order(guest_512m(), true);
  VmcoreinfoScanStats st;
  auto hit = scan_for_vmcoreinfo(mem, order, 1 << 20, [](const VmcoreinfoHit&) { return true; },
                                 &st);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->pa.value, at);
  // 3,236 pages below the top: the second turn of the top window, after 2,048 + 2,048 + 2,048
  // + 2,048 + 1,188 pages. The whole window after _sdata first, then the top window from its
  // bottom, took 16,384 + 13,148 pages (8 batches).
  EXPECT_LE(st.pages_probed, 3u * 4096);
  EXPECT_LE(mem.batches(), 4u);  // 3 probe batches + the whole page
}
