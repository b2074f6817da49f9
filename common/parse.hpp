// Small parsers for command-line and monitor arguments.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace tlpstub {

// "0x1f", "1f" (hex if base==16), "4096", with base 0 meaning auto (0x prefix = hex, else decimal).
Result<std::uint64_t> parse_u64(std::string_view s, int base = 0);
// A size with an optional K/M/G/T suffix (binary units): "2G", "512M", "0x1000".
Result<std::uint64_t> parse_size(std::string_view s);
// Split on a separator; empty fields are kept.
std::vector<std::string_view> split(std::string_view s, char sep);
std::string_view trim(std::string_view s);
// Hex helpers used by several layers.
std::string to_hex(const std::uint8_t* data, std::size_t n);
Result<std::string> from_hex(std::string_view hex);

}  // namespace tlpstub
