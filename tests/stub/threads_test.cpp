// qfThreadInfo / qsThreadInfo / qThreadExtraInfo / qC / T / H.
#include <gtest/gtest.h>

#include "common/parse.hpp"
#include "session_harness.hpp"

namespace tlpstub::stub::testing {
namespace {

TEST(Threads, ListInHex) {
  Harness h;
  EXPECT_EQ(h.ask("qfThreadInfo"), "$m1,2,10000#19");
  EXPECT_EQ(h.ask("qsThreadInfo"), "$l#6c");
  EXPECT_EQ(h.reply("qsThreadInfo"), "l");
}

TEST(Threads, LongListIsSplitAcrossReplies) {
  Harness h({.packet_size = 256});
  h.target.threads_.clear();
  for (int i = 1; i <= 3000; ++i) h.target.threads_.push_back({i, "t", ""});
  std::vector<std::string> ids;
  int replies = 0;
  for (std::string r = h.reply("qfThreadInfo"); r != "l"; r = h.reply("qsThreadInfo")) {
    ASSERT_EQ(r[0], 'm');
    ASSERT_LE(r.size(), 256u);
    for (auto id : split(std::string_view(r).substr(1), ',')) ids.emplace_back(id);
    ASSERT_LT(++replies, 1000);
  }
  EXPECT_GT(replies, 10);
  ASSERT_EQ(ids.size(), 3000u);
  EXPECT_EQ(ids.front(), "1");
  EXPECT_EQ(ids.back(), "bb8");
}

TEST(Threads, ExtraInfoIsHexText) {
  Harness h;
  EXPECT_EQ(h.reply("qThreadExtraInfo,2"), hex_of("pid 2 kthreadd"));
  EXPECT_EQ(h.reply("qThreadExtraInfo,10000"), hex_of("pid 0 swapper/0"));
  EXPECT_EQ(h.reply("qThreadExtraInfo,99"), "E02");
  EXPECT_EQ(h.reply("qThreadExtraInfo,zz"), "E01");
}

TEST(Threads, CurrentThreadFollowsHg) {
  Harness h;
  EXPECT_EQ(h.ask("qC"), "$QC1#c5");
  EXPECT_EQ(h.reply("Hg2"), "OK");
  EXPECT_EQ(h.reply("qC"), "QC2");
  EXPECT_EQ(h.reply("Hg0"), "OK");  // any thread: the default one
  EXPECT_EQ(h.reply("qC"), "QC1");
}

TEST(Threads, Alive) {
  Harness h;
  EXPECT_EQ(h.ask("T1"), "$OK#9a");
  EXPECT_EQ(h.reply("T10000"), "OK");
  EXPECT_EQ(h.reply("T99"), "E02");
  EXPECT_EQ(h.reply("T0"), "E02");
  EXPECT_EQ(h.reply("T-1"), "E02");
  EXPECT_EQ(h.reply("Tzz"), "E01");
}

TEST(Threads, Select) {
  Harness h;
  EXPECT_EQ(h.reply("Hg0"), "OK");
  EXPECT_EQ(h.reply("Hc-1"), "OK");
  EXPECT_EQ(h.reply("Hc0"), "OK");
  EXPECT_EQ(h.reply("Hg10000"), "OK");
  EXPECT_EQ(h.reply("Hg99"), "E02");
  EXPECT_EQ(h.reply("Hc99"), "E02");
  EXPECT_EQ(h.reply("H"), "E01");
  EXPECT_EQ(h.reply("Hg"), "E01");
  EXPECT_EQ(h.reply("Hgzz"), "E01");
  EXPECT_EQ(h.reply("qC"), "QC10000");  // the failed selections changed nothing
}

TEST(Threads, StopReplyNamesTheDefaultThread) {
  Harness h;
  h.target.threads_.erase(h.target.threads_.begin());  // first thread is now 2
  EXPECT_EQ(h.reply("?"), "T05thread:2;");
  EXPECT_EQ(h.reply("qC"), "QC2");
}

}  // namespace
}  // namespace tlpstub::stub::testing
