#include "hermes/core/throttle.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace hermes {
namespace {

using namespace std::chrono_literals;
using Clock = EventThrottle::Clock;

TEST(EventThrottle, AllowsABurstThenCountsWhatItSuppresses) {
  EventThrottle throttle(2, 1);
  const auto t0 = Clock::now();
  std::uint64_t suppressed = 99;
  EXPECT_TRUE(throttle.allow(suppressed, t0));
  EXPECT_EQ(suppressed, 0u);
  EXPECT_TRUE(throttle.allow(suppressed, t0));
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(throttle.allow(suppressed, t0 + 100ms));
  EXPECT_FALSE(throttle.allow(suppressed, t0 + 900ms)) << "less than one token back";
  EXPECT_TRUE(throttle.allow(suppressed, t0 + 1001ms));
  EXPECT_EQ(suppressed, 6u) << "the suppressed count goes to the next allowed event";
  EXPECT_FALSE(throttle.allow(suppressed, t0 + 1500ms));
  EXPECT_TRUE(throttle.allow(suppressed, t0 + 2002ms));
  EXPECT_EQ(suppressed, 1u) << "the count restarts after it was handed on";
}

TEST(EventThrottle, RefillsNoFurtherThanTheBurstAndIgnoresTimeGoingBack) {
  EventThrottle throttle(3, 1);
  const auto t0 = Clock::now();
  std::uint64_t suppressed = 0;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(throttle.allow(suppressed, t0));
  ASSERT_FALSE(throttle.allow(suppressed, t0));
  const auto later = t0 + 1h;  // a long quiet spell gives back the burst, not 3,600 tokens
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(throttle.allow(suppressed, later));
  EXPECT_FALSE(throttle.allow(suppressed, later));
  EXPECT_FALSE(throttle.allow(suppressed, later - 10s)) << "an earlier time adds nothing";
  EXPECT_FALSE(throttle.allow(suppressed, later + 500ms)) << "nor does it move the reference back";
}

TEST(RecordThrottled, RowsCarryTheCountOfThoseNotRecorded) {
  MemoryAuditSink audit;
  EventThrottle throttle(1, 0.001);  // one now, the next in about 17 minutes
  for (int i = 0; i < 4; ++i) {
    AuditEvent e;
    e.kind = "auth.reject";
    e.detail = {{"client", "10.0.0.9"}};
    record_throttled(audit, throttle, std::move(e));
  }
  auto rows = audit.events();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].detail["suppressed_since_last"], 0);
  EXPECT_EQ(rows[0].detail["client"], "10.0.0.9") << "the event's own detail is kept";
  std::uint64_t suppressed = 0;
  ASSERT_TRUE(throttle.allow(suppressed, Clock::now() + 1h));
  EXPECT_EQ(suppressed, 3u) << "the three not recorded wait for the next row";
}

TEST(RecordThrottled, AnEncodedDetailKeepsItsKeysAndGainsTheCount) {
  MemoryAuditSink audit;
  EventThrottle throttle(1, 0);
  AuditEvent e;
  e.kind = "message.rejected";
  e.detail_json = R"({"client":"10.0.0.9"})";
  record_throttled(audit, throttle, std::move(e));
  auto rows = audit.events();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].detail_object()["client"], "10.0.0.9");
  EXPECT_EQ(rows[0].detail_object()["suppressed_since_last"], 0);
}

}  // namespace
}  // namespace hermes

namespace hermes {
namespace {

using namespace std::chrono_literals;

TEST(KeyedEventThrottle, EachKeyHasItsOwnBudgetAndCount) {
  KeyedEventThrottle throttle(16, 2, 1);
  const auto t0 = std::chrono::steady_clock::now();
  std::uint64_t suppressed = 0;
  bool overflow = true;
  EXPECT_TRUE(throttle.allow("api|attacker|rate_limited", suppressed, overflow, t0));
  EXPECT_FALSE(overflow);
  EXPECT_TRUE(throttle.allow("api|attacker|rate_limited", suppressed, overflow, t0));
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(throttle.allow("api|attacker|rate_limited", suppressed, overflow, t0));
  // Another key (or the same key with another status) is not held back by the flood.
  EXPECT_TRUE(throttle.allow("api|victim|rate_limited", suppressed, overflow, t0));
  EXPECT_TRUE(throttle.allow("api|attacker|bad_request", suppressed, overflow, t0));
  EXPECT_TRUE(throttle.allow("api|attacker|rate_limited", suppressed, overflow, t0 + 1001ms));
  EXPECT_EQ(suppressed, 100u);
  EXPECT_EQ(throttle.size(), 3u);
}

TEST(KeyedEventThrottle, TheTableIsBoundedAndFreshKeysShareTheOverflowBucket) {
  KeyedEventThrottle throttle(4, 1, 1);
  const auto t0 = std::chrono::steady_clock::now();
  std::uint64_t suppressed = 0;
  bool overflow = false;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(throttle.allow("k" + std::to_string(i), suppressed, overflow, t0));
  // All four are busy (no token left): new keys go to the overflow bucket, one row for all.
  EXPECT_TRUE(throttle.allow("fresh-1", suppressed, overflow, t0));
  EXPECT_TRUE(overflow);
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(throttle.allow("fresh-" + std::to_string(i + 2), suppressed, overflow, t0));
  EXPECT_EQ(throttle.size(), 4u) << "attacker-chosen keys cannot grow the table";
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(throttle.allow("k" + std::to_string(i), suppressed, overflow, t0 + 1000ms));
  EXPECT_TRUE(throttle.allow("fresh-x", suppressed, overflow, t0 + 1001ms));
  EXPECT_TRUE(overflow);
  EXPECT_EQ(suppressed, 1000u) << "the overflow bucket counts every key it held back";
  // A key quiet long enough to have its burst back gives its place to a new key; what it
  // held back is handed to the overflow bucket's next row.
  EXPECT_FALSE(throttle.allow("k0", suppressed, overflow, t0 + 1500ms));
  EXPECT_TRUE(throttle.allow("newcomer", suppressed, overflow, t0 + 5s));
  EXPECT_FALSE(overflow);
  EXPECT_EQ(throttle.size(), 4u);
  for (int i = 1; i < 4; ++i) ASSERT_TRUE(throttle.allow("k" + std::to_string(i), suppressed, overflow, t0 + 5s));
  EXPECT_TRUE(throttle.allow("another", suppressed, overflow, t0 + 5s));
  EXPECT_TRUE(overflow);
  EXPECT_EQ(suppressed, 1u) << "k0's held-back refusal is counted, not lost";
}

}  // namespace
}  // namespace hermes
