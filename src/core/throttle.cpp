#include "hermes/core/throttle.hpp"

#include <algorithm>

namespace hermes {

bool EventThrottle::allow(std::uint64_t& suppressed_out, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (last_ && now > *last_) {
    tokens_ = std::min(burst_, tokens_ + std::chrono::duration<double>(now - *last_).count() * per_second_);
  }
  if (!last_ || now > *last_) last_ = now;
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    suppressed_out = suppressed_;
    suppressed_ = 0;
    return true;
  }
  ++suppressed_;
  return false;
}

void record_throttled(AuditSink& audit, EventThrottle& throttle, AuditEvent event) {
  std::uint64_t suppressed = 0;
  if (!throttle.allow(suppressed)) return;
  if (!event.detail_json.empty()) {
    event.detail = event.detail_object();  // refusals are rare enough for a DOM
    event.detail_json.clear();
  }
  event.detail["suppressed_since_last"] = suppressed;
  audit.record(std::move(event));
}

}  // namespace hermes
