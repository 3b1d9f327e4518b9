#pragma once
// The jittered exponential backoff every retry loop uses (outbox deliveries, model calls,
// Slack's Socket Mode reconnections).

#include <chrono>

namespace hermes {

// `first` doubled `doublings` times, at most `cap`, then a uniform pick in [half of it, all
// of it]: peers recovering from an outage are not hit in lockstep. Callers bound
// `doublings` (the product must fit in milliseconds).
std::chrono::milliseconds jittered_backoff(std::chrono::milliseconds first, int doublings,
                                           std::chrono::milliseconds cap = std::chrono::milliseconds::max());

}  // namespace hermes
