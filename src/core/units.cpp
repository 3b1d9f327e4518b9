#include "hermes/core/units.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

namespace hermes {
namespace {

// Splits "123abc" into the number and the suffix; the number must be non-empty.
struct NumberAndSuffix {
  double value = 0;
  std::string_view suffix;
};

std::optional<NumberAndSuffix> split_number(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    ++i;
  }
  if (i == 0) {
    return std::nullopt;
  }
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, value);
  if (ec != std::errc{} || ptr != text.data() + i || !std::isfinite(value) || value < 0) {
    return std::nullopt;
  }
  std::string_view suffix = text.substr(i);
  while (!suffix.empty() && suffix.front() == ' ') {
    suffix.remove_prefix(1);
  }
  return NumberAndSuffix{value, suffix};
}

std::optional<double> duration_unit_ms(std::string_view unit) {
  if (unit == "ms") return 1.0;
  if (unit == "s" || unit == "sec") return 1000.0;
  if (unit == "m" || unit == "min") return 60'000.0;
  if (unit == "h") return 3'600'000.0;
  if (unit == "d") return 86'400'000.0;
  return std::nullopt;
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  auto parts = split_number(text);
  if (!parts) {
    return std::nullopt;
  }
  if (parts->suffix.empty()) {
    // Only zero may omit its unit: "30" is ambiguous (seconds? ms?).
    return parts->value == 0 ? std::optional<Duration>(Duration{0}) : std::nullopt;
  }
  auto unit = duration_unit_ms(parts->suffix);
  if (!unit) {
    return std::nullopt;
  }
  double ms = parts->value * *unit;
  if (ms > static_cast<double>(kMaxDuration.count())) {
    return std::nullopt;
  }
  return Duration{static_cast<std::int64_t>(std::llround(ms))};
}

std::string format_duration(Duration d) {
  auto ms = d.count();
  if (ms != 0 && ms % 86'400'000 == 0) return std::to_string(ms / 86'400'000) + "d";
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::optional<Rate> parse_rate(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return std::nullopt;
  }
  auto count = split_number(text.substr(0, slash));
  if (!count || !count->suffix.empty() || count->value <= 0) {
    return std::nullopt;
  }
  std::string_view unit = text.substr(slash + 1);
  std::optional<double> period_ms;
  if (unit == "s" || unit == "sec" || unit == "second") period_ms = 1000.0;
  else if (unit == "m" || unit == "min" || unit == "minute") period_ms = 60'000.0;
  else if (unit == "h" || unit == "hour") period_ms = 3'600'000.0;
  else if (unit == "d" || unit == "day") period_ms = 86'400'000.0;
  if (!period_ms) {
    return std::nullopt;
  }
  return Rate{count->value, Duration{static_cast<std::int64_t>(*period_ms)}};
}

std::string format_rate(const Rate& r) {
  std::string count = (r.count == std::floor(r.count)) ? std::to_string(static_cast<long long>(r.count))
                                                       : std::to_string(r.count);
  switch (r.period.count()) {
    case 1000: return count + "/s";
    case 60'000: return count + "/min";
    case 3'600'000: return count + "/h";
    case 86'400'000: return count + "/d";
    default: return count + "/" + format_duration(r.period);
  }
}

std::optional<ByteSize> parse_byte_size(std::string_view text) {
  auto parts = split_number(text);
  if (!parts) {
    return std::nullopt;
  }
  double multiplier = 0;
  std::string_view unit = parts->suffix;
  if (unit.empty() || unit == "B") multiplier = 1;
  else if (unit == "KiB") multiplier = 1024.0;
  else if (unit == "MiB") multiplier = 1024.0 * 1024;
  else if (unit == "GiB") multiplier = 1024.0 * 1024 * 1024;
  else if (unit == "kB" || unit == "KB") multiplier = 1e3;
  else if (unit == "MB") multiplier = 1e6;
  else if (unit == "GB") multiplier = 1e9;
  else return std::nullopt;
  double bytes = parts->value * multiplier;
  if (bytes != std::floor(bytes) || bytes > 1e18) {
    return std::nullopt;
  }
  return ByteSize{static_cast<std::uint64_t>(bytes)};
}

std::string format_byte_size(ByteSize s) {
  constexpr std::uint64_t kKiB = 1024, kMiB = kKiB * 1024, kGiB = kMiB * 1024;
  if (s.bytes != 0 && s.bytes % kGiB == 0) return std::to_string(s.bytes / kGiB) + "GiB";
  if (s.bytes != 0 && s.bytes % kMiB == 0) return std::to_string(s.bytes / kMiB) + "MiB";
  if (s.bytes != 0 && s.bytes % kKiB == 0) return std::to_string(s.bytes / kKiB) + "KiB";
  return std::to_string(s.bytes) + "B";
}

}  // namespace hermes
