// The circuit breaker's state machine and which failures count or retry.
#include <gtest/gtest.h>

#include "hermes/backends/resilient.hpp"

namespace hermes::backends {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

config::ResilienceConfig breaker(std::uint32_t failures, seconds window, seconds cooldown) {
  config::ResilienceConfig c;
  c.breaker_failures = failures;
  c.breaker_window = window;
  c.breaker_cooldown = cooldown;
  return c;
}

TEST(Breaker, OpensAfterFailuresWithinTheWindow) {
  Breaker b(breaker(3, seconds(10), seconds(5)));
  auto t = Clock::time_point(seconds(1000));
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(b.allow(t));
    b.record(true, t);
  }
  EXPECT_EQ(b.state(t), BreakerState::closed);
  ASSERT_TRUE(b.allow(t));
  b.record(true, t);
  EXPECT_EQ(b.state(t), BreakerState::open);
  EXPECT_FALSE(b.allow(t + seconds(4)));
}

TEST(Breaker, FailuresOutsideTheWindowDoNotCount) {
  Breaker b(breaker(3, seconds(10), seconds(5)));
  auto t = Clock::time_point(seconds(1000));
  b.record(true, t);
  b.record(true, t + seconds(1));
  b.record(true, t + seconds(12));  // the first two are older than 10 s by now
  EXPECT_EQ(b.state(t + seconds(12)), BreakerState::closed);
  b.record(false, t + seconds(13));  // successes do not open it either
  EXPECT_EQ(b.state(t + seconds(13)), BreakerState::closed);
}

TEST(Breaker, AfterTheCooldownOneProbeDecides) {
  Breaker b(breaker(1, seconds(10), seconds(5)));
  auto t = Clock::time_point(seconds(1000));
  b.record(true, t);
  ASSERT_EQ(b.state(t), BreakerState::open);
  auto later = t + seconds(5);
  EXPECT_EQ(b.state(later), BreakerState::half_open);
  EXPECT_TRUE(b.allow(later));    // the probe
  EXPECT_FALSE(b.allow(later));   // nobody else while it runs
  b.record(true, later);          // the probe failed: open again, for a new cooldown
  EXPECT_EQ(b.state(later + seconds(4)), BreakerState::open);
  auto again = later + seconds(5);
  EXPECT_TRUE(b.allow(again));
  b.record(false, again);  // the probe succeeded
  EXPECT_EQ(b.state(again), BreakerState::closed);
  EXPECT_TRUE(b.allow(again));
  EXPECT_TRUE(b.allow(again));
}

TEST(Breaker, ZeroFailuresMeansNoBreaker) {
  Breaker b(breaker(0, seconds(10), seconds(5)));
  auto t = Clock::time_point(seconds(1000));
  for (int i = 0; i < 100; ++i) b.record(true, t);
  EXPECT_TRUE(b.allow(t));
  EXPECT_EQ(b.state(t), BreakerState::closed);
}

TEST(Resilience, WhatCountsAndWhatIsRetried) {
  Completion c;
  c.error = BackendErrorKind::connect;
  EXPECT_TRUE(counts_as_failure(c));
  EXPECT_TRUE(retryable(c));
  c.error = BackendErrorKind::http_status;
  c.upstream_status = 503;
  EXPECT_TRUE(counts_as_failure(c));
  EXPECT_TRUE(retryable(c));
  c.streamed = true;  // part of the answer reached the client: never again
  EXPECT_FALSE(retryable(c));
  c.streamed = false;
  c.upstream_status = 400;
  EXPECT_FALSE(counts_as_failure(c));
  EXPECT_FALSE(retryable(c));
  c.error = BackendErrorKind::rate_limited;
  c.upstream_status = 429;
  EXPECT_FALSE(counts_as_failure(c));  // a busy upstream is alive
  EXPECT_TRUE(retryable(c));
  c.error = BackendErrorKind::timeout;
  EXPECT_TRUE(counts_as_failure(c));
  EXPECT_FALSE(retryable(c));  // it already spent its time
  c.error = BackendErrorKind::cancelled;
  EXPECT_FALSE(counts_as_failure(c));
  EXPECT_FALSE(retryable(c));
}

}  // namespace
}  // namespace hermes::backends
