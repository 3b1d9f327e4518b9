#include "hermes/core/ip.hpp"

#include <gtest/gtest.h>

#include <string>

namespace hermes {
namespace {

IpAddress ip(const char* text) {
  auto a = IpAddress::parse(text);
  EXPECT_TRUE(a.has_value()) << "IpAddress::parse(\"" << text << "\") failed";
  return a.value_or(IpAddress{});
}

Cidr cidr(const char* text) {
  auto c = Cidr::parse(text);
  EXPECT_TRUE(c.has_value()) << "Cidr::parse(\"" << text << "\") failed";
  return c.value_or(Cidr{});
}

bool is_private(const char* text) { return any_contains(private_network_cidrs(), ip(text)); }

// --- addresses ---------------------------------------------------------------

TEST(IpAddress, EveryIpv4OctetFormatsAsInetNtopDoes) {
  for (unsigned v = 0; v < 256; ++v) {
    std::string text = std::to_string(v) + "." + std::to_string(255 - v) + ".0." + std::to_string(v % 100);
    auto a = IpAddress::parse(text);
    ASSERT_TRUE(a.has_value()) << text;
    EXPECT_EQ(a->to_string(), text);
  }
}

TEST(IpAddress, ParsesIpv4) {
  auto a = IpAddress::parse("192.168.1.20");
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->is_v4());
  EXPECT_EQ(a->bytes()[0], 192);
  EXPECT_EQ(a->bytes()[1], 168);
  EXPECT_EQ(a->bytes()[2], 1);
  EXPECT_EQ(a->bytes()[3], 20);
  EXPECT_EQ(a->to_string(), "192.168.1.20");
  EXPECT_EQ(*a, IpAddress::from_v4({192, 168, 1, 20}));
}

TEST(IpAddress, ParsesIpv6) {
  auto a = IpAddress::parse("2001:db8::1");
  ASSERT_TRUE(a.has_value());
  EXPECT_FALSE(a->is_v4());
  EXPECT_EQ(a->bytes()[0], 0x20);
  EXPECT_EQ(a->bytes()[1], 0x01);
  EXPECT_EQ(a->bytes()[2], 0x0d);
  EXPECT_EQ(a->bytes()[3], 0xb8);
  EXPECT_EQ(a->bytes()[15], 0x01);
  EXPECT_EQ(a->to_string(), "2001:db8::1");
  // Non-canonical spelling parses to the same address.
  EXPECT_EQ(IpAddress::parse("2001:0DB8:0000:0000:0000:0000:0000:0001"), a);
}

TEST(IpAddress, ParsesBracketedIpv6) {
  auto a = IpAddress::parse("[::1]");
  ASSERT_TRUE(a.has_value());
  EXPECT_FALSE(a->is_v4());
  EXPECT_TRUE(a->is_loopback());
}

TEST(IpAddress, RejectsMalformedText) {
  for (const char* text : {"", "256.1.1.1", "1.2.3", "1.2.3.4.5", "10.0.0.0/8", "example.com", ":::1", "1::2::3",
                           "fe80::1%eth0", "[::1", "::1]", " 1.2.3.4", "1.2.3.4 ", "[]"}) {
    EXPECT_EQ(IpAddress::parse(text), std::nullopt) << "'" << text << "'";
  }
}

TEST(IpAddress, V4MappedIpv6IsNormalisedToIpv4) {
  auto a = IpAddress::parse("::ffff:10.1.2.3");
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->is_v4());
  EXPECT_EQ(*a, ip("10.1.2.3"));
  EXPECT_EQ(a->to_string(), "10.1.2.3");

  std::array<std::uint8_t, 16> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 0, 7};
  EXPECT_EQ(IpAddress::from_v6(mapped), ip("192.168.0.7"));
}

TEST(IpAddress, V4CompatibleIpv6StaysIpv6) {
  // Only ::ffff:0:0/96 is mapped; ::a.b.c.d (deprecated "compatible") is not.
  auto a = IpAddress::parse("::10.1.2.3");
  ASSERT_TRUE(a.has_value());
  EXPECT_FALSE(a->is_v4());
  EXPECT_FALSE(a == ip("10.1.2.3"));
}

TEST(IpAddress, IsLoopback) {
  EXPECT_TRUE(ip("127.0.0.1").is_loopback());
  EXPECT_TRUE(ip("127.255.255.254").is_loopback());
  EXPECT_TRUE(ip("::1").is_loopback());
  EXPECT_TRUE(ip("::ffff:127.0.0.1").is_loopback());
  EXPECT_FALSE(ip("128.0.0.1").is_loopback());
  EXPECT_FALSE(ip("10.0.0.1").is_loopback());
  EXPECT_FALSE(ip("::").is_loopback());
  EXPECT_FALSE(ip("::2").is_loopback());
  EXPECT_FALSE(ip("1::1").is_loopback());
  EXPECT_FALSE(ip("0.0.0.0").is_loopback());
}

TEST(IpAddress, IsUnspecified) {
  EXPECT_TRUE(ip("0.0.0.0").is_unspecified());
  EXPECT_TRUE(ip("::").is_unspecified());
  EXPECT_FALSE(ip("::1").is_unspecified());
  EXPECT_FALSE(ip("0.0.0.1").is_unspecified());
}

TEST(IpAddress, V4AndV6AreNeverEqual) {
  // 0.0.0.0 and :: have the same (all-zero) bytes but are different families.
  EXPECT_FALSE(ip("0.0.0.0") == ip("::"));
}

// --- CIDR parsing ------------------------------------------------------------

TEST(Cidr, ParsesIpv4Block) {
  auto c = Cidr::parse("10.0.0.0/8");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->prefix(), 8);
  EXPECT_EQ(c->network(), ip("10.0.0.0"));
  EXPECT_EQ(c->to_string(), "10.0.0.0/8");
}

TEST(Cidr, ParsesIpv6Block) {
  auto c = Cidr::parse("fd00::/8");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->prefix(), 8);
  EXPECT_FALSE(c->network().is_v4());
  EXPECT_EQ(c->to_string(), "fd00::/8");
}

TEST(Cidr, BareAddressIsAHostRoute) {
  EXPECT_EQ(cidr("192.0.2.7").prefix(), 32);
  EXPECT_EQ(cidr("2001:db8::7").prefix(), 128);
  EXPECT_TRUE(cidr("192.0.2.7").contains(ip("192.0.2.7")));
  EXPECT_FALSE(cidr("192.0.2.7").contains(ip("192.0.2.8")));
}

TEST(Cidr, ClearsHostBits) {
  EXPECT_EQ(cidr("10.1.2.3/8"), cidr("10.0.0.0/8"));
  EXPECT_EQ(cidr("10.1.2.3/8").to_string(), "10.0.0.0/8");
  EXPECT_EQ(cidr("172.31.200.1/12").to_string(), "172.16.0.0/12");
  EXPECT_EQ(cidr("192.168.1.255/23").to_string(), "192.168.0.0/23");
  EXPECT_EQ(cidr("fdff:1234::1/7").to_string(), "fc00::/7");
  EXPECT_EQ(cidr("febf:ffff::1/10").to_string(), "fe80::/10");
  EXPECT_EQ(cidr("1.2.3.4/0").to_string(), "0.0.0.0/0");
  EXPECT_EQ(cidr("2001:db8::1/0").to_string(), "::/0");
}

TEST(Cidr, RejectsBadPrefixes) {
  for (const char* text : {"10.0.0.0/33", "::/129", "10.0.0.0/x", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x",
                           "10.0.0.0/ 8", "10.0.0.0/8/8", "/8", "", "10.0.0/8", "fd00::/200", "host/8",
                           "10.0.0.0/99999999999"}) {
    EXPECT_EQ(Cidr::parse(text), std::nullopt) << "'" << text << "'";
  }
}

TEST(Cidr, AcceptsBoundaryPrefixes) {
  EXPECT_EQ(cidr("10.0.0.0/32").prefix(), 32);
  EXPECT_EQ(cidr("0.0.0.0/0").prefix(), 0);
  EXPECT_EQ(cidr("::/128").prefix(), 128);
  EXPECT_EQ(cidr("::/0").prefix(), 0);
}

// --- CIDR contains -----------------------------------------------------------

TEST(CidrContains, Ipv4ByteAligned) {
  auto c = cidr("10.0.0.0/8");
  EXPECT_TRUE(c.contains(ip("10.0.0.0")));
  EXPECT_TRUE(c.contains(ip("10.255.255.255")));
  EXPECT_FALSE(c.contains(ip("11.0.0.0")));
  EXPECT_FALSE(c.contains(ip("9.255.255.255")));

  auto host = cidr("192.168.1.1/32");
  EXPECT_TRUE(host.contains(ip("192.168.1.1")));
  EXPECT_FALSE(host.contains(ip("192.168.1.2")));
}

TEST(CidrContains, Ipv4NonByteAligned) {
  auto c12 = cidr("172.16.0.0/12");
  EXPECT_TRUE(c12.contains(ip("172.16.0.0")));
  EXPECT_TRUE(c12.contains(ip("172.31.255.255")));
  EXPECT_FALSE(c12.contains(ip("172.32.0.0")));
  EXPECT_FALSE(c12.contains(ip("172.15.255.255")));

  auto c10 = cidr("100.64.0.0/10");
  EXPECT_TRUE(c10.contains(ip("100.64.0.0")));
  EXPECT_TRUE(c10.contains(ip("100.127.255.255")));
  EXPECT_FALSE(c10.contains(ip("100.128.0.0")));
  EXPECT_FALSE(c10.contains(ip("100.63.255.255")));

  auto c27 = cidr("192.0.2.32/27");
  EXPECT_TRUE(c27.contains(ip("192.0.2.32")));
  EXPECT_TRUE(c27.contains(ip("192.0.2.63")));
  EXPECT_FALSE(c27.contains(ip("192.0.2.64")));
  EXPECT_FALSE(c27.contains(ip("192.0.2.31")));

  auto c31 = cidr("192.0.2.4/31");
  EXPECT_TRUE(c31.contains(ip("192.0.2.5")));
  EXPECT_FALSE(c31.contains(ip("192.0.2.6")));
}

TEST(CidrContains, ZeroPrefixMatchesEveryAddressOfItsFamily) {
  EXPECT_TRUE(cidr("0.0.0.0/0").contains(ip("8.8.8.8")));
  EXPECT_TRUE(cidr("0.0.0.0/0").contains(ip("255.255.255.255")));
  EXPECT_TRUE(cidr("::/0").contains(ip("2001:db8::1")));
  EXPECT_FALSE(cidr("0.0.0.0/0").contains(ip("2001:db8::1")));
  EXPECT_FALSE(cidr("::/0").contains(ip("8.8.8.8")));
}

TEST(CidrContains, Ipv6) {
  auto c = cidr("2001:db8::/32");
  EXPECT_TRUE(c.contains(ip("2001:db8::1")));
  EXPECT_TRUE(c.contains(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(c.contains(ip("2001:db9::1")));

  auto host = cidr("2001:db8::1/128");
  EXPECT_TRUE(host.contains(ip("2001:db8::1")));
  EXPECT_FALSE(host.contains(ip("2001:db8::2")));
}

TEST(CidrContains, Ipv6NonByteAligned) {
  auto c7 = cidr("fc00::/7");
  EXPECT_TRUE(c7.contains(ip("fc00::1")));
  EXPECT_TRUE(c7.contains(ip("fd12::1")));
  EXPECT_TRUE(c7.contains(ip("fdff:ffff::1")));
  EXPECT_FALSE(c7.contains(ip("fe00::1")));
  EXPECT_FALSE(c7.contains(ip("fbff::1")));

  auto c10 = cidr("fe80::/10");
  EXPECT_TRUE(c10.contains(ip("fe80::1")));
  EXPECT_TRUE(c10.contains(ip("febf:ffff::1")));
  EXPECT_FALSE(c10.contains(ip("fec0::1")));
  EXPECT_FALSE(c10.contains(ip("fe7f::1")));

  auto c61 = cidr("2001:db8:0:8::/61");
  EXPECT_TRUE(c61.contains(ip("2001:db8:0:f::1")));
  EXPECT_FALSE(c61.contains(ip("2001:db8:0:10::1")));
  EXPECT_FALSE(c61.contains(ip("2001:db8:0:7::1")));
}

TEST(CidrContains, FamiliesNeverMatchEachOther) {
  // 10.0.0.0 and 0a00:: share their first byte, but are different families.
  EXPECT_FALSE(cidr("10.0.0.0/8").contains(ip("a00::1")));
  EXPECT_FALSE(cidr("a00::/8").contains(ip("10.0.0.1")));
}

TEST(CidrContains, V4MappedPeerMatchesIpv4CidrOnly) {
  auto mapped = ip("::ffff:10.1.2.3");
  EXPECT_TRUE(cidr("10.0.0.0/8").contains(mapped));
  EXPECT_FALSE(cidr("11.0.0.0/8").contains(mapped));
  EXPECT_FALSE(cidr("::/0").contains(mapped));
  EXPECT_FALSE(cidr("fc00::/7").contains(mapped));
}

TEST(Cidr, V4MappedCidrIsTheEquivalentIpv4Block) {
  // A peer address copied from a dual-stack socket ("::ffff:a.b.c.d") must be usable
  // in an allow list, with the v6 prefix length (96 + the v4 prefix).
  EXPECT_EQ(Cidr::parse("::ffff:192.168.1.5/128"), Cidr::parse("192.168.1.5/32"));
  EXPECT_EQ(Cidr::parse("::ffff:10.0.0.0/104"), Cidr::parse("10.0.0.0/8"));
  EXPECT_EQ(Cidr::parse("::ffff:0:0/96"), Cidr::parse("0.0.0.0/0"));
  EXPECT_EQ(Cidr::parse("::ffff:10.1.2.3"), Cidr::parse("10.1.2.3/32"));
  EXPECT_TRUE(cidr("::ffff:10.0.0.0/104").contains(ip("10.200.0.1")));
  EXPECT_TRUE(cidr("::ffff:10.0.0.0/104").contains(ip("::ffff:10.200.0.1")));
  EXPECT_FALSE(cidr("::ffff:10.0.0.0/104").contains(ip("11.0.0.1")));
  // A v6 prefix shorter than the mapped block would cover non-mapped v6 space too;
  // it must not silently turn into an IPv4 /8.
  EXPECT_EQ(Cidr::parse("::ffff:10.0.0.0/8"), std::nullopt);
  EXPECT_EQ(Cidr::parse("::ffff:10.0.0.0/129"), std::nullopt);
}

// --- private networks --------------------------------------------------------

TEST(PrivateNetworks, CoversLoopback) {
  EXPECT_TRUE(is_private("127.0.0.1"));
  EXPECT_TRUE(is_private("127.255.255.255"));
  EXPECT_TRUE(is_private("::1"));
  EXPECT_FALSE(is_private("::2"));
}

TEST(PrivateNetworks, CoversRfc1918) {
  EXPECT_TRUE(is_private("10.0.0.1"));
  EXPECT_TRUE(is_private("10.255.255.255"));
  EXPECT_TRUE(is_private("172.16.0.1"));
  EXPECT_TRUE(is_private("172.31.255.255"));
  EXPECT_FALSE(is_private("172.32.0.1"));
  EXPECT_FALSE(is_private("172.15.255.255"));
  EXPECT_TRUE(is_private("192.168.0.1"));
  EXPECT_TRUE(is_private("192.168.255.255"));
  EXPECT_FALSE(is_private("192.169.0.1"));
  EXPECT_FALSE(is_private("192.167.255.255"));
}

TEST(PrivateNetworks, CoversRfc6598SharedAddressSpace) {
  EXPECT_TRUE(is_private("100.64.0.1"));
  EXPECT_TRUE(is_private("100.127.255.255"));
  EXPECT_FALSE(is_private("100.128.0.1"));
  EXPECT_FALSE(is_private("100.63.255.255"));
}

TEST(PrivateNetworks, CoversLinkLocal) {
  EXPECT_TRUE(is_private("169.254.0.1"));
  EXPECT_TRUE(is_private("169.254.255.255"));
  EXPECT_FALSE(is_private("169.255.0.1"));
  EXPECT_TRUE(is_private("fe80::1"));
  EXPECT_TRUE(is_private("febf::1"));
  EXPECT_FALSE(is_private("fec0::1"));
}

TEST(PrivateNetworks, CoversIpv6UniqueLocal) {
  EXPECT_TRUE(is_private("fc00::1"));
  EXPECT_TRUE(is_private("fd12::1"));
  EXPECT_TRUE(is_private("fd12:3456:789a::1"));
  EXPECT_FALSE(is_private("fe00::1"));
  EXPECT_FALSE(is_private("fb00::1"));
}

TEST(PrivateNetworks, V4MappedPrivateAddressesArePrivate) {
  EXPECT_TRUE(is_private("::ffff:10.1.2.3"));
  EXPECT_TRUE(is_private("::ffff:127.0.0.1"));
  EXPECT_TRUE(is_private("::ffff:192.168.0.1"));
  EXPECT_FALSE(is_private("::ffff:8.8.8.8"));
}

TEST(PrivateNetworks, PublicAddressesAreNotPrivate) {
  for (const char* text : {"8.8.8.8", "203.0.113.5", "1.1.1.1", "11.0.0.1", "2001:db8::1", "2606:4700::1111",
                           "0.0.0.0", "::", "255.255.255.255"}) {
    EXPECT_FALSE(is_private(text)) << text;
  }
}

TEST(PrivateNetworks, HasExactlyTheDocumentedBlocks) {
  std::vector<std::string> texts;
  for (const auto& c : private_network_cidrs()) {
    texts.push_back(c.to_string());
  }
  EXPECT_EQ(texts, (std::vector<std::string>{"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                             "100.64.0.0/10", "169.254.0.0/16", "::1/128", "fc00::/7",
                                             "fe80::/10"}));
}

TEST(AnyContains, EmptyListContainsNothing) {
  EXPECT_FALSE(any_contains({}, ip("127.0.0.1")));
  EXPECT_TRUE(any_contains({cidr("8.8.8.0/24"), cidr("10.0.0.0/8")}, ip("10.9.9.9")));
  EXPECT_FALSE(any_contains({cidr("8.8.8.0/24"), cidr("10.0.0.0/8")}, ip("9.9.9.9")));
}

}  // namespace
}  // namespace hermes
