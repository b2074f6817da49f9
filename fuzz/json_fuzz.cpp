// Feeds arbitrary bytes to the strict JSON reader (common/json_read.cpp), which reads profile
// files a user hands to tlpstub, with small limits so that the fuzzer reaches them. Must never
// crash, hang or recurse without bound; what parses is walked (find, as_u64) and must read back
// the same after writing it out again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/json.hpp"

using namespace tlpstub;

namespace {

void json_fuzz_write(JsonWriter& w, const JsonValue& v) {
  switch (v.type) {
    case JsonValue::Type::null: w.null(); break;
    case JsonValue::Type::boolean: w.value(v.boolean); break;
    case JsonValue::Type::string: w.value(v.text); break;
    case JsonValue::Type::number:
      // Integers only survive exactly; other numbers as their text.
      if (auto n = v.as_u64()) w.value(*n); else w.value(v.text);
      break;
    case JsonValue::Type::array:
      w.begin_array();
      for (const JsonValue& i : v.items) json_fuzz_write(w, i);
      w.end_array();
      break;
    case JsonValue::Type::object:
      w.begin_object();
      for (std::size_t i = 0; i < v.keys.size(); ++i) {
        w.key(v.keys[i]);
        json_fuzz_write(w, v.items[i]);
      }
      w.end_object();
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  JsonLimits lim;
  lim.max_bytes = 4096;
  lim.max_depth = 8;
  lim.max_values = 256;
  lim.max_string = 64;
  auto v = parse_json(std::string_view(reinterpret_cast<const char*>(data), size), lim);
  if (!v) return 0;
  (void)v->find("release");
  (void)v->as_u64();
  JsonWriter w;
  json_fuzz_write(w, *v);
  // The writer escapes every string and control character, so its output parses again (the
  // limits grow: escapes lengthen strings).
  JsonLimits big;
  big.max_bytes = 1 << 20;
  big.max_string = 1 << 12;
  if (!parse_json(w.str(), big)) std::abort();
  return 0;
}
