#pragma once
// Rate limits: GCRA (the generic cell rate algorithm), one timestamp per bucket,
// O(1) per check.
//
// A bucket with rate `count/period` and capacity `burst` emits one token every
// T = period/count. It stores only its TAT (theoretical arrival time): the
// instant it would be full again. A request of cost c is allowed when
//   max(TAT, now) + c*T - burst*T <= now
// and then TAT becomes max(TAT, now) + c*T; a refused request changes nothing.
// A bucket whose TAT is not after `now` is full, exactly like a bucket never
// seen, so forgetting it loses nothing: that is what keeps memory bounded.
//
// State lives in a LimiterStore owned outside Limits (in memory now, shared
// later), keyed "<limit name>|<key value>", so a reload that rebuilds Limits
// keeps every bucket whose limit kept its name.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "hermes/config/config.hpp"
#include "hermes/core/units.hpp"

namespace hermes::routing {

using SteadyTime = std::chrono::steady_clock::time_point;

struct LimitDecision {
  bool allowed = true;
  std::chrono::milliseconds retry_after{0};  // refused: wait this long (rounded up); max(): never (cost > burst)
  std::uint32_t limit = 0;                   // the bucket's capacity (burst)
  std::uint32_t remaining = 0;               // cost-1 requests that would pass right now
  std::chrono::milliseconds reset{0};        // until the bucket is full again (rounded up)
};

// The arithmetic, separate from storage so every store agrees on it.
struct GcraParams {
  std::int64_t interval_ns = 1;  // T: time to earn one token
  std::uint32_t burst = 1;

  static GcraParams from(const Rate& rate, std::uint32_t burst);
  std::int64_t capacity_ns() const;  // burst * T, saturating
};

struct GcraResult {
  LimitDecision decision;
  std::int64_t new_tat_ns = 0;  // the TAT to store (unchanged when refused)
};

// `tat_ns` and `now_ns` are nanoseconds on the steady clock; a missing bucket
// has tat_ns <= now_ns. A cost of 0 peeks without consuming.
GcraResult gcra_check(std::int64_t tat_ns, std::int64_t now_ns, const GcraParams& params, std::uint32_t cost);

class LimiterStore {
 public:
  virtual ~LimiterStore() = default;
  // Consumes `cost` tokens from the bucket if they are there; a refusal changes nothing.
  virtual LimitDecision check(const std::string& bucket_key, const Rate& rate, std::uint32_t burst, SteadyTime now,
                              std::uint32_t cost = 1) = 0;
  // Gives back tokens a check() took, e.g. when a later limit refused the same
  // message. Never fills a bucket beyond full.
  virtual void refund(const std::string& bucket_key, const Rate& rate, std::uint32_t burst, SteadyTime now,
                      std::uint32_t cost = 1) = 0;
  // Token budgets: whether one token is there, counting debt (which check() does
  // not: it caps what a bucket owes at its capacity); consumes nothing.
  virtual LimitDecision peek(const std::string& bucket_key, const Rate& rate, std::uint32_t burst, SteadyTime now) = 0;
  // Takes `cost` tokens whether or not they are there (token budgets are debited
  // after the fact); the debt is capped at one more bucket's worth.
  virtual void debit(const std::string& bucket_key, const Rate& rate, std::uint32_t burst, SteadyTime now,
                     std::uint64_t cost) = 0;
};

// In-process buckets: 16 shards, each a mutex and a map key -> TAT.
//
// Memory bound: each shard holds at most ceil(max_keys / 16) keys.
//  1. Lossless pruning. When inserting a new key into a shard that has grown
//     past its sweep mark, every full bucket (TAT <= now) is dropped; the mark
//     then becomes twice the surviving size, so sweeps cost O(1) amortised.
//  2. Eviction, only when a shard is at its cap with every bucket still
//     draining: the eighth of the shard's buckets with the earliest TAT (the
//     fullest ones, whose owners lose the least by being forgotten) are
//     dropped in one O(n) pass, again O(1) amortised per insert. New keys are
//     never refused and never waved through untracked: a flood of fresh keys
//     evicts other fresh keys, while the long-throttled senders, whose TATs lie
//     furthest ahead, stay throttled. Evictions are counted for metrics.
class InMemoryLimiterStore final : public LimiterStore {
 public:
  struct Options {
    std::size_t max_keys = 262'144;    // about 100 bytes each with short keys: ~25 MiB
    std::size_t min_sweep_size = 1024;  // per shard: no sweep below this
  };
  InMemoryLimiterStore();
  explicit InMemoryLimiterStore(Options options);

  LimitDecision check(const std::string& bucket_key, const Rate& rate, std::uint32_t burst, SteadyTime now,
                      std::uint32_t cost = 1) override;
  void refund(const std::string& bucket_key, const Rate& rate, std::uint32_t burst, SteadyTime now,
              std::uint32_t cost = 1) override;
  void debit(const std::string& bucket_key, const Rate& rate, std::uint32_t burst, SteadyTime now,
             std::uint64_t cost) override;
  LimitDecision peek(const std::string& bucket_key, const Rate& rate, std::uint32_t burst, SteadyTime now) override;

  // Drops every full bucket now (a periodic timer may call it); returns how many.
  std::size_t prune(SteadyTime now);
  std::size_t size() const;
  std::uint64_t evictions() const;

 private:
  static constexpr std::size_t kShards = 16;
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, std::int64_t> tat_ns;
    std::size_t sweep_at = 0;  // sweep when a new key arrives at this size
    std::uint64_t evictions = 0;
  };

  Shard& shard_for(const std::string& key);
  // Makes room for one more key in a locked shard.
  void make_room(Shard& shard, std::int64_t now_ns);

  Options options_;
  std::size_t shard_cap_;
  std::unique_ptr<Shard[]> shards_;
};

enum class LimitPhase {
  pre,    // before routing: sender, channel, api_key and global limits
  agent,  // once the agent is known: agent limits
};

// The facts a message offers limits; empty values make a limit keyed by them
// inapplicable (no API key on a Slack message, no sender on a system event).
struct LimitFacts {
  std::string_view channel_name;
  std::string_view channel_type;
  std::string_view sender;
  std::string_view api_key;  // the key's name
  std::string_view agent;
};

struct LimitOutcome {
  bool allowed = true;
  // The refusing limit, or when allowed the tightest one (least remaining),
  // whose decision feeds RateLimit headers; empty when no limit applied.
  std::string limit;
  LimitDecision decision;
};

class Limits {
 public:
  explicit Limits(std::vector<config::LimitConfig> limits);

  // Checks every limit of `phase` that applies, in config order. On the first
  // refusal the tokens already taken by earlier limits are refunded, so a
  // refused message costs no bucket anything.
  // Token budgets take part with a peek: they refuse only when exhausted.
  LimitOutcome check(LimiterStore& store, LimitPhase phase, const LimitFacts& facts, SteadyTime now,
                     std::uint32_t cost = 1) const;
  // Debits `tokens` (reported usage) from every token budget that applies, in both phases.
  void debit_tokens(LimiterStore& store, const LimitFacts& facts, std::uint64_t tokens, SteadyTime now) const;

  static std::string bucket_key(const config::LimitConfig& limit, std::string_view value);

 private:
  std::vector<config::LimitConfig> limits_;
};

}  // namespace hermes::routing
