#include "stub/cidr.hpp"

#include <arpa/inet.h>

#include <fmt/format.h>

#include <cstring>

#include "common/parse.hpp"

namespace tlpstub::stub {

namespace {

constexpr unsigned kV4MappedBits = 96;  // ::ffff:0:0/96 holds the IPv4 address space

}  // namespace

Result<IpBytes> parse_ip(std::string_view text) {
  // inet_pton needs a NUL-terminated string; anything longer than an IPv6 text form is bad.
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN)
    return fail(Errc::invalid_argument, fmt::format("'{}' is not an IP address", text));
  char buf[INET6_ADDRSTRLEN] = {};
  std::memcpy(buf, text.data(), text.size());
  IpBytes out{};
  in_addr v4{};
  if (inet_pton(AF_INET, buf, &v4) == 1) {
    out[10] = out[11] = 0xff;
    std::memcpy(out.data() + 12, &v4, 4);
    return out;
  }
  if (inet_pton(AF_INET6, buf, out.data()) == 1) return out;
  return fail(Errc::invalid_argument, fmt::format("'{}' is not an IP address", text));
}

bool Cidr::contains(const IpBytes& a) const {
  const unsigned full = prefix / 8, rest = prefix % 8;
  if (std::memcmp(a.data(), network.data(), full) != 0) return false;
  if (rest == 0) return true;
  const std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == network[full];
}

std::string Cidr::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ipv4) {
    inet_ntop(AF_INET, network.data() + 12, buf, sizeof buf);
    return fmt::format("{}/{}", buf, prefix - kV4MappedBits);
  }
  inet_ntop(AF_INET6, network.data(), buf, sizeof buf);
  return fmt::format("{}/{}", buf, prefix);
}

Result<Cidr> parse_cidr(std::string_view text) {
  const std::string_view t = trim(text);
  const auto slash = t.find('/');
  auto ip = parse_ip(t.substr(0, slash));
  if (!ip)
    return fail(Errc::invalid_argument,
                fmt::format("--allow '{}': '{}' is not an IPv4 or IPv6 address", text, t.substr(0, slash)));
  Cidr c;
  c.ipv4 = t.substr(0, slash).find(':') == std::string_view::npos;
  const unsigned max_bits = c.ipv4 ? 32 : 128;
  unsigned bits = max_bits;
  if (slash != std::string_view::npos) {
    const std::string_view p = t.substr(slash + 1);
    // Decimal digits only: parse_u64 would also take "0x10", which no one writes in a CIDR.
    const bool digits = !p.empty() && p.size() <= 3 &&
                        p.find_first_not_of("0123456789") == std::string_view::npos;
    auto n = digits ? parse_u64(p, 10) : Result<std::uint64_t>(fail(Errc::invalid_argument, ""));
    if (!n || *n > max_bits)
      return fail(Errc::invalid_argument,
                  fmt::format("--allow '{}': prefix length must be 0..{}", text, max_bits));
    bits = static_cast<unsigned>(*n);
  }
  c.prefix = c.ipv4 ? bits + kV4MappedBits : bits;
  c.network = *ip;
  // Clear the host bits and check that none was set.
  for (unsigned i = c.prefix; i < 128; ++i)
    c.network[i / 8] &= static_cast<std::uint8_t>(~(0x80u >> (i % 8)));
  if (c.network != *ip)
    return fail(Errc::invalid_argument,
                fmt::format("--allow '{}': address has bits set beyond the /{} prefix (did you "
                            "mean {}?)",
                            text, bits, c.to_string()));
  return c;
}

Result<std::vector<Cidr>> parse_cidr_list(std::string_view text) {
  std::vector<Cidr> out;
  for (std::string_view part : split(text, ',')) {
    if (trim(part).empty())
      return fail(Errc::invalid_argument, fmt::format("--allow '{}': empty element", text));
    auto c = parse_cidr(part);
    if (!c) return std::unexpected(c.error());
    out.push_back(*c);
  }
  return out;
}

bool allowed(const std::vector<Cidr>& rules, const IpBytes& address) {
  if (rules.empty()) return true;
  for (const Cidr& c : rules)
    if (c.contains(address)) return true;
  return false;
}

}  // namespace tlpstub::stub
