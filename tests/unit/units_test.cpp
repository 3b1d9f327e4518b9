#include "hermes/core/units.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace hermes {
namespace {

using namespace std::chrono_literals;

// --- durations ---------------------------------------------------------------

TEST(ParseDuration, AcceptsEveryUnit) {
  EXPECT_EQ(parse_duration("250ms"), Duration{250});
  EXPECT_EQ(parse_duration("30s"), Duration{30'000});
  EXPECT_EQ(parse_duration("5m"), Duration{300'000});
  EXPECT_EQ(parse_duration("24h"), Duration{86'400'000});
  EXPECT_EQ(parse_duration("400d"), Duration{400LL * 86'400'000});
}

TEST(ParseDuration, AcceptsLongUnitSpellings) {
  EXPECT_EQ(parse_duration("10sec"), Duration{10'000});
  EXPECT_EQ(parse_duration("5min"), Duration{300'000});
}

TEST(ParseDuration, BareZeroIsZero) {
  EXPECT_EQ(parse_duration("0"), Duration{0});
  EXPECT_EQ(parse_duration("0s"), Duration{0});
  EXPECT_EQ(parse_duration("0ms"), Duration{0});
}

TEST(ParseDuration, FractionsConvertToMilliseconds) {
  EXPECT_EQ(parse_duration("1.5s"), Duration{1500});
  EXPECT_EQ(parse_duration("0.25s"), Duration{250});
  EXPECT_EQ(parse_duration("1.5m"), Duration{90'000});
}

TEST(ParseDuration, RejectsNumberWithoutUnit) {
  // "30" is ambiguous (seconds? milliseconds?): only zero may omit its unit.
  EXPECT_EQ(parse_duration("30"), std::nullopt);
  EXPECT_EQ(parse_duration("1.5"), std::nullopt);
}

TEST(ParseDuration, RejectsMalformedText) {
  for (const char* text : {"5x", "", "-1s", "s", "ms", "1.2.3s", "1e3s", "30s ", " 30s", "30S", "+5s", ".", "1..5s"}) {
    EXPECT_EQ(parse_duration(text), std::nullopt) << "'" << text << "'";
  }
}

TEST(ParseDuration, RejectsOverflow) {
  EXPECT_EQ(parse_duration("99999999999999999999d"), std::nullopt);
  EXPECT_EQ(parse_duration("999999999999999999999999999999ms"), std::nullopt);
}

// The review's `header_timeout: 200000d` passed and overflowed steady_clock: every
// connection was closed at once. Nothing past 100 years is a duration.
TEST(ParseDuration, IsAtMostAHundredYears) {
  EXPECT_EQ(parse_duration("36500d"), kMaxDuration);
  EXPECT_EQ(parse_duration("876000h"), kMaxDuration);
  for (const char* text : {"36501d", "200000d", "876001h", "3153600001s"}) {
    EXPECT_EQ(parse_duration(text), std::nullopt) << text;
  }
  // Whatever is accepted can be added to either clock's now without wrapping.
  auto steady = std::chrono::steady_clock::now();
  EXPECT_GT(steady + std::chrono::duration_cast<std::chrono::steady_clock::duration>(kMaxDuration), steady);
  auto system = std::chrono::system_clock::now();
  EXPECT_GT(system + std::chrono::duration_cast<std::chrono::system_clock::duration>(kMaxDuration), system);
}

TEST(FormatDuration, PicksTheLargestExactUnit) {
  EXPECT_EQ(format_duration(Duration{250}), "250ms");
  EXPECT_EQ(format_duration(Duration{1500}), "1500ms");
  EXPECT_EQ(format_duration(Duration{30'000}), "30s");
  EXPECT_EQ(format_duration(Duration{300'000}), "5m");
  EXPECT_EQ(format_duration(Duration{7'200'000}), "2h");
  EXPECT_EQ(format_duration(Duration{86'400'000}), "1d");
  EXPECT_EQ(format_duration(Duration{400LL * 86'400'000}), "400d");
  EXPECT_EQ(format_duration(Duration{0}), "0ms");
}

TEST(FormatDuration, RoundTripsThroughParse) {
  for (auto d : std::vector<Duration>{0ms, 1ms, 250ms, 999ms, 1500ms, 30s, 90s, 5min, 24h, 25h, 400 * 24h}) {
    auto text = format_duration(d);
    auto back = parse_duration(text);
    ASSERT_TRUE(back.has_value()) << text;
    EXPECT_EQ(*back, d) << text;
  }
  for (const char* text : {"250ms", "30s", "5m", "24h", "400d"}) {
    auto d = parse_duration(text);
    ASSERT_TRUE(d.has_value()) << text;
    EXPECT_EQ(parse_duration(format_duration(*d)), d) << text;
  }
}

// --- rates -------------------------------------------------------------------

TEST(ParseRate, AcceptsEveryPeriod) {
  EXPECT_EQ(parse_rate("20/min"), (Rate{20, Duration{60'000}}));
  EXPECT_EQ(parse_rate("5/s"), (Rate{5, Duration{1000}}));
  EXPECT_EQ(parse_rate("1000/h"), (Rate{1000, Duration{3'600'000}}));
  EXPECT_EQ(parse_rate("10/d"), (Rate{10, Duration{86'400'000}}));
}

TEST(ParseRate, AcceptsLongPeriodSpellings) {
  EXPECT_EQ(parse_rate("5/second"), (Rate{5, Duration{1000}}));
  EXPECT_EQ(parse_rate("5/minute"), (Rate{5, Duration{60'000}}));
  EXPECT_EQ(parse_rate("5/hour"), (Rate{5, Duration{3'600'000}}));
  EXPECT_EQ(parse_rate("5/day"), (Rate{5, Duration{86'400'000}}));
  EXPECT_EQ(parse_rate("5/m"), (Rate{5, Duration{60'000}}));
}

TEST(ParseRate, PerSecond) {
  EXPECT_DOUBLE_EQ(parse_rate("5/s")->per_second(), 5.0);
  EXPECT_DOUBLE_EQ(parse_rate("20/min")->per_second(), 20.0 / 60.0);
  EXPECT_DOUBLE_EQ(parse_rate("3600/h")->per_second(), 1.0);
  EXPECT_DOUBLE_EQ(parse_rate("0.5/s")->per_second(), 0.5);
}

TEST(ParseRate, RejectsMalformedText) {
  for (const char* text : {"0/s", "0.0/min", "5", "5/fortnight", "", "/s", "5/", "-5/s", "5x/s", "5/S", "five/s",
                           "5/s/s"}) {
    EXPECT_EQ(parse_rate(text), std::nullopt) << "'" << text << "'";
  }
}

TEST(FormatRate, UsesShortPeriodNames) {
  EXPECT_EQ(format_rate(Rate{20, Duration{60'000}}), "20/min");
  EXPECT_EQ(format_rate(Rate{5, Duration{1000}}), "5/s");
  EXPECT_EQ(format_rate(Rate{1000, Duration{3'600'000}}), "1000/h");
  EXPECT_EQ(format_rate(Rate{10, Duration{86'400'000}}), "10/d");
}

TEST(FormatRate, RoundTripsThroughParse) {
  for (const char* text : {"20/min", "5/s", "1000/h", "10/d", "0.5/s", "2.25/min"}) {
    auto r = parse_rate(text);
    ASSERT_TRUE(r.has_value()) << text;
    auto formatted = format_rate(*r);
    EXPECT_EQ(parse_rate(formatted), r) << text << " -> " << formatted;
  }
}

// --- byte sizes --------------------------------------------------------------

TEST(ParseByteSize, AcceptsBinaryAndSiUnits) {
  EXPECT_EQ(parse_byte_size("512"), ByteSize{512});
  EXPECT_EQ(parse_byte_size("512B"), ByteSize{512});
  EXPECT_EQ(parse_byte_size("64KiB"), ByteSize{64 * 1024});
  EXPECT_EQ(parse_byte_size("1MiB"), ByteSize{1024 * 1024});
  EXPECT_EQ(parse_byte_size("2GiB"), ByteSize{2ULL * 1024 * 1024 * 1024});
  EXPECT_EQ(parse_byte_size("10kB"), ByteSize{10'000});
  EXPECT_EQ(parse_byte_size("10KB"), ByteSize{10'000});
  EXPECT_EQ(parse_byte_size("5MB"), ByteSize{5'000'000});
  EXPECT_EQ(parse_byte_size("3GB"), ByteSize{3'000'000'000ULL});
  EXPECT_EQ(parse_byte_size("0"), ByteSize{0});
}

TEST(ParseByteSize, AcceptsFractionsThatAreWholeBytes) {
  EXPECT_EQ(parse_byte_size("1.5KiB"), ByteSize{1536});
  EXPECT_EQ(parse_byte_size("0.5MiB"), ByteSize{512 * 1024});
}

TEST(ParseByteSize, RejectsMalformedText) {
  for (const char* text : {"1.5B", "1.5", "MiB", "5TB", "", "-1", "-1KiB", "5 KiBs", "5kib", "1.1KiB", "KiB5"}) {
    EXPECT_EQ(parse_byte_size(text), std::nullopt) << "'" << text << "'";
  }
}

TEST(ParseByteSize, RejectsOverflow) {
  EXPECT_EQ(parse_byte_size("99999999999GiB"), std::nullopt);
  EXPECT_EQ(parse_byte_size("99999999999999999999"), std::nullopt);
}

TEST(FormatByteSize, PicksTheLargestExactBinaryUnit) {
  EXPECT_EQ(format_byte_size(ByteSize{512}), "512B");
  EXPECT_EQ(format_byte_size(ByteSize{64 * 1024}), "64KiB");
  EXPECT_EQ(format_byte_size(ByteSize{1024 * 1024}), "1MiB");
  EXPECT_EQ(format_byte_size(ByteSize{2ULL * 1024 * 1024 * 1024}), "2GiB");
  EXPECT_EQ(format_byte_size(ByteSize{10'000}), "10000B");
  EXPECT_EQ(format_byte_size(ByteSize{1536}), "1536B");
  EXPECT_EQ(format_byte_size(ByteSize{0}), "0B");
}

TEST(FormatByteSize, RoundTripsThroughParse) {
  for (const char* text : {"512", "64KiB", "1MiB", "2GiB", "10kB", "5MB", "1.5KiB", "0"}) {
    auto s = parse_byte_size(text);
    ASSERT_TRUE(s.has_value()) << text;
    auto formatted = format_byte_size(*s);
    EXPECT_EQ(parse_byte_size(formatted), s) << text << " -> " << formatted;
  }
}

}  // namespace
}  // namespace hermes
