// ReadPlan: the datagram cost of a read and the grouping of fields. Expected costs are worked
// out by hand from the PCIe rules in shared/facts/nettlp.md (MRRS 512, MPS 256, RCB 64), not
// from the code.
#include "kernel/linux/read_plan.hpp"

#include <gtest/gtest.h>

using namespace tlpstub::kernel;

TEST(ReadPlan, DatagramsFollowRequestAndCompletionBoundaries) {
  EXPECT_EQ(read_datagrams(0, 8), 2u);      // a request, a completion
  EXPECT_EQ(read_datagrams(0, 512), 3u);    // one request, two 256-byte completions
  EXPECT_EQ(read_datagrams(0, 476), 3u);    // nettlp.md's capture: byte counts 476 then 220
  EXPECT_EQ(read_datagrams(48, 336), 3u);   // [48, 256) ends on the RCB, then [256, 384)
  EXPECT_EQ(read_datagrams(2224, 768), 6u); // 2 requests split at 2560, 2 completions each
  EXPECT_EQ(read_datagrams(4000, 200), 4u); // crosses a page: two requests
  EXPECT_EQ(read_datagrams(64, 0), 0u);
}

TEST(ReadPlan, FieldsAreGroupedByWhereTheObjectSits) {
  const Field a{0, 8, true}, b{480, 8, true}, absent{100, 8, false};
  ReadPlan p({b, a, absent});
  EXPECT_EQ(p.base, 0u);
  EXPECT_EQ(p.extent, 488u);
  // At 0: one read [0, 488) costs 3 (1 request, 2 completions), two reads 4.
  EXPECT_EQ(p.spans(0x1000), (ReadSpans{{0, 488}}));
  // At 448 in its page: together 5 (a request at 512 splits it), apart 4.
  EXPECT_EQ(p.spans(0x11c0), (ReadSpans{{0, 8}, {480, 8}}));
  EXPECT_EQ(p.spans(0x21c0), (ReadSpans{{0, 8}, {480, 8}}));  // remembered per page offset
}

TEST(ReadPlan, OverlappingFieldsAreOnePiece) {
  ReadPlan p({Field{0, 8, true}, Field{4, 8, true}, Field{12, 4, true}});
  EXPECT_EQ(p.spans(0), (ReadSpans{{0, 16}}));
  EXPECT_EQ(ReadPlan(std::vector<Field>{}).extent, 0u);
  EXPECT_TRUE(ReadPlan(std::vector<Field>{}).spans(0).empty());
}

TEST(ReadPlan, IfFreeFieldsAreReadOnlyWhereTheyCostNothingMore) {
  const Field a{0, 8, true}, near{200, 8, true}, far{480, 8, true};
  ReadPlan p({a}, {near, far});
  // At 0 in its page: [0, 208) is one request and one completion, as [0, 8) alone: near comes
  // free; [0, 488) would take two completions (3 datagrams), far apart another 2: far is left.
  EXPECT_EQ(p.spans(0x1000), (ReadSpans{{0, 208}}));
  EXPECT_TRUE(p.reads(0x1000, near));
  EXPECT_FALSE(p.reads(0x1000, far));
  EXPECT_TRUE(p.reads(0x1000, a));
  // At 3968: [3968, 4176) crosses the page (two requests): near is left out too.
  EXPECT_EQ(p.spans(0x1f80), (ReadSpans{{0, 8}}));
  EXPECT_FALSE(p.reads(0x1f80, near));
  // The buffer still covers every field, so offsets stay the same wherever the object sits.
  EXPECT_EQ(p.base, 0u);
  EXPECT_EQ(p.extent, 488u);
  // A field both needed and "if free" is needed.
  ReadPlan q({far}, {far});
  EXPECT_EQ(q.spans(0), (ReadSpans{{480, 8}}));
}
