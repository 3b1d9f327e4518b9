#pragma once
// Rate-limits records of a repeated event (a log line, an audit row) without losing the
// count: what it suppresses is handed to the next record that gets through.

#include <chrono>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "hermes/core/audit_sink.hpp"

namespace hermes {

// One token bucket and the count of what it held back (not thread-safe on its own).
struct ThrottleBucket {
  using Clock = std::chrono::steady_clock;
  double tokens;
  std::uint64_t suppressed = 0;
  std::optional<Clock::time_point> last;

  explicit ThrottleBucket(double burst) : tokens(burst) {}
  bool take(double burst, double per_second, std::uint64_t& suppressed_out, Clock::time_point now);
  // Quiet long enough to have its whole burst back.
  bool refilled(double burst, double per_second, Clock::time_point now) const;
};

class EventThrottle {
 public:
  // `burst` records at once, then `per_second`.
  explicit EventThrottle(double burst = 20, double per_second = 1) : burst_(burst), per_second_(per_second), bucket_(burst) {}

  using Clock = std::chrono::steady_clock;
  // True when this occurrence may be recorded; `suppressed_out` is then the number of
  // occurrences not recorded since the previous one that was.
  bool allow(std::uint64_t& suppressed_out) { return allow(suppressed_out, Clock::now()); }
  bool allow(std::uint64_t& suppressed_out, Clock::time_point now);

 private:
  const double burst_;
  const double per_second_;
  std::mutex mutex_;
  ThrottleBucket bucket_;
};

// An EventThrottle per key — channel, key or sender, status — for refusals whose key the
// client chooses, so one flooding key neither fills the audit log nor hides another key's
// refusals. At most `capacity` keys are tracked: when the table is full, the least recently
// used key is forgotten once it is quiet (its burst refilled; what it held back moves to
// the overflow bucket's count); otherwise the new key shares that overflow bucket. The
// table cannot grow, and a flood of fresh keys is still throttled, as one.
class KeyedEventThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  explicit KeyedEventThrottle(std::size_t capacity = 4096, double burst = 20, double per_second = 1);
  KeyedEventThrottle(const KeyedEventThrottle&) = delete;
  KeyedEventThrottle& operator=(const KeyedEventThrottle&) = delete;

  // As EventThrottle::allow, for `key`; `overflow_out` is set when the shared bucket decided.
  bool allow(std::string_view key, std::uint64_t& suppressed_out, bool& overflow_out) {
    return allow(key, suppressed_out, overflow_out, Clock::now());
  }
  bool allow(std::string_view key, std::uint64_t& suppressed_out, bool& overflow_out, Clock::time_point now);
  std::size_t size() const;

 private:
  struct Entry {
    ThrottleBucket bucket;
    std::list<std::string>::iterator recency;
  };
  const std::size_t capacity_;
  const double burst_;
  const double per_second_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> recency_;  // most recently used first
  ThrottleBucket overflow_;
};

// Records `event` when `throttle` allows it, with detail.suppressed_since_last. For
// refusals a client can repeat for free (no key, a bad signature, a busy gateway): a flood
// can neither fill the audit queue nor hide its size.
void record_throttled(AuditSink& audit, EventThrottle& throttle, AuditEvent event);
// The same per key: the row also says `throttled_per: key`, or `overflow` when the key
// shared the overflow bucket (its count then covers every key in it).
void record_throttled(AuditSink& audit, KeyedEventThrottle& throttle, std::string_view key, AuditEvent event);

}  // namespace hermes
