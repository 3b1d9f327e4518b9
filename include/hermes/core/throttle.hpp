#pragma once
// Rate-limits records of a repeated event (a log line, an audit row) without losing the
// count: what it suppresses is handed to the next record that gets through.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

#include "hermes/core/audit_sink.hpp"

namespace hermes {

class EventThrottle {
 public:
  // `burst` records at once, then `per_second`.
  explicit EventThrottle(double burst = 20, double per_second = 1) : burst_(burst), per_second_(per_second), tokens_(burst) {}

  using Clock = std::chrono::steady_clock;
  // True when this occurrence may be recorded; `suppressed_out` is then the number of
  // occurrences not recorded since the previous one that was.
  bool allow(std::uint64_t& suppressed_out) { return allow(suppressed_out, Clock::now()); }
  bool allow(std::uint64_t& suppressed_out, Clock::time_point now);

 private:
  const double burst_;
  const double per_second_;
  std::mutex mutex_;
  double tokens_;
  std::uint64_t suppressed_ = 0;
  std::optional<Clock::time_point> last_;
};

// Records `event` when `throttle` allows it, with detail.suppressed_since_last. For
// refusals a client can repeat for free (no key, a bad signature, a busy gateway): a flood
// can neither fill the audit queue nor hide its size.
void record_throttled(AuditSink& audit, EventThrottle& throttle, AuditEvent event);

}  // namespace hermes
