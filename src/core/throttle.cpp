#include "hermes/core/throttle.hpp"

#include <algorithm>

namespace hermes {

bool ThrottleBucket::take(double burst, double per_second, std::uint64_t& suppressed_out, Clock::time_point now) {
  if (last && now > *last) {
    tokens = std::min(burst, tokens + std::chrono::duration<double>(now - *last).count() * per_second);
  }
  if (!last || now > *last) last = now;
  if (tokens >= 1.0) {
    tokens -= 1.0;
    suppressed_out = suppressed;
    suppressed = 0;
    return true;
  }
  ++suppressed;
  return false;
}

bool ThrottleBucket::refilled(double burst, double per_second, Clock::time_point now) const {
  double refilled = tokens;
  if (last && now > *last) refilled += std::chrono::duration<double>(now - *last).count() * per_second;
  return refilled >= burst;
}

bool EventThrottle::allow(std::uint64_t& suppressed_out, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  return bucket_.take(burst_, per_second_, suppressed_out, now);
}

KeyedEventThrottle::KeyedEventThrottle(std::size_t capacity, double burst, double per_second)
    : capacity_(std::max<std::size_t>(capacity, 1)), burst_(burst), per_second_(per_second), overflow_(burst) {}

bool KeyedEventThrottle::allow(std::string_view key, std::uint64_t& suppressed_out, bool& overflow_out,
                               Clock::time_point now) {
  std::lock_guard lock(mutex_);
  overflow_out = false;
  auto found = entries_.find(std::string(key));
  if (found != entries_.end()) {
    recency_.splice(recency_.begin(), recency_, found->second.recency);
    return found->second.bucket.take(burst_, per_second_, suppressed_out, now);
  }
  if (entries_.size() >= capacity_) {
    auto oldest = entries_.find(recency_.back());
    if (!oldest->second.bucket.refilled(burst_, per_second_, now)) {
      overflow_out = true;
      return overflow_.take(burst_, per_second_, suppressed_out, now);
    }
    overflow_.suppressed += oldest->second.bucket.suppressed;  // its count is not lost
    entries_.erase(oldest);
    recency_.pop_back();
  }
  recency_.emplace_front(key);
  auto [inserted, ok] = entries_.emplace(recency_.front(), Entry{ThrottleBucket(burst_), recency_.begin()});
  return inserted->second.bucket.take(burst_, per_second_, suppressed_out, now);
}

std::size_t KeyedEventThrottle::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

namespace {

void record_with(AuditSink& audit, AuditEvent event, std::uint64_t suppressed, const char* per) {
  if (!event.detail_json.empty()) {
    event.detail = event.detail_object();  // refusals are rare enough for a DOM
    event.detail_json.clear();
  }
  event.detail["suppressed_since_last"] = suppressed;
  if (per) event.detail["throttled_per"] = per;
  audit.record(std::move(event));
}

}  // namespace

void record_throttled(AuditSink& audit, EventThrottle& throttle, AuditEvent event) {
  std::uint64_t suppressed = 0;
  if (!throttle.allow(suppressed)) return;
  record_with(audit, std::move(event), suppressed, nullptr);
}

void record_throttled(AuditSink& audit, KeyedEventThrottle& throttle, std::string_view key, AuditEvent event) {
  std::uint64_t suppressed = 0;
  bool overflow = false;
  if (!throttle.allow(key, suppressed, overflow)) return;
  record_with(audit, std::move(event), suppressed, overflow ? "overflow" : "key");
}

}  // namespace hermes
