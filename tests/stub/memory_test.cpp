// m / M / X.
#include <gtest/gtest.h>

#include "session_harness.hpp"

namespace tlpstub::stub::testing {
namespace {

std::string addr(std::uint64_t a) { return fmt::format("{:x}", a); }

TEST(Memory, ReadsHex) {
  Harness h;
  EXPECT_EQ(h.ask("m10000,4"), "$00010203#86");
  EXPECT_EQ(h.reply("m10004,c"), "0405060708090a0b0c0d0e0f");
}

TEST(Memory, ZerosAreRunLengthCompressed) {
  Harness h;
  EXPECT_EQ(h.ask("m10010,20"), "$0*\\#b6");  // 64 '0' digits
}

TEST(Memory, ShortReplyWhenTheTailIsUnreadable) {
  Harness h;
  // Two readable pages at 0x10000, a hole after them.
  EXPECT_EQ(h.reply("m" + addr(kDataPage + 2 * kPageSize - 2) + ",10"), "0000");
}

TEST(Memory, NothingReadableIsE14) {
  Harness h;
  EXPECT_EQ(h.ask("m0,4"), "$E14#aa");
  EXPECT_EQ(h.reply("m" + addr(kDataPage + 2 * kPageSize) + ",1"), "E14");
  EXPECT_EQ(h.reply("mffffffffffffffff,10"), "E14");  // clipped at the top, still unreadable
}

TEST(Memory, MalformedIsE01) {
  Harness h;
  for (std::string_view p : {"m zz,10", "mzz,10", "m10", "m10000,", "m,4", "m10000,4,", "m-1,4",
                             "m10000,zz", "m1ffffffffffffffff,4", "m10000,1ffffffffffffffff", "m"})
    EXPECT_EQ(h.ask(p), "$E01#a6") << p;
}

TEST(Memory, HugeLengthIsCappedToThePacketSize) {
  Harness h({.packet_size = 256});
  std::string hex = h.reply("m10000,ffffffffffffffff");
  EXPECT_EQ(hex.size(), 256u);  // 128 bytes
  EXPECT_TRUE(hex.starts_with("00010203"));
  Harness big;  // default 0x20000: the two readable pages, then the hole
  EXPECT_EQ(big.reply("m10000,ffffffff").size(), 2 * 2 * kPageSize);
}

TEST(Memory, ZeroLengthReadsNothing) {
  Harness h;
  int reads = h.target.reads;
  EXPECT_EQ(h.reply("m10000,0"), "");
  EXPECT_EQ(h.target.reads, reads);
}

TEST(Memory, WritesAreRefusedReadOnly) {
  Harness h;
  EXPECT_EQ(h.ask("M10000,4:01000000"), "$E1e#db");
  EXPECT_EQ(h.ask("X10000,0:"), "$E1e#db");  // gdb's binary-download probe
  EXPECT_EQ(h.reply("X10000,4:\x01\x00\x00\x00"), "E1e");
  EXPECT_EQ(h.reply("m10000,4"), "00010203");  // unchanged, session fine
}

}  // namespace
}  // namespace tlpstub::stub::testing
