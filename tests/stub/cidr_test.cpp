#include "stub/cidr.hpp"

#include <gtest/gtest.h>

using namespace tlpstub;
using namespace tlpstub::stub;

namespace {

IpBytes ip(std::string_view s) {
  auto a = parse_ip(s);
  EXPECT_TRUE(a) << s;
  return a.value_or(IpBytes{});
}

}  // namespace

TEST(Cidr, Ipv4PrefixContains) {
  auto c = parse_cidr("10.1.0.0/16");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->contains(ip("10.1.0.0")));
  EXPECT_TRUE(c->contains(ip("10.1.255.255")));
  EXPECT_FALSE(c->contains(ip("10.2.0.1")));
  EXPECT_FALSE(c->contains(ip("11.1.0.1")));
  EXPECT_EQ(c->to_string(), "10.1.0.0/16");
}

TEST(Cidr, Ipv4OddPrefixAndBareAddress) {
  auto c = parse_cidr("192.168.4.0/22");  // .4.0 .. .7.255
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->contains(ip("192.168.7.200")));
  EXPECT_FALSE(c->contains(ip("192.168.8.0")));
  EXPECT_FALSE(c->contains(ip("192.168.3.255")));
  auto host = parse_cidr("127.0.0.1");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->to_string(), "127.0.0.1/32");
  EXPECT_TRUE(host->contains(ip("127.0.0.1")));
  EXPECT_FALSE(host->contains(ip("127.0.0.2")));
}

TEST(Cidr, Ipv6) {
  auto c = parse_cidr("2001:db8::/32");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->contains(ip("2001:db8:ffff::1")));
  EXPECT_FALSE(c->contains(ip("2001:db9::1")));
  EXPECT_EQ(c->to_string(), "2001:db8::/32");
  auto lo = parse_cidr("::1");
  ASSERT_TRUE(lo);
  EXPECT_TRUE(lo->contains(ip("::1")));
  EXPECT_FALSE(lo->contains(ip("::2")));
  auto odd = parse_cidr("fe80::/10");
  ASSERT_TRUE(odd);
  EXPECT_TRUE(odd->contains(ip("febf::1")));
  EXPECT_FALSE(odd->contains(ip("fec0::1")));
}

TEST(Cidr, Ipv4RuleMatchesAMappedPeerButNoPlainIpv6) {
  auto all_v4 = parse_cidr("0.0.0.0/0");
  ASSERT_TRUE(all_v4);
  EXPECT_TRUE(all_v4->contains(ip("203.0.113.9")));
  EXPECT_TRUE(all_v4->contains(ip("::ffff:203.0.113.9")));  // a dual-stack socket's IPv4 peer
  EXPECT_FALSE(all_v4->contains(ip("2001:db8::1")));
  auto all = parse_cidr("::/0");
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->contains(ip("2001:db8::1")));
  EXPECT_TRUE(all->contains(ip("10.0.0.1")));
}

TEST(Cidr, ListAndAllowed) {
  auto l = parse_cidr_list("10.0.0.0/8, 2001:db8::/48,127.0.0.1");
  ASSERT_TRUE(l) << l.error().message;
  ASSERT_EQ(l->size(), 3u);
  EXPECT_TRUE(allowed(*l, ip("10.9.8.7")));
  EXPECT_TRUE(allowed(*l, ip("2001:db8:0:1::5")));
  EXPECT_TRUE(allowed(*l, ip("127.0.0.1")));
  EXPECT_FALSE(allowed(*l, ip("127.0.0.2")));
  EXPECT_FALSE(allowed(*l, ip("2001:db8:1::5")));
  EXPECT_TRUE(allowed({}, ip("198.51.100.1")));  // no --allow: everyone
}

TEST(Cidr, MalformedIsAClearError) {
  for (const char* bad :
       {"", "10.0.0.0/33", "2001:db8::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/0x8",
        "10.0.0.0/8/8", "10.0.0.0/ 8", "1.2.3", "1.2.3.4.5", "256.1.1.1", "::g", "2001:db8:::1/64",
        "host.example", "10.1.2.3/8", "2001:db8::1/32", "0.0.0.0/0000",
        "1111:2222:3333:4444:5555:6666:7777:8888:9999/64"}) {
    auto c = parse_cidr(bad);
    EXPECT_FALSE(c) << "'" << bad << "' parsed as " << (c ? c->to_string() : "");
    if (!c) {
      EXPECT_EQ(c.error().code, Errc::invalid_argument);
      EXPECT_NE(c.error().message.find("--allow"), std::string::npos) << c.error().message;
    }
  }
  EXPECT_NE(parse_cidr("10.1.2.3/8").error().message.find("did you mean 10.0.0.0/8"),
            std::string::npos);
  for (const char* bad : {"", ",", "10.0.0.0/8,", ",::1", "10.0.0.0/8,,::1", "10.0.0.0/8,junk"})
    EXPECT_FALSE(parse_cidr_list(bad)) << "'" << bad << "'";
}
