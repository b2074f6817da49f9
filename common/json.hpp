// A tiny JSON writer for `--json` monitor output, and a strict bounded reader (below) for JSON
// files (profiles). No JSON library is in the dependency set (Debian 12's libboost-dev 1.74
// ships no Boost.JSON headers). The writer writes compact JSON in the
// order of the calls; commas are placed for the caller. Addresses are written as "0x..."
// strings on purpose: many JSON readers (jq, JavaScript) hold numbers as doubles, which cannot
// hold a kernel address exactly.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/error.hpp"

namespace tlpstub {

class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  // The key of the next value inside an object.
  JsonWriter& key(std::string_view k);

  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(bool b);
  template <std::integral T>
    requires(!std::same_as<T, bool>)
  JsonWriter& value(T n) {
    return integer(std::is_signed_v<T> ? std::to_string(static_cast<long long>(n))
                                       : std::to_string(static_cast<unsigned long long>(n)));
  }
  JsonWriter& value(double d);
  JsonWriter& null();
  // "0x1f": an address or a raw register/entry value.
  JsonWriter& hex(std::uint64_t n);
  // hex(n), or null when unknown.
  JsonWriter& hex(std::optional<std::uint64_t> n);

  // key(k).value(v) in one call.
  template <class T>
  JsonWriter& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }
  JsonWriter& hex_field(std::string_view k, std::optional<std::uint64_t> n) {
    key(k);
    return hex(n);
  }

  const std::string& str() const { return out_; }

 private:
  void before_value();
  JsonWriter& integer(const std::string& digits);
  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written in it yet
  bool after_key_ = false;
};

// `s` as a JSON string literal, quotes included.
std::string json_quote(std::string_view s);

}  // namespace tlpstub

// ---- Reading ------------------------------------------------------------------------------
// A strict JSON (RFC 8259) reader for files the user hands us (profiles): they may be anything,
// so input size, nesting depth, value count and string length are bounded, every error says
// what was expected and where (line, column, byte offset), and nothing is accepted loosely: no
// comments, trailing commas, single quotes, leading zeros, NaN, invalid UTF-8, lone surrogates,
// control characters in strings, duplicate keys or bytes after the value.
namespace tlpstub {

struct JsonLimits {
  std::size_t max_bytes = 1 << 20;    // input size
  int max_depth = 32;                 // arrays and objects open at once
  std::size_t max_values = 1 << 16;   // values in the whole document
  std::size_t max_string = 1 << 12;   // bytes of one string (after unescaping)
};

class JsonValue {
 public:
  enum class Type { null, boolean, number, string, array, object };

  Type type = Type::null;
  bool boolean = false;
  // A string's contents (UTF-8, unescaped), or a number's literal text as written ("-1.5e3").
  std::string text;
  // Array elements, or an object's values (in document order, beside `keys`).
  std::vector<JsonValue> items;
  std::vector<std::string> keys;  // objects only

  bool is(Type t) const { return type == t; }
  // An object's value for `key`; null when absent or not an object.
  const JsonValue* find(std::string_view key) const;
  // A number written as a non-negative integer that fits 64 bits ("12", not "12.0" or "1e2").
  std::optional<std::uint64_t> as_u64() const;
};

Result<JsonValue> parse_json(std::string_view text, const JsonLimits& limits = {});

}  // namespace tlpstub
