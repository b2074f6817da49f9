#include "common/parse.hpp"

#include <charconv>

namespace tlpstub {

Result<std::uint64_t> parse_u64(std::string_view s, int base) {
  std::string_view t = trim(s);
  if (base == 0) {
    if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
      t.remove_prefix(2);
      base = 16;
    } else {
      base = 10;
    }
  } else if (base == 16 && t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
    t.remove_prefix(2);
  }
  if (t.empty()) return fail(Errc::invalid_argument, "empty number");
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v, base);
  if (ec == std::errc::result_out_of_range)
    return fail(Errc::invalid_argument, "number out of range: " + std::string(s));
  if (ec != std::errc() || p != t.data() + t.size())
    return fail(Errc::invalid_argument, "not a number: '" + std::string(s) + "'");
  return v;
}

Result<std::uint64_t> parse_size(std::string_view s) {
  std::string_view t = trim(s);
  if (t.empty()) return fail(Errc::invalid_argument, "empty size");
  unsigned shift = 0;
  char last = t.back();
  // Only K/M/G/T are units; none of them is a hex digit, so "0x10M" is unambiguous.
  switch (last) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    case 't': case 'T': shift = 40; break;
    default: break;
  }
  if (shift) t.remove_suffix(1);
  auto v = parse_u64(t);
  if (!v) return fail(Errc::invalid_argument, "bad size '" + std::string(s) + "'");
  if (shift && (*v >> (64 - shift)) != 0)
    return fail(Errc::invalid_argument, "size too large: " + std::string(s));
  return *v << shift;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t p = s.find(sep, start);
    if (p == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, p - start));
    start = p + 1;
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::string to_hex(const std::uint8_t* data, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0xf];
  }
  return out;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2) return fail(Errc::malformed, "odd-length hex string");
  std::string out(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return fail(Errc::malformed, "bad hex digit");
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

}  // namespace tlpstub
