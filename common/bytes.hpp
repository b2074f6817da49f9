// Little-endian loads from bytes read out of target memory. x86-64 is little-endian whatever
// the host is, so every multi-byte value read from the target is decoded here, once.
#pragma once

#include <cstdint>

namespace tlpstub {

inline std::uint32_t load_le32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
         std::uint32_t{p[3]} << 24;
}

inline std::uint64_t load_le64(const std::uint8_t* p) {
  return std::uint64_t{load_le32(p)} | std::uint64_t{load_le32(p + 4)} << 32;
}

}  // namespace tlpstub
