// Hand-built BTF blobs for tests, written word by word from the format in facts/linux.md
// section 5 (include/uapi/linux/btf.h), independent of the parser under test: the test spells
// out every record's words itself; this only lays out the header and string table.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tlpstub::test {

struct BtfBlob {
  std::vector<std::uint32_t> words;  // the type section, as u32 words
  std::string strings{'\0'};         // the string section; offset 0 is ""

  // Adds a name to the string section, returns its offset.
  std::uint32_t str(std::string_view s) {
    const auto off = static_cast<std::uint32_t>(strings.size());
    strings.append(s);
    strings.push_back('\0');
    return off;
  }
  // info word: vlen bits 0-15, kind bits 24-28, kind_flag bit 31.
  static std::uint32_t info(std::uint32_t kind, std::uint32_t vlen, bool kflag = false) {
    return (kflag ? 0x80000000u : 0u) | (kind << 24) | vlen;
  }
  // One push_back per word: insert() of the list into an empty vector trips a false
  // -Wstringop-overflow in g++ 12 at -O3 (the Release configuration CI compiles).
  void w(std::initializer_list<std::uint32_t> ws) {
    for (std::uint32_t v : ws) words.push_back(v);
  }

  static void le32(std::vector<std::uint8_t>& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  // Header: 9F EB 01 00, hdr_len 24, type_off 0, type_len, str_off = type_len, str_len.
  std::vector<std::uint8_t> bytes() const {
    std::vector<std::uint8_t> out = {0x9F, 0xEB, 0x01, 0x00};
    const auto type_len = static_cast<std::uint32_t>(words.size() * 4);
    le32(out, 24);
    le32(out, 0);
    le32(out, type_len);
    le32(out, type_len);
    le32(out, static_cast<std::uint32_t>(strings.size()));
    for (std::uint32_t v : words) le32(out, v);
    out.insert(out.end(), strings.begin(), strings.end());
    return out;
  }
};

}  // namespace tlpstub::test
