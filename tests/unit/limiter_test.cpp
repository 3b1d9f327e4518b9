#include "hermes/routing/limiter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace hermes::routing {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

// A fake clock: tests pass explicit instants, never the real time.
const SteadyTime kT0 = SteadyTime{} + 1h;

Rate per_minute(double count) { return Rate{count, Duration{60'000}}; }
Rate per_second(double count) { return Rate{count, Duration{1'000}}; }

config::LimitConfig limit(std::string name, config::LimitKey key, Rate rate, std::uint32_t burst,
                          std::vector<std::string> channels = {}) {
  config::LimitConfig l;
  l.name = std::move(name);
  l.key = key;
  l.rate = rate;
  l.burst = burst;
  l.channels = std::move(channels);
  return l;
}

LimitFacts slack_facts(std::string_view sender) {
  return LimitFacts{.channel_name = "slack-main", .channel_type = "slack", .sender = sender};
}

TEST(Gcra, BurstThenRefusedWithRetryAfter) {
  InMemoryLimiterStore store;
  // 20/min: one token every 3 s; burst 5.
  for (std::uint32_t i = 0; i < 5; ++i) {
    auto d = store.check("k", per_minute(20), 5, kT0);
    EXPECT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.limit, 5u);
    EXPECT_EQ(d.remaining, 4 - i);
    EXPECT_EQ(d.reset, milliseconds(3000 * (i + 1)));
    EXPECT_EQ(d.retry_after, 0ms);
  }
  auto refused = store.check("k", per_minute(20), 5, kT0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, 3000ms);
  EXPECT_EQ(refused.remaining, 0u);
  EXPECT_EQ(refused.limit, 5u);
  EXPECT_EQ(refused.reset, 15000ms);
}

TEST(Gcra, OneMoreAllowedAfterRetryAfter) {
  InMemoryLimiterStore store;
  for (int i = 0; i < 5; ++i) {
    store.check("k", per_minute(20), 5, kT0);
  }
  EXPECT_FALSE(store.check("k", per_minute(20), 5, kT0 + 2999ms).allowed);
  auto d = store.check("k", per_minute(20), 5, kT0 + 3s);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 0u);
  EXPECT_EQ(d.reset, 15000ms);  // TAT 18 s, now 3 s
  auto again = store.check("k", per_minute(20), 5, kT0 + 3s);
  EXPECT_FALSE(again.allowed);
  EXPECT_EQ(again.retry_after, 3000ms);
}

TEST(Gcra, RefusalsDoNotChangeState) {
  InMemoryLimiterStore store;
  for (int i = 0; i < 5; ++i) {
    store.check("k", per_minute(20), 5, kT0);
  }
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(store.check("k", per_minute(20), 5, kT0 + 1s).allowed);
  }
  EXPECT_TRUE(store.check("k", per_minute(20), 5, kT0 + 3s).allowed);
}

TEST(Gcra, SteadyRateAtTheEmissionIntervalIsAlwaysAllowed) {
  InMemoryLimiterStore store;
  for (int i = 0; i < 1000; ++i) {
    auto d = store.check("k", per_second(10), 1, kT0 + i * 100ms);
    ASSERT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.remaining, 0u);
  }
  // Slightly faster than the rate is refused once the burst of 1 is spent.
  EXPECT_FALSE(store.check("k", per_second(10), 1, kT0 + 99'950ms).allowed);
  EXPECT_TRUE(store.check("k", per_second(10), 1, kT0 + 100'000ms).allowed);
}

TEST(Gcra, RemainingRefillsOneTokenPerInterval) {
  InMemoryLimiterStore store;
  for (int i = 0; i < 5; ++i) {
    store.check("k", per_minute(20), 5, kT0);
  }
  // Cost 0 peeks: it reports without consuming.
  EXPECT_EQ(store.check("k", per_minute(20), 5, kT0 + 2999ms, 0).remaining, 0u);
  EXPECT_EQ(store.check("k", per_minute(20), 5, kT0 + 3s, 0).remaining, 1u);
  EXPECT_EQ(store.check("k", per_minute(20), 5, kT0 + 8999ms, 0).remaining, 2u);
  EXPECT_EQ(store.check("k", per_minute(20), 5, kT0 + 9s, 0).remaining, 3u);
  auto full = store.check("k", per_minute(20), 5, kT0 + 15s, 0);
  EXPECT_EQ(full.remaining, 5u);
  EXPECT_EQ(full.reset, 0ms);
  EXPECT_TRUE(full.allowed);
}

TEST(Gcra, ResetIsTheTimeUntilFull) {
  InMemoryLimiterStore store;
  store.check("k", per_minute(20), 5, kT0);
  store.check("k", per_minute(20), 5, kT0);
  EXPECT_EQ(store.check("k", per_minute(20), 5, kT0 + 1s, 0).reset, 5000ms);
  EXPECT_EQ(store.check("k", per_minute(20), 5, kT0 + 6s, 0).reset, 0ms);
}

TEST(Gcra, RetryAfterIsRoundedUpToTheMillisecond) {
  InMemoryLimiterStore store;
  // 3/s: T = 333.333... ms.
  EXPECT_TRUE(store.check("k", per_second(3), 1, kT0).allowed);
  auto refused = store.check("k", per_second(3), 1, kT0);
  EXPECT_EQ(refused.retry_after, 334ms);
  EXPECT_FALSE(store.check("k", per_second(3), 1, kT0 + 333ms).allowed);
  EXPECT_TRUE(store.check("k", per_second(3), 1, kT0 + 334ms).allowed);
}

TEST(Gcra, CostTakesSeveralTokens) {
  InMemoryLimiterStore store;
  auto d = store.check("k", per_minute(20), 5, kT0, 3);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 2u);
  EXPECT_EQ(d.reset, 9000ms);
  auto refused = store.check("k", per_minute(20), 5, kT0, 3);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, 3000ms);  // one more token needed, 3 s each
  EXPECT_EQ(refused.remaining, 2u);
  EXPECT_TRUE(store.check("k", per_minute(20), 5, kT0 + 3s, 3).allowed);
}

TEST(Gcra, CostAboveBurstIsNeverAllowed) {
  InMemoryLimiterStore store;
  auto d = store.check("k", per_minute(20), 5, kT0, 6);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after, milliseconds::max());
  EXPECT_EQ(d.remaining, 5u);
  EXPECT_EQ(store.size(), 0u);
}

TEST(Gcra, PeekDoesNotStoreNewKeys) {
  InMemoryLimiterStore store;
  auto d = store.check("k", per_minute(20), 5, kT0, 0);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 5u);
  EXPECT_EQ(store.size(), 0u);
}

TEST(Gcra, FractionalRates) {
  InMemoryLimiterStore store;
  // 0.5/s: one token every 2 s.
  EXPECT_TRUE(store.check("k", per_second(0.5), 1, kT0).allowed);
  EXPECT_EQ(store.check("k", per_second(0.5), 1, kT0).retry_after, 2000ms);
}

TEST(Gcra, HugeBurstAndSlowRateSaturateInsteadOfOverflowing) {
  GcraParams p = GcraParams::from(Rate{1, Duration{86'400'000}}, 4'000'000'000u);
  EXPECT_GT(p.capacity_ns(), 0);
  auto r = gcra_check(0, 1'000'000'000, p, 1);
  EXPECT_TRUE(r.decision.allowed);
  EXPECT_GT(r.new_tat_ns, 1'000'000'000);
}

TEST(Gcra, RefundGivesTokensBackButNeverOverfills) {
  InMemoryLimiterStore store;
  store.check("k", per_minute(20), 5, kT0);
  store.check("k", per_minute(20), 5, kT0);
  store.refund("k", per_minute(20), 5, kT0);
  EXPECT_EQ(store.check("k", per_minute(20), 5, kT0, 0).remaining, 4u);
  store.refund("k", per_minute(20), 5, kT0, 3);
  EXPECT_EQ(store.check("k", per_minute(20), 5, kT0, 0).remaining, 5u);
  EXPECT_EQ(store.size(), 0u);  // full buckets are forgotten
}

TEST(Gcra, DifferentKeysAreIndependent) {
  InMemoryLimiterStore store;
  EXPECT_TRUE(store.check("a", per_minute(1), 1, kT0).allowed);
  EXPECT_FALSE(store.check("a", per_minute(1), 1, kT0).allowed);
  EXPECT_TRUE(store.check("b", per_minute(1), 1, kT0).allowed);
  EXPECT_EQ(store.size(), 2u);
}

TEST(LimiterMemory, FullBucketsArePrunedLosslessly) {
  InMemoryLimiterStore store(InMemoryLimiterStore::Options{.max_keys = 16'000, .min_sweep_size = 8});
  for (int i = 0; i < 1000; ++i) {
    store.check("old-" + std::to_string(i), per_second(1), 1, kT0);
  }
  EXPECT_EQ(store.size(), 1000u);
  // A second later those buckets are full again; new arrivals sweep them out.
  for (int i = 0; i < 3000; ++i) {
    store.check("new-" + std::to_string(i), per_second(1), 1, kT0 + 1s);
  }
  EXPECT_EQ(store.size(), 3000u);
  EXPECT_EQ(store.evictions(), 0u);
  EXPECT_EQ(store.prune(kT0 + 2s), 3000u);
  EXPECT_EQ(store.size(), 0u);
}

TEST(LimiterMemory, KeyCountStaysBoundedUnderAFloodOfFreshKeys) {
  InMemoryLimiterStore store(InMemoryLimiterStore::Options{.max_keys = 160, .min_sweep_size = 4});
  for (int i = 0; i < 20'000; ++i) {
    EXPECT_TRUE(store.check("flood-" + std::to_string(i), per_minute(1), 1, kT0).allowed);
    ASSERT_LE(store.size(), 160u);
  }
  EXPECT_GT(store.evictions(), 0u);
}

TEST(LimiterMemory, EvictionSparesTheLongestThrottledBuckets) {
  InMemoryLimiterStore store(InMemoryLimiterStore::Options{.max_keys = 160, .min_sweep_size = 4});
  // A sender throttled for an hour...
  EXPECT_TRUE(store.check("heavy", Rate{1, Duration{3'600'000}}, 1, kT0).allowed);
  // ...is not freed by a flood of fresh keys that owe a second each.
  for (int i = 0; i < 20'000; ++i) {
    store.check("flood-" + std::to_string(i), per_second(1), 1, kT0 + 10ms);
  }
  EXPECT_GT(store.evictions(), 0u);
  EXPECT_FALSE(store.check("heavy", Rate{1, Duration{3'600'000}}, 1, kT0 + 20ms).allowed);
}

TEST(LimiterConcurrency, ThreadsDoNotLoseUpdates) {
  InMemoryLimiterStore store;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 2000;
  constexpr std::uint32_t kBurst = 5000;
  std::atomic<int> allowed{0};
  std::atomic<int> other_allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (store.check("shared", Rate{1, Duration{86'400'000}}, kBurst, kT0).allowed) {
          allowed.fetch_add(1);
        }
        if (store.check("t" + std::to_string(t) + "-" + std::to_string(i % 50), per_minute(1), 10, kT0).allowed) {
          other_allowed.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(allowed.load(), static_cast<int>(kBurst));
  EXPECT_EQ(other_allowed.load(), kThreads * 50 * 10);
}

TEST(Limits, BucketKeyIsLimitNameAndKeyValue) {
  EXPECT_EQ(Limits::bucket_key(limit("per-sender", config::LimitKey::sender, per_minute(1), 1), "U1"),
            "per-sender|U1");
}

TEST(Limits, PrePhaseChecksSenderChannelApiKeyAndGlobal) {
  InMemoryLimiterStore store;
  Limits limits({limit("s", config::LimitKey::sender, per_minute(20), 5),
                 limit("c", config::LimitKey::channel, per_minute(20), 5),
                 limit("k", config::LimitKey::api_key, per_minute(20), 5),
                 limit("g", config::LimitKey::global, per_minute(20), 5),
                 limit("a", config::LimitKey::agent, per_minute(20), 5)});
  LimitFacts facts{.channel_name = "api", .channel_type = "api", .sender = "ci", .api_key = "ci", .agent = "gen"};
  EXPECT_TRUE(limits.check(store, LimitPhase::pre, facts, kT0).allowed);
  for (const char* key : {"s|ci", "c|api", "k|ci", "g|*"}) {
    EXPECT_EQ(store.check(key, per_minute(20), 5, kT0, 0).remaining, 4u) << key;
  }
  EXPECT_EQ(store.check("a|gen", per_minute(20), 5, kT0, 0).remaining, 5u);
  EXPECT_EQ(store.size(), 4u);
}

TEST(Limits, AgentPhaseChecksOnlyAgentLimits) {
  InMemoryLimiterStore store;
  Limits limits({limit("s", config::LimitKey::sender, per_minute(20), 5),
                 limit("a", config::LimitKey::agent, per_minute(20), 2)});
  LimitFacts facts{.channel_name = "api", .sender = "ci", .agent = "billing"};
  auto outcome = limits.check(store, LimitPhase::agent, facts, kT0);
  EXPECT_TRUE(outcome.allowed);
  EXPECT_EQ(outcome.limit, "a");
  EXPECT_EQ(outcome.decision.remaining, 1u);
  EXPECT_EQ(store.size(), 1u);
}

TEST(Limits, EmptyKeyValuesAndOtherChannelsDoNotApply) {
  InMemoryLimiterStore store;
  Limits limits({limit("k", config::LimitKey::api_key, per_minute(1), 1),
                 limit("api-only", config::LimitKey::sender, per_minute(1), 1, {"api"}),
                 limit("slack-type", config::LimitKey::sender, per_minute(1), 1, {"slack"})});
  auto outcome = limits.check(store, LimitPhase::pre, slack_facts("U1"), kT0);
  EXPECT_TRUE(outcome.allowed);
  EXPECT_EQ(outcome.limit, "slack-type");  // matched by channel type; the others did not apply
  EXPECT_EQ(store.size(), 1u);
}

TEST(Limits, NoApplicableLimitAllowsWithoutAName) {
  InMemoryLimiterStore store;
  Limits limits({});
  auto outcome = limits.check(store, LimitPhase::pre, slack_facts("U1"), kT0);
  EXPECT_TRUE(outcome.allowed);
  EXPECT_TRUE(outcome.limit.empty());
}

TEST(Limits, FirstRefusalNamesTheLimitAndRefundsEarlierOnes) {
  InMemoryLimiterStore store;
  Limits limits({limit("per-sender", config::LimitKey::sender, per_minute(20), 5),
                 limit("global", config::LimitKey::global, per_minute(1), 1)});
  EXPECT_TRUE(limits.check(store, LimitPhase::pre, slack_facts("U1"), kT0).allowed);
  auto refused = limits.check(store, LimitPhase::pre, slack_facts("U2"), kT0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.limit, "global");
  EXPECT_EQ(refused.decision.retry_after, 60'000ms);
  // U2's own bucket was refunded: the refused message cost it nothing.
  EXPECT_EQ(store.check("per-sender|U2", per_minute(20), 5, kT0, 0).remaining, 5u);
}

TEST(Limits, AllowedOutcomeReportsTheTightestLimit) {
  InMemoryLimiterStore store;
  Limits limits({limit("loose", config::LimitKey::sender, per_minute(100), 50),
                 limit("tight", config::LimitKey::channel, per_minute(20), 3),
                 limit("looser", config::LimitKey::global, per_minute(1000), 500)});
  auto outcome = limits.check(store, LimitPhase::pre, slack_facts("U1"), kT0);
  EXPECT_TRUE(outcome.allowed);
  EXPECT_EQ(outcome.limit, "tight");
  EXPECT_EQ(outcome.decision.remaining, 2u);
  EXPECT_EQ(outcome.decision.limit, 3u);
}

TEST(Limits, StateSurvivesARebuildByName) {
  InMemoryLimiterStore store;
  {
    Limits before({limit("per-sender", config::LimitKey::sender, per_minute(20), 2)});
    EXPECT_TRUE(before.check(store, LimitPhase::pre, slack_facts("U1"), kT0).allowed);
    EXPECT_TRUE(before.check(store, LimitPhase::pre, slack_facts("U1"), kT0).allowed);
  }
  Limits after({limit("per-sender", config::LimitKey::sender, per_minute(20), 2)});
  EXPECT_FALSE(after.check(store, LimitPhase::pre, slack_facts("U1"), kT0).allowed);
  // A renamed limit is a new limit with fresh buckets.
  Limits renamed({limit("per-user", config::LimitKey::sender, per_minute(20), 2)});
  EXPECT_TRUE(renamed.check(store, LimitPhase::pre, slack_facts("U1"), kT0).allowed);
}

TEST(Limits, ChangedRateKeepsTheTat) {
  InMemoryLimiterStore store;
  Limits before({limit("per-sender", config::LimitKey::sender, per_minute(20), 5)});
  before.check(store, LimitPhase::pre, slack_facts("U1"), kT0);
  before.check(store, LimitPhase::pre, slack_facts("U1"), kT0);  // TAT = 6 s
  Limits after({limit("per-sender", config::LimitKey::sender, per_minute(10), 5)});  // T = 6 s, capacity 30 s
  auto outcome = after.check(store, LimitPhase::pre, slack_facts("U1"), kT0);
  EXPECT_TRUE(outcome.allowed);
  EXPECT_EQ(outcome.decision.remaining, 3u);  // TAT 12 s of 30: a fresh bucket would have 4 left
  EXPECT_EQ(outcome.decision.reset, 12'000ms);
}

TEST(Limits, LoosenedRateCapsAnOldDebtAtTheNewCapacity) {
  InMemoryLimiterStore store;
  Limits hourly({limit("per-sender", config::LimitKey::sender, Rate{1, Duration{3'600'000}}, 1)});
  hourly.check(store, LimitPhase::pre, slack_facts("U1"), kT0);  // TAT an hour ahead
  Limits fast({limit("per-sender", config::LimitKey::sender, per_second(100), 1)});
  auto refused = fast.check(store, LimitPhase::pre, slack_facts("U1"), kT0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.decision.retry_after, 10ms);  // empty under the new rate, not an hour
  EXPECT_TRUE(fast.check(store, LimitPhase::pre, slack_facts("U1"), kT0 + 10ms).allowed);
}

}  // namespace
}  // namespace hermes::routing

namespace hermes::routing {
namespace {

TEST(TokenBudget, RefusesOnlyOnceExhaustedAndRefillsOverTime) {
  using namespace std::chrono_literals;
  InMemoryLimiterStore store;
  auto budget = limit("budget", config::LimitKey::api_key, Rate{600, Duration{60'000}}, 600);  // 10 tokens/s
  budget.tokens = true;
  Limits limits({budget});
  LimitFacts facts{"api", "api", "u1", "ci-bot", ""};
  auto t0 = SteadyTime(std::chrono::seconds(1000));
  EXPECT_TRUE(limits.check(store, LimitPhase::pre, facts, t0).allowed);
  EXPECT_TRUE(limits.check(store, LimitPhase::pre, facts, t0).allowed) << "a check alone spends nothing";
  limits.debit_tokens(store, facts, 500, t0);
  EXPECT_TRUE(limits.check(store, LimitPhase::pre, facts, t0).allowed) << "100 tokens left";
  limits.debit_tokens(store, facts, 300, t0);  // 200 in debt
  auto refused = limits.check(store, LimitPhase::pre, facts, t0);
  ASSERT_FALSE(refused.allowed);
  EXPECT_EQ(refused.limit, "budget");
  EXPECT_NEAR(refused.decision.retry_after.count(), 20'100, 200);  // 201 tokens at 10/s
  EXPECT_TRUE(limits.check(store, LimitPhase::pre, facts, t0 + 21s).allowed);
  // Debt is capped at one bucket: a huge answer cannot lock a key out for days.
  limits.debit_tokens(store, facts, 10'000'000, t0 + 21s);
  EXPECT_LE(limits.check(store, LimitPhase::pre, facts, t0 + 21s).decision.retry_after, 121s);
}

TEST(TokenBudget, AppliesOnlyWhereItsKeyHasAValue) {
  InMemoryLimiterStore store;
  auto budget = limit("per-agent", config::LimitKey::agent, Rate{10, Duration{60'000}}, 10);
  budget.tokens = true;
  Limits limits({budget});
  auto t0 = SteadyTime(std::chrono::seconds(1000));
  LimitFacts no_agent{"api", "api", "u1", "k", ""};
  limits.debit_tokens(store, no_agent, 1000, t0);
  LimitFacts with_agent{"api", "api", "u1", "k", "general"};
  EXPECT_TRUE(limits.check(store, LimitPhase::agent, with_agent, t0).allowed);
  limits.debit_tokens(store, with_agent, 1000, t0);
  EXPECT_FALSE(limits.check(store, LimitPhase::agent, with_agent, t0).allowed);
}

}  // namespace
}  // namespace hermes::routing
