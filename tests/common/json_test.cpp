#include <gtest/gtest.h>

#include "common/json.hpp"

namespace tlpstub {
namespace {

TEST(Json, NestedObjectsAndArraysGetCommasInTheRightPlaces) {
  JsonWriter j;
  j.begin_object()
      .field("name", "init")
      .field("pid", 1)
      .field("big", std::uint64_t{18446744073709551615ull})
      .field("neg", -3)
      .field("on", true)
      .hex_field("addr", 0xffffffff81000000ull)
      .hex_field("unknown", std::nullopt);
  j.key("list").begin_array().value(1u).value("two").begin_object().end_object().end_array();
  j.key("empty").begin_array().end_array();
  j.end_object();
  EXPECT_EQ(j.str(),
            R"({"name":"init","pid":1,"big":18446744073709551615,"neg":-3,"on":true,)"
            R"("addr":"0xffffffff81000000","unknown":null,"list":[1,"two",{}],"empty":[]})");
}

TEST(Json, StringsAreEscaped) {
  EXPECT_EQ(json_quote("a\"b\\c\nd\te\x01"), R"("a\"b\\c\nd\te\u0001")");
  EXPECT_EQ(json_quote("Linux version 6.1 (gcc \xc3\xa9)"), "\"Linux version 6.1 (gcc \xc3\xa9)\"");
}

TEST(Json, TopLevelArray) {
  JsonWriter j;
  j.begin_array().value(1.5).null().end_array();
  EXPECT_EQ(j.str(), "[1.5,null]");
}

}  // namespace
}  // namespace tlpstub
