// The strict JSON reader (common/json_read.cpp): exact values and exact error messages,
// positions included, on hand-written inputs (RFC 8259 grammar).
#include <gtest/gtest.h>

#include "common/json.hpp"

namespace tlpstub {
namespace {

std::string error_of(std::string_view in, const JsonLimits& lim = {}) {
  auto v = parse_json(in, lim);
  return v ? std::string("parsed") : v.error().message;
}

TEST(JsonRead, ObjectsArraysAndScalars) {
  auto v = parse_json(" {\"a\": [1, -2.5e3, true, false, null], \"b\": {\"c\": \"d\"}, \"e\": []}\n");
  ASSERT_TRUE(v) << v.error().message;
  ASSERT_TRUE(v->is(JsonValue::Type::object));
  EXPECT_EQ(v->keys, (std::vector<std::string>{"a", "b", "e"}));
  const JsonValue* a = v->find("a");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->items.size(), 5u);
  EXPECT_EQ(a->items[0].as_u64(), 1u);
  EXPECT_EQ(a->items[1].text, "-2.5e3");
  EXPECT_EQ(a->items[1].as_u64(), std::nullopt);
  EXPECT_TRUE(a->items[2].boolean);
  EXPECT_TRUE(a->items[3].is(JsonValue::Type::boolean));
  EXPECT_FALSE(a->items[3].boolean);
  EXPECT_TRUE(a->items[4].is(JsonValue::Type::null));
  EXPECT_EQ(v->find("b")->find("c")->text, "d");
  EXPECT_TRUE(v->find("e")->items.empty());
  EXPECT_EQ(v->find("zz"), nullptr);
  EXPECT_EQ(a->find("a"), nullptr);  // not an object
}

TEST(JsonRead, IntegersUpTo64Bits) {
  EXPECT_EQ(parse_json("18446744073709551615")->as_u64(), 18446744073709551615ull);
  EXPECT_EQ(parse_json("18446744073709551616")->as_u64(), std::nullopt);  // too big: no value
  EXPECT_EQ(parse_json("0")->as_u64(), 0u);
  EXPECT_EQ(parse_json("-0")->as_u64(), std::nullopt);
  EXPECT_EQ(parse_json("1e2")->as_u64(), std::nullopt);
  EXPECT_EQ(parse_json("12.0")->as_u64(), std::nullopt);
  EXPECT_EQ(parse_json("\"12\"")->as_u64(), std::nullopt);
}

TEST(JsonRead, StringEscapesAndUtf8) {
  auto v = parse_json(R"("q\" b\\ s\/ \b\f\n\r\t \u0041\u00e9\u20ac\ud83d\ude00")");
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->text, "q\" b\\ s/ \b\f\n\r\t A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  EXPECT_EQ(parse_json("\"caf\xc3\xa9 \xf0\x9f\x98\x80\"")->text, "caf\xc3\xa9 \xf0\x9f\x98\x80");
}

TEST(JsonRead, MalformedInputsSayWhatAndWhere) {
  EXPECT_EQ(error_of(""), "JSON: line 1, column 1 (byte 0): expected a value, found end of input");
  EXPECT_EQ(error_of("{\"a\":1,}"),
            "JSON: line 1, column 8 (byte 7): expected a string key in an object, found byte 0x7d");
  EXPECT_EQ(error_of("[1,]"), "JSON: line 1, column 4 (byte 3): expected a value, found byte 0x5d");
  EXPECT_EQ(error_of("[1 2]"),
            "JSON: line 1, column 4 (byte 3): expected ',' or ']' in an array, found byte 0x32");
  EXPECT_EQ(error_of("{\n  \"a\" 1}"),
            "JSON: line 2, column 7 (byte 8): expected ':' after an object key, found byte 0x31");
  EXPECT_EQ(error_of("{\"a\":1 \"b\":2}"),
            "JSON: line 1, column 8 (byte 7): expected ',' or '}' in an object, found byte 0x22");
  EXPECT_EQ(error_of("{'a':1}"),
            "JSON: line 1, column 2 (byte 1): expected a string key in an object, found byte 0x27");
  EXPECT_EQ(error_of("012"),
            "JSON: line 1, column 2 (byte 1): expected no leading zero in a number, found byte 0x31");
  EXPECT_EQ(error_of("-"), "JSON: line 1, column 2 (byte 1): expected a digit, found end of input");
  EXPECT_EQ(error_of("1."), "JSON: line 1, column 3 (byte 2): expected a digit, found end of input");
  EXPECT_EQ(error_of("1e+"), "JSON: line 1, column 4 (byte 3): expected a digit, found end of input");
  EXPECT_EQ(error_of("NaN"), "JSON: line 1, column 1 (byte 0): expected a value, found byte 0x4e");
  EXPECT_EQ(error_of("tru"), "JSON: line 1, column 1 (byte 0): expected 'true', found byte 0x74");
  EXPECT_EQ(error_of("nul"), "JSON: line 1, column 1 (byte 0): expected 'null', found byte 0x6e");
  EXPECT_EQ(error_of("1 2"),
            "JSON: line 1, column 3 (byte 2): expected end of input after the value, found byte 0x32");
  EXPECT_EQ(error_of("{} // c"),
            "JSON: line 1, column 4 (byte 3): expected end of input after the value, found byte 0x2f");
  EXPECT_EQ(error_of("\"abc"),
            "JSON: line 1, column 5 (byte 4): expected '\"' closing the string, found end of input");
  EXPECT_EQ(error_of("\"a\tb\""),
            "JSON: line 1, column 3 (byte 2): expected no control character in a string (escape "
            "it), found byte 0x09");
  EXPECT_EQ(error_of(R"("\x")"),
            "JSON: line 1, column 3 (byte 2): expected an escape: \\\" \\\\ \\/ \\b \\f \\n \\r "
            "\\t \\uXXXX, found byte 0x78");
  EXPECT_EQ(error_of(R"("\u12g4")"),
            "JSON: line 1, column 6 (byte 5): expected 4 hex digits after \\u, found byte 0x67");
  EXPECT_EQ(error_of(R"("\ud83d")"),
            "JSON: line 1, column 8 (byte 7): expected a low surrogate \\uDC00-\\uDFFF, found "
            "byte 0x22");
  EXPECT_EQ(error_of(R"("\ude00")"),
            "JSON: line 1, column 2 (byte 1): expected no lone low surrogate, found byte 0x5c");
  EXPECT_EQ(error_of("\"\xc0\xaf\""),  // overlong '/'
            "JSON: line 1, column 2 (byte 1): expected valid UTF-8, found byte 0xc0");
  EXPECT_EQ(error_of("\"\xed\xa0\x80\""),  // an encoded surrogate
            "JSON: line 1, column 2 (byte 1): expected valid UTF-8, found byte 0xed");
  EXPECT_EQ(error_of("\"\xe2\x82\""),  // cut short
            "JSON: line 1, column 2 (byte 1): expected valid UTF-8, found byte 0xe2");
  EXPECT_EQ(error_of("{\"a\":1,\"a\":2}"),
            "JSON: line 1, column 8 (byte 7): expected a key not seen before in this object ('a' "
            "repeats), found byte 0x22");
}

TEST(JsonRead, LimitsAreErrorsNotCrashes) {
  JsonLimits lim;
  lim.max_depth = 3;
  EXPECT_EQ(error_of("[[[1]]]", lim), "parsed");
  EXPECT_EQ(error_of("[[[[1]]]]", lim),
            "JSON: line 1, column 4 (byte 3): expected at most 3 nested arrays and objects, found "
            "byte 0x5b");
  // The default depth bound holds against a deep input (no stack exhaustion).
  EXPECT_NE(error_of(std::string(100000, '[')).find("at most 32 nested"), std::string::npos);
  lim = {};
  lim.max_bytes = 4;
  EXPECT_EQ(error_of("[1,2]", lim), "JSON: input is 5 bytes, more than the 4 allowed");
  lim = {};
  lim.max_values = 3;
  EXPECT_EQ(error_of("[1,2]", lim), "parsed");
  EXPECT_EQ(error_of("[1,2,3]", lim),
            "JSON: line 1, column 6 (byte 5): expected at most 3 values in the document, found "
            "byte 0x33");
  lim = {};
  lim.max_string = 3;
  EXPECT_EQ(error_of("\"abc\"", lim), "parsed");
  EXPECT_EQ(error_of("\"abcd\"", lim),
            "JSON: line 1, column 6 (byte 5): expected at most 3 bytes in a string, found byte "
            "0x22");
}

TEST(JsonRead, WhatTheWriterWritesReadsBack) {
  JsonWriter w;
  w.begin_object().field("s", "a\"\\\n\x01\xc3\xa9").field("n", std::uint64_t{1} << 63);
  w.key("l").begin_array().value(true).null().end_array().end_object();
  auto v = parse_json(w.str());
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->find("s")->text, "a\"\\\n\x01\xc3\xa9");
  EXPECT_EQ(v->find("n")->as_u64(), std::uint64_t{1} << 63);
  EXPECT_EQ(v->find("l")->items.size(), 2u);
}

}  // namespace
}  // namespace tlpstub
