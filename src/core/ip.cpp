#include "hermes/core/ip.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace hermes {

IpAddress IpAddress::from_v4(std::array<std::uint8_t, 4> bytes) {
  IpAddress a;
  std::memcpy(a.bytes_.data(), bytes.data(), 4);
  a.v4_ = true;
  return a;
}

IpAddress IpAddress::from_v6(const std::array<std::uint8_t, 16>& bytes) {
  static constexpr std::uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(bytes.data(), kMappedPrefix, 12) == 0) {
    return from_v4({bytes[12], bytes[13], bytes[14], bytes[15]});
  }
  IpAddress a;
  a.bytes_ = bytes;
  a.v4_ = false;
  return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  std::string s(text);
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') {
    s = s.substr(1, s.size() - 2);
  }
  std::array<std::uint8_t, 16> buf{};
  if (inet_pton(AF_INET, s.c_str(), buf.data()) == 1) {
    return from_v4({buf[0], buf[1], buf[2], buf[3]});
  }
  if (inet_pton(AF_INET6, s.c_str(), buf.data()) == 1) {
    return from_v6(buf);
  }
  return std::nullopt;
}

bool IpAddress::is_loopback() const {
  if (v4_) {
    return bytes_[0] == 127;
  }
  for (int i = 0; i < 15; ++i) {
    if (bytes_[i] != 0) return false;
  }
  return bytes_[15] == 1;
}

bool IpAddress::is_unspecified() const {
  int n = v4_ ? 4 : 16;
  for (int i = 0; i < n; ++i) {
    if (bytes_[i] != 0) return false;
  }
  return true;
}

std::string IpAddress::to_string() const {
  if (v4_) {
    // By hand: inet_ntop formats through sprintf, and every message's audit row names
    // its client.
    std::string out;
    out.reserve(15);
    for (std::size_t i = 0; i < 4; ++i) {
      if (i > 0) out += '.';
      unsigned octet = bytes_[i];
      if (octet >= 100) out += static_cast<char>('0' + octet / 100);
      if (octet >= 10) out += static_cast<char>('0' + octet / 10 % 10);
      out += static_cast<char>('0' + octet % 10);
    }
    return out;
  }
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, bytes_.data(), buf, sizeof buf);
  return buf;
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  auto addr = IpAddress::parse(text.substr(0, slash));
  if (!addr) {
    return std::nullopt;
  }
  // "::ffff:a.b.c.d" was normalised to IPv4, but its prefix is counted in IPv6 bits.
  bool mapped = addr->is_v4() && text.substr(0, slash).find(':') != std::string_view::npos;
  int max_prefix = (addr->is_v4() && !mapped) ? 32 : 128;
  int prefix = max_prefix;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || ec != std::errc{} || ptr != digits.data() + digits.size() || prefix < 0 ||
        prefix > max_prefix) {
      return std::nullopt;
    }
  }
  if (mapped) {
    // ::ffff:a.b.c.d/N is the IPv4 block a.b.c.d/(N-96). A shorter prefix would also
    // cover non-mapped IPv6 space, which one Cidr cannot express: refuse it.
    if (prefix < 96) {
      return std::nullopt;
    }
    prefix -= 96;
    max_prefix = 32;
  }
  // Normalise the network address: clear host bits so "10.1.2.3/8" equals "10.0.0.0/8".
  auto bytes = addr->bytes();
  for (int bit = prefix; bit < max_prefix; ++bit) {
    bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
  }
  Cidr c;
  c.network_ = addr->is_v4() ? IpAddress::from_v4({bytes[0], bytes[1], bytes[2], bytes[3]})
                             : IpAddress::from_v6(bytes);
  c.prefix_ = prefix;
  return c;
}

bool Cidr::contains(const IpAddress& addr) const {
  if (addr.is_v4() != network_.is_v4()) {
    return false;
  }
  const auto& a = addr.bytes();
  const auto& n = network_.bytes();
  int full = prefix_ / 8;
  if (std::memcmp(a.data(), n.data(), static_cast<std::size_t>(full)) != 0) {
    return false;
  }
  int rest = prefix_ % 8;
  if (rest == 0) {
    return true;
  }
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (n[full] & mask);
}

std::string Cidr::to_string() const { return network_.to_string() + "/" + std::to_string(prefix_); }

const std::vector<Cidr>& private_network_cidrs() {
  static const std::vector<Cidr> cidrs = [] {
    std::vector<Cidr> v;
    for (const char* text : {"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                             "100.64.0.0/10", "169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10"}) {
      v.push_back(*Cidr::parse(text));
    }
    return v;
  }();
  return cidrs;
}

bool any_contains(const std::vector<Cidr>& cidrs, const IpAddress& addr) {
  for (const auto& c : cidrs) {
    if (c.contains(addr)) return true;
  }
  return false;
}

}  // namespace hermes
