#include "hermes/routing/limiter.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

namespace hermes::routing {
namespace {

// Durations saturate here (~73 years) so TAT + increments never overflow int64.
constexpr std::int64_t kMaxNs = std::int64_t{1} << 61;
constexpr std::int64_t kNsPerMs = 1'000'000;

std::int64_t saturating_mul(std::int64_t a, std::uint64_t b) {
  if (a == 0 || b == 0) {
    return 0;
  }
  if (b > static_cast<std::uint64_t>(kMaxNs / a)) {
    return kMaxNs;
  }
  return a * static_cast<std::int64_t>(b);
}

// Rounded up: a client that waits retry_after must then be allowed.
std::chrono::milliseconds ceil_ms(std::int64_t ns) {
  return std::chrono::milliseconds(ns <= 0 ? 0 : (ns + kNsPerMs - 1) / kNsPerMs);
}

std::int64_t to_ns(SteadyTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

GcraParams GcraParams::from(const Rate& rate, std::uint32_t burst) {
  GcraParams p;
  double interval = rate.count > 0 ? static_cast<double>(rate.period.count()) * 1e6 / rate.count
                                   : static_cast<double>(kMaxNs);
  p.interval_ns = std::clamp<std::int64_t>(std::llround(std::min(interval, static_cast<double>(kMaxNs))), 1, kMaxNs);
  p.burst = std::max<std::uint32_t>(1, burst);
  return p;
}

std::int64_t GcraParams::capacity_ns() const { return saturating_mul(interval_ns, burst); }

GcraResult gcra_check(std::int64_t tat_ns, std::int64_t now_ns, const GcraParams& params, std::uint32_t cost) {
  const std::int64_t capacity = params.capacity_ns();
  // A bucket can never be owed more than its capacity; only a rate changed by a
  // reload breaks that, and then the bucket keeps "empty" rather than an old delay.
  const std::int64_t tat = std::min(std::max(tat_ns, now_ns), now_ns + capacity);
  const std::int64_t new_tat = tat + saturating_mul(params.interval_ns, cost);
  const std::int64_t allow_at = new_tat - capacity;

  GcraResult result;
  LimitDecision& d = result.decision;
  d.limit = params.burst;
  d.allowed = cost <= params.burst && allow_at <= now_ns;
  if (d.allowed) {
    result.new_tat_ns = new_tat;
  } else {
    result.new_tat_ns = tat;
    d.retry_after = cost > params.burst ? std::chrono::milliseconds::max() : ceil_ms(allow_at - now_ns);
  }
  const std::int64_t owed = result.new_tat_ns - now_ns;  // 0 .. capacity
  d.remaining = static_cast<std::uint32_t>(std::min<std::int64_t>((capacity - owed) / params.interval_ns, params.burst));
  d.reset = ceil_ms(owed);
  return result;
}

InMemoryLimiterStore::InMemoryLimiterStore() : InMemoryLimiterStore(Options{}) {}

InMemoryLimiterStore::InMemoryLimiterStore(Options options)
    : options_(options),
      shard_cap_(std::max<std::size_t>(1, (options.max_keys + kShards - 1) / kShards)),
      shards_(std::make_unique<Shard[]>(kShards)) {
  for (std::size_t i = 0; i < kShards; ++i) {
    shards_[i].sweep_at = std::min(options_.min_sweep_size, shard_cap_);
  }
}

InMemoryLimiterStore::Shard& InMemoryLimiterStore::shard_for(const std::string& key) {
  return shards_[std::hash<std::string>{}(key) % kShards];
}

LimitDecision InMemoryLimiterStore::check(const std::string& bucket_key, const Rate& rate, std::uint32_t burst,
                                          SteadyTime now, std::uint32_t cost) {
  const GcraParams params = GcraParams::from(rate, burst);
  const std::int64_t now_ns = to_ns(now);
  Shard& shard = shard_for(bucket_key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.tat_ns.find(bucket_key);
  const GcraResult result = gcra_check(it == shard.tat_ns.end() ? now_ns : it->second, now_ns, params, cost);
  if (result.new_tat_ns <= now_ns) {
    if (it != shard.tat_ns.end()) {
      shard.tat_ns.erase(it);  // full: the same as never seen
    }
  } else if (it != shard.tat_ns.end()) {
    it->second = result.new_tat_ns;
  } else {
    make_room(shard, now_ns);
    shard.tat_ns.emplace(bucket_key, result.new_tat_ns);
  }
  return result.decision;
}

void InMemoryLimiterStore::refund(const std::string& bucket_key, const Rate& rate, std::uint32_t burst,
                                  SteadyTime now, std::uint32_t cost) {
  const GcraParams params = GcraParams::from(rate, burst);
  const std::int64_t now_ns = to_ns(now);
  Shard& shard = shard_for(bucket_key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.tat_ns.find(bucket_key);
  if (it == shard.tat_ns.end()) {
    return;  // already full
  }
  it->second -= saturating_mul(params.interval_ns, cost);
  if (it->second <= now_ns) {
    shard.tat_ns.erase(it);
  }
}

void InMemoryLimiterStore::debit(const std::string& bucket_key, const Rate& rate, std::uint32_t burst,
                                 SteadyTime now, std::uint64_t cost) {
  const GcraParams params = GcraParams::from(rate, burst);
  const std::int64_t now_ns = to_ns(now);
  Shard& shard = shard_for(bucket_key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.tat_ns.find(bucket_key);
  if (it == shard.tat_ns.end()) {
    make_room(shard, now_ns);  // before inserting: a sweep drops full buckets, as a new one would be
    it = shard.tat_ns.emplace(bucket_key, now_ns).first;
  }
  const std::int64_t start = std::max(it->second, now_ns);
  const std::int64_t cap = now_ns + 2 * params.capacity_ns();  // empty, plus one bucket of debt at most
  it->second = std::min(cap, start + saturating_mul(params.interval_ns, cost));
}

LimitDecision InMemoryLimiterStore::peek(const std::string& bucket_key, const Rate& rate, std::uint32_t burst,
                                         SteadyTime now) {
  const GcraParams params = GcraParams::from(rate, burst);
  const std::int64_t now_ns = to_ns(now);
  std::int64_t tat = now_ns;
  {
    Shard& shard = shard_for(bucket_key);
    std::lock_guard lock(shard.mutex);
    if (auto it = shard.tat_ns.find(bucket_key); it != shard.tat_ns.end()) tat = std::max(tat, it->second);
  }
  const std::int64_t capacity = params.capacity_ns();
  const std::int64_t allow_at = tat + params.interval_ns - capacity;  // when one token is there
  LimitDecision d;
  d.limit = params.burst;
  d.allowed = allow_at <= now_ns;
  if (!d.allowed) d.retry_after = ceil_ms(allow_at - now_ns);
  const std::int64_t owed = std::min(tat - now_ns, capacity);
  d.remaining = static_cast<std::uint32_t>(std::max<std::int64_t>(0, (capacity - owed) / params.interval_ns));
  d.reset = ceil_ms(tat - now_ns);
  return d;
}

void InMemoryLimiterStore::make_room(Shard& shard, std::int64_t now_ns) {
  auto& map = shard.tat_ns;
  if (map.size() < shard.sweep_at && map.size() < shard_cap_) {
    return;
  }
  std::erase_if(map, [&](const auto& entry) { return entry.second <= now_ns; });
  if (map.size() >= shard_cap_) {
    // Drop the eighth with the earliest TAT: the fullest buckets.
    std::vector<std::int64_t> tats;
    tats.reserve(map.size());
    for (const auto& entry : map) {
      tats.push_back(entry.second);
    }
    std::size_t evict = std::max<std::size_t>(1, map.size() / 8);
    std::nth_element(tats.begin(), tats.begin() + static_cast<std::ptrdiff_t>(evict - 1), tats.end());
    const std::int64_t threshold = tats[evict - 1];
    std::size_t below = static_cast<std::size_t>(std::count_if(tats.begin(), tats.end(),
                                                               [&](std::int64_t t) { return t < threshold; }));
    std::size_t at_threshold = evict - below;  // ties: drop only as many as needed
    std::erase_if(map, [&](const auto& entry) {
      if (entry.second < threshold) {
        return true;
      }
      if (entry.second == threshold && at_threshold > 0) {
        --at_threshold;
        return true;
      }
      return false;
    });
    shard.evictions += evict;
  }
  shard.sweep_at = std::clamp(2 * map.size(), std::min(options_.min_sweep_size, shard_cap_), shard_cap_);
}

std::size_t InMemoryLimiterStore::prune(SteadyTime now) {
  const std::int64_t now_ns = to_ns(now);
  std::size_t removed = 0;
  for (std::size_t i = 0; i < kShards; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    removed += std::erase_if(shards_[i].tat_ns, [&](const auto& entry) { return entry.second <= now_ns; });
  }
  return removed;
}

std::size_t InMemoryLimiterStore::size() const {
  std::size_t total = 0;
  for (std::size_t i = 0; i < kShards; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    total += shards_[i].tat_ns.size();
  }
  return total;
}

std::uint64_t InMemoryLimiterStore::evictions() const {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < kShards; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    total += shards_[i].evictions;
  }
  return total;
}

namespace {

LimitPhase phase_of(config::LimitKey key) {
  return key == config::LimitKey::agent ? LimitPhase::agent : LimitPhase::pre;
}

std::string_view key_value(config::LimitKey key, const LimitFacts& facts) {
  switch (key) {
    case config::LimitKey::sender: return facts.sender;
    case config::LimitKey::channel: return facts.channel_name;
    case config::LimitKey::agent: return facts.agent;
    case config::LimitKey::api_key: return facts.api_key;
    case config::LimitKey::global: return "*";
  }
  return {};
}

bool applies_to_channel(const config::LimitConfig& limit, const LimitFacts& facts) {
  if (limit.channels.empty()) {
    return true;
  }
  return std::any_of(limit.channels.begin(), limit.channels.end(), [&](const std::string& c) {
    return c == facts.channel_name || c == facts.channel_type;
  });
}

// The decision a client should see when several limits allowed: the one with
// the least left, and of those the one that takes longest to refill.
bool tighter(const LimitDecision& a, const LimitDecision& b) {
  return a.remaining < b.remaining || (a.remaining == b.remaining && a.reset > b.reset);
}

}  // namespace

Limits::Limits(std::vector<config::LimitConfig> limits) : limits_(std::move(limits)) {}

std::string Limits::bucket_key(const config::LimitConfig& limit, std::string_view value) {
  std::string key;
  key.reserve(limit.name.size() + 1 + value.size());
  key += limit.name;
  key += '|';
  key += value;
  return key;
}

LimitOutcome Limits::check(LimiterStore& store, LimitPhase phase, const LimitFacts& facts, SteadyTime now,
                           std::uint32_t cost) const {
  struct Taken {
    const config::LimitConfig* limit;
    std::string key;
  };
  std::vector<Taken> taken;
  LimitOutcome outcome;
  for (const auto& limit : limits_) {
    std::string_view value = key_value(limit.key, facts);
    if (phase_of(limit.key) != phase || value.empty() || !applies_to_channel(limit, facts)) {
      continue;
    }
    std::string key = bucket_key(limit, value);
    // A token budget is not spent by the check: it needs one token left, no more.
    LimitDecision decision =
        limit.tokens ? store.peek(key, limit.rate, limit.burst, now) : store.check(key, limit.rate, limit.burst, now, cost);
    if (!decision.allowed) {
      for (const auto& t : taken) {
        store.refund(t.key, t.limit->rate, t.limit->burst, now, cost);
      }
      return LimitOutcome{false, limit.name, decision};
    }
    if (outcome.limit.empty() || tighter(decision, outcome.decision)) {
      outcome = LimitOutcome{true, limit.name, decision};
    }
    if (!limit.tokens) taken.push_back({&limit, std::move(key)});
  }
  return outcome;
}

void Limits::debit_tokens(LimiterStore& store, const LimitFacts& facts, std::uint64_t tokens, SteadyTime now) const {
  if (tokens == 0) return;
  for (const auto& limit : limits_) {
    std::string_view value = key_value(limit.key, facts);
    if (!limit.tokens || value.empty() || !applies_to_channel(limit, facts)) continue;
    store.debit(bucket_key(limit, value), limit.rate, limit.burst, now, tokens);
  }
}

}  // namespace hermes::routing
