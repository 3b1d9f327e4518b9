#pragma once
// IP addresses and CIDR blocks without pulling Asio into every header.
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are normalised to IPv4, so a
// peer accepted on a dual-stack socket matches IPv4 CIDRs.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hermes {

class IpAddress {
 public:
  IpAddress() = default;
  static std::optional<IpAddress> parse(std::string_view text);
  static IpAddress from_v4(std::array<std::uint8_t, 4> bytes);
  static IpAddress from_v6(const std::array<std::uint8_t, 16>& bytes);  // unmaps v4-mapped

  bool is_v4() const { return v4_; }
  // Network-order bytes: 4 significant for IPv4, 16 for IPv6.
  const std::array<std::uint8_t, 16>& bytes() const { return bytes_; }
  bool is_loopback() const;
  bool is_unspecified() const;
  std::string to_string() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;

 private:
  std::array<std::uint8_t, 16> bytes_{};
  bool v4_ = true;
};

class Cidr {
 public:
  // "10.0.0.0/8", "fd00::/8", or a bare address (a /32 or /128).
  static std::optional<Cidr> parse(std::string_view text);
  bool contains(const IpAddress& addr) const;
  const IpAddress& network() const { return network_; }
  int prefix() const { return prefix_; }
  std::string to_string() const;
  friend bool operator==(const Cidr&, const Cidr&) = default;

 private:
  IpAddress network_;
  int prefix_ = 0;
};

// Loopback, RFC 1918, RFC 6598, link-local, IPv6 ULA and link-local: the
// peers a `bind: lan` listener admits when no `allow:` list is given.
const std::vector<Cidr>& private_network_cidrs();
bool any_contains(const std::vector<Cidr>& cidrs, const IpAddress& addr);

}  // namespace hermes
