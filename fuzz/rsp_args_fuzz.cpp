// Fuzzes the argument parsers that take bytes from a gdb client or the command line
// (common/parse.*, stub/cidr.*): numbers, sizes, hex payloads, splitting, memory maps and
// --allow lists. Input: [selector][text].
// Invariants: no crash or sanitizer report; round trips hold (from_hex(to_hex(x)) == x, a
// parsed CIDR contains its own network and prints as something that parses to itself).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/parse.hpp"
#include "stub/cidr.hpp"

using namespace tlpstub;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 6) {
    case 0:
      for (int base : {0, 10, 16}) (void)parse_u64(text, base);
      break;
    case 1:
      (void)parse_size(text);
      break;
    case 2: {
      auto bytes = from_hex(text);
      if (bytes) {
        const std::string again = to_hex(reinterpret_cast<const std::uint8_t*>(bytes->data()), bytes->size());
        auto back = from_hex(again);
        if (!back || *back != *bytes) std::abort();
      }
      break;
    }
    case 3:
      for (std::string_view part : split(text, ',')) (void)trim(part);
      break;
    case 4: {
      auto list = stub::parse_cidr_list(text);
      if (!list) break;
      for (const stub::Cidr& c : *list) {
        if (!c.contains(c.network)) std::abort();
        auto again = stub::parse_cidr(c.to_string());
        if (!again || again->network != c.network || again->prefix != c.prefix) std::abort();
      }
      break;
    }
    case 5:
      (void)stub::parse_ip(text);
      break;
  }
  return 0;
}
