#pragma once
// What the gateway puts around every model backend, whatever its type
// (config::ResilienceConfig, from the model's YAML):
//   - retries with jittered exponential backoff on connect errors, 5xx and 429
//     (the upstream's Retry-After wins when longer), never after the first
//     token reached the client, always inside the request's deadline;
//   - a circuit breaker: `failures` within `window` open it; after `cooldown`
//     one probe call decides between closing it and opening it again;
//   - a concurrency cap with a bounded wait for a free slot.
// Calls it refuses end at once with BackendErrorKind::circuit_open or busy, so
// the pipeline goes on to the agent's fallback.

#include <memory>
#include <string>

#include "hermes/config/extensions.hpp"
#include "hermes/core/backend.hpp"

namespace hermes::observability {
class MetricsRegistry;
}

namespace hermes::backends {

enum class BreakerState { closed, open, half_open };
std::string_view breaker_state_name(BreakerState s);

// The breaker's bookkeeping, separate from I/O so it can be tested with a fake clock.
class Breaker {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Breaker(const config::ResilienceConfig& config) : config_(config) {}
  // Whether a call may go ahead now; in half-open state only one probe at a time.
  bool allow(Clock::time_point now);
  // The outcome of an allowed call: `failure` says the upstream looks unhealthy.
  void record(bool failure, Clock::time_point now);
  BreakerState state(Clock::time_point now) const;

 private:
  config::ResilienceConfig config_;
  BreakerState state_ = BreakerState::closed;
  std::vector<Clock::time_point> failures_;  // within the window, oldest first
  Clock::time_point opened_at_{};
  bool probing_ = false;
};

// Whether a completion says something about the upstream's health (for the breaker).
bool counts_as_failure(const Completion& c);
// Whether a failed completion may be tried again on the same backend.
bool retryable(const Completion& c);

std::unique_ptr<ModelBackend> make_resilient(std::unique_ptr<ModelBackend> inner, const config::ModelSpec& spec,
                                             observability::MetricsRegistry* metrics);

}  // namespace hermes::backends
