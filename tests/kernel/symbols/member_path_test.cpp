#include "kernel/symbols/member_path.hpp"

#include <gtest/gtest.h>

#include <string>

namespace tlpstub::kernel {
namespace {

TEST(MemberPath, SplitsAtEachDot) {
  auto one = split_member_path("pid");
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(*one, (std::vector<std::string_view>{"pid"}));
  auto three = split_member_path("se.avg.util_avg");
  ASSERT_TRUE(three.has_value());
  EXPECT_EQ(*three, (std::vector<std::string_view>{"se", "avg", "util_avg"}));
}

TEST(MemberPath, EmptyPartsAreRefusedWithThePath) {
  for (std::string_view bad : {"", ".", "a..b", ".a", "a."}) {
    auto r = split_member_path(bad);
    ASSERT_FALSE(r.has_value()) << "'" << bad << "'";
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
    EXPECT_EQ(r.error().message, "bad member path '" + std::string(bad) + "'");
  }
}

TEST(MemberPath, DepthIsBounded) {
  std::string path = "m";
  for (std::size_t i = 1; i < kMaxMemberPathParts; ++i) path += ".m";
  auto deepest = split_member_path(path);
  ASSERT_TRUE(deepest.has_value());
  EXPECT_EQ(deepest->size(), kMaxMemberPathParts);
  auto over = split_member_path(path + ".m");
  ASSERT_FALSE(over.has_value());
  EXPECT_EQ(over.error().message, "member path too long");
}

}  // namespace
}  // namespace tlpstub::kernel
