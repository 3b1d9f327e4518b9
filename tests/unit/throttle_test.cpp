#include "hermes/core/throttle.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace hermes {
namespace {

using namespace std::chrono_literals;

TEST(EventThrottle, AllowsABurstThenCountsWhatItSuppresses) {
  EventThrottle throttle(2, 0);  // no refill
  std::uint64_t suppressed = 99;
  EXPECT_TRUE(throttle.allow(suppressed));
  EXPECT_EQ(suppressed, 0u);
  EXPECT_TRUE(throttle.allow(suppressed));
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(throttle.allow(suppressed));
}

TEST(EventThrottle, HandsTheSuppressedCountToTheNextAllowedEvent) {
  EventThrottle throttle(1, 1000);  // one at once, a token back every millisecond
  std::uint64_t suppressed = 0;
  ASSERT_TRUE(throttle.allow(suppressed));
  ASSERT_FALSE(throttle.allow(suppressed));
  ASSERT_FALSE(throttle.allow(suppressed));
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(throttle.allow(suppressed));
  EXPECT_EQ(suppressed, 2u);
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(throttle.allow(suppressed));
  EXPECT_EQ(suppressed, 0u) << "the count restarts after it was handed on";
}

TEST(RecordThrottled, RowsCarryTheCountOfThoseNotRecorded) {
  MemoryAuditSink audit;
  EventThrottle throttle(1, 1000);
  auto refusal = [] {
    AuditEvent e;
    e.kind = "auth.reject";
    e.detail = {{"client", "10.0.0.9"}};
    return e;
  };
  record_throttled(audit, throttle, refusal());
  record_throttled(audit, throttle, refusal());
  record_throttled(audit, throttle, refusal());
  std::this_thread::sleep_for(20ms);
  record_throttled(audit, throttle, refusal());
  auto rows = audit.events();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].detail["suppressed_since_last"], 0);
  EXPECT_EQ(rows[1].detail["suppressed_since_last"], 2);
  EXPECT_EQ(rows[1].detail["client"], "10.0.0.9") << "the event's own detail is kept";
}

}  // namespace
}  // namespace hermes
