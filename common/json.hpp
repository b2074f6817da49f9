// A tiny JSON writer for `--json` monitor output (no JSON library is in the dependency set:
// Debian 12's libboost-dev 1.74 ships no Boost.JSON headers). Writes compact JSON in the
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
