#include "common/parse.hpp"

#include <gtest/gtest.h>

using namespace tlpstub;

TEST(ParseU64, AutoBase) {
  EXPECT_EQ(parse_u64("4096").value(), 4096u);
  EXPECT_EQ(parse_u64("0x1000").value(), 4096u);
  EXPECT_EQ(parse_u64(" 0X1f ").value(), 31u);
  EXPECT_EQ(parse_u64("ffffffff81000000", 16).value(), 0xffffffff81000000ull);
  EXPECT_EQ(parse_u64("0xffffffff81000000", 16).value(), 0xffffffff81000000ull);
}

TEST(ParseU64, Rejects) {
  EXPECT_FALSE(parse_u64(""));
  EXPECT_FALSE(parse_u64("12z"));
  EXPECT_FALSE(parse_u64("0x"));
  EXPECT_FALSE(parse_u64("-1"));
  EXPECT_EQ(parse_u64("0x1ffffffffffffffff").error().code, Errc::invalid_argument);
}

TEST(ParseSize, Units) {
  EXPECT_EQ(parse_size("2G").value(), 2ull << 30);
  EXPECT_EQ(parse_size("512M").value(), 512ull << 20);
  EXPECT_EQ(parse_size("4k").value(), 4096u);
  EXPECT_EQ(parse_size("0x1000").value(), 4096u);
  EXPECT_EQ(parse_size("0").value(), 0u);
  EXPECT_FALSE(parse_size("G"));
  EXPECT_FALSE(parse_size("99999999999999T"));
}

TEST(Hex, RoundTrip) {
  const std::uint8_t b[] = {0x00, 0x7f, 0xab, 0xff};
  EXPECT_EQ(to_hex(b, 4), "007fabff");
  EXPECT_EQ(from_hex("007fABff").value(), std::string("\x00\x7f\xab\xff", 4));
  EXPECT_FALSE(from_hex("abc"));
  EXPECT_FALSE(from_hex("zz"));
}
