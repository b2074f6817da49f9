#include <gtest/gtest.h>

#include "common/bytes.hpp"

namespace tlpstub {
namespace {

// Expected values written out by hand from the little-endian byte order (SDM vol. 1, 1.3.1).
TEST(Bytes, LittleEndianLoads) {
  const std::uint8_t b[8] = {0x9d, 0x6e, 0xac, 0x57, 0x00, 0x00, 0x00, 0x80};
  EXPECT_EQ(load_le32(b), 0x57ac6e9du);
  EXPECT_EQ(load_le64(b), 0x8000000057ac6e9dull);
  const std::uint8_t ff[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  EXPECT_EQ(load_le64(ff), ~0ull);
}

}  // namespace
}  // namespace tlpstub
