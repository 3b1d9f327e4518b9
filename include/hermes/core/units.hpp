#pragma once
// Typed configuration values: durations, rates and byte sizes parsed from
// human-friendly strings ("250ms", "20/min", "1MiB").

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hermes {

using Duration = std::chrono::milliseconds;

// The longest duration anything accepts: 100 years (36500d). Any deadline computed from
// it stays far inside the clocks' 64-bit nanoseconds (a steady_clock time point past
// ~106,000 days wraps into the past and closes every connection at once).
inline constexpr Duration kMaxDuration{36'500LL * 86'400'000};

// "250ms", "30s", "5m", "24h", "400d"; a bare "0" is zero; nullopt for anything else, or
// past kMaxDuration.
std::optional<Duration> parse_duration(std::string_view text);
std::string format_duration(Duration d);

// A token-bucket rate: `count` events per `period` ("20/min", "5/s", "1000/h", "10/d").
struct Rate {
  double count = 0;
  Duration period{0};
  double per_second() const { return count * 1000.0 / static_cast<double>(period.count()); }
  friend bool operator==(const Rate&, const Rate&) = default;
};
std::optional<Rate> parse_rate(std::string_view text);
std::string format_rate(const Rate& r);

// Byte sizes: "512", "64KiB", "1MiB", "2GiB", and SI "10kB", "5MB".
struct ByteSize {
  std::uint64_t bytes = 0;
  friend bool operator==(const ByteSize&, const ByteSize&) = default;
};
std::optional<ByteSize> parse_byte_size(std::string_view text);
std::string format_byte_size(ByteSize s);

}  // namespace hermes
