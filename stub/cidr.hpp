// Client address ranges for `--allow CIDR[,CIDR]`: which peers may open a gdb session.
//
// Addresses are kept as 16 bytes; an IPv4 address is stored IPv4-mapped (::ffff:a.b.c.d, RFC
// 4291 2.5.5.2), which is also how a dual-stack listener on [::] reports an IPv4 peer. So one
// rule "10.0.0.0/8" matches a peer whether it arrived over an IPv4 or a dual-stack socket.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace tlpstub::stub {

using IpBytes = std::array<std::uint8_t, 16>;

// "192.0.2.7", "2001:db8::1", "::ffff:192.0.2.7" -> IPv4-mapped or IPv6 bytes.
Result<IpBytes> parse_ip(std::string_view text);

struct Cidr {
  IpBytes network{};    // host bits cleared
  unsigned prefix = 0;  // in bits of the 128-bit form (an IPv4 /8 is /104 here)
  bool ipv4 = false;    // written as IPv4: printed back as such

  bool contains(const IpBytes& address) const;
  std::string to_string() const;
};

// "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128). Host bits set below the
// prefix ("10.1.2.3/8") are an error: the user probably meant something else.
Result<Cidr> parse_cidr(std::string_view text);
// Comma-separated, at least one; every element must parse.
Result<std::vector<Cidr>> parse_cidr_list(std::string_view text);

// True if any rule contains the address; an empty rule list allows everyone.
bool allowed(const std::vector<Cidr>& rules, const IpBytes& address);

}  // namespace tlpstub::stub
