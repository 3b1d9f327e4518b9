#include "hermes/backends/resilient.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <deque>
#include <mutex>

#include "hermes/core/backoff.hpp"
#include "hermes/observability/metrics.hpp"

namespace hermes::backends {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string_view breaker_state_name(BreakerState s) {
  switch (s) {
    case BreakerState::closed: return "closed";
    case BreakerState::open: return "open";
    case BreakerState::half_open: return "half_open";
  }
  return "unknown";
}

bool Breaker::allow(Clock::time_point now) {
  if (config_.breaker_failures == 0) return true;
  if (state_ == BreakerState::open) {
    if (now - opened_at_ < config_.breaker_cooldown) return false;
    state_ = BreakerState::half_open;
    probing_ = false;
  }
  if (state_ == BreakerState::half_open) {
    if (probing_) return false;  // one probe at a time decides
    probing_ = true;
  }
  return true;
}

void Breaker::record(bool failure, Clock::time_point now) {
  if (config_.breaker_failures == 0) return;
  if (state_ == BreakerState::half_open) {
    probing_ = false;
    if (failure) {
      state_ = BreakerState::open;
      opened_at_ = now;
    } else {
      state_ = BreakerState::closed;
      failures_.clear();
    }
    return;
  }
  if (!failure || state_ == BreakerState::open) return;
  failures_.push_back(now);
  std::erase_if(failures_, [&](Clock::time_point t) { return now - t > config_.breaker_window; });
  if (failures_.size() >= config_.breaker_failures) {
    state_ = BreakerState::open;
    opened_at_ = now;
    failures_.clear();
  }
}

BreakerState Breaker::state(Clock::time_point now) const {
  if (state_ == BreakerState::open && now - opened_at_ >= config_.breaker_cooldown) return BreakerState::half_open;
  return state_;
}

bool counts_as_failure(const Completion& c) {
  switch (c.error) {
    case BackendErrorKind::connect:
    case BackendErrorKind::timeout:
    case BackendErrorKind::protocol: return true;
    case BackendErrorKind::http_status: return c.upstream_status >= 500;
    default: return false;  // ok, 4xx, rate limits, a client that left: the upstream is alive
  }
}

bool retryable(const Completion& c) {
  if (c.ok || c.streamed) return false;
  switch (c.error) {
    case BackendErrorKind::connect:
    case BackendErrorKind::rate_limited: return true;
    case BackendErrorKind::http_status: return c.upstream_status >= 500;
    default: return false;  // a timeout already spent its time; cancelled, protocol: no
  }
}

namespace {

// A counting semaphore whose waiters give up after a deadline. Waiters may sit on
// different threads' executors, so a released slot is handed over by posting to
// the waiter's own executor.
class Slots {
 public:
  explicit Slots(std::uint32_t capacity) : capacity_(capacity) {}

  asio::awaitable<bool> acquire(Clock::time_point until) {
    auto waiter = std::make_shared<Waiter>();
    {
      std::lock_guard lock(mutex_);
      if (in_use_ < capacity_) {
        ++in_use_;
        co_return true;
      }
      waiter->executor = co_await asio::this_coro::executor;
      waiter->timer = std::make_unique<asio::steady_timer>(waiter->executor, until);
      waiters_.push_back(waiter);
    }
    co_await waiter->timer->async_wait(asio::as_tuple(asio::use_awaitable));
    std::lock_guard lock(mutex_);
    if (waiter->granted) co_return true;
    std::erase(waiters_, waiter);
    co_return false;
  }

  void release() {
    std::lock_guard lock(mutex_);
    if (waiters_.empty()) {
      --in_use_;
      return;
    }
    auto next = waiters_.front();  // the slot passes straight to the oldest waiter
    waiters_.pop_front();
    next->granted = true;
    asio::post(next->executor, [next] { next->timer->cancel(); });
  }

  std::uint32_t in_use() const {
    std::lock_guard lock(mutex_);
    return in_use_;
  }

 private:
  struct Waiter {
    asio::any_io_executor executor;
    std::unique_ptr<asio::steady_timer> timer;
    bool granted = false;
  };
  mutable std::mutex mutex_;
  std::uint32_t capacity_;
  std::uint32_t in_use_ = 0;
  std::deque<std::shared_ptr<Waiter>> waiters_;
};

Completion refused(BackendErrorKind kind, std::string message) {
  Completion c;
  c.error = kind;
  c.error_message = std::move(message);
  c.attempts = 0;
  return c;
}

class ResilientBackend final : public ModelBackend {
 public:
  ResilientBackend(std::unique_ptr<ModelBackend> inner, const config::ModelSpec& spec,
                   observability::MetricsRegistry* metrics)
      : inner_(std::move(inner)), name_(spec.name), config_(spec.resilience), breaker_(spec.resilience),
        slots_(spec.resilience.max_concurrency) {
    if (!metrics) return;
    breaker_gauge_ = &metrics
                          ->gauge("hermes_backend_breaker_state",
                                  "Circuit breaker per model: 0 closed, 1 half-open, 2 open.", {"model"})
                          .with({name_});
    retries_ = &metrics->counter("hermes_backend_retries_total", "Calls retried on the same model.", {"model"})
                    .with({name_});
    shed_ = &metrics->counter("hermes_backend_shed_total",
                              "Calls not made: breaker open or no free slot, by model and reason.",
                              {"model", "reason"});
    in_flight_ = &metrics->gauge("hermes_backend_in_flight", "Calls in flight per model.", {"model"}).with({name_});
  }

  asio::awaitable<Completion> complete(CompletionRequest request, ReplyStream& reply) override {
    if (config_.max_concurrency > 0) {
      auto until = std::min(request.deadline, Clock::now() + config_.queue_timeout);
      bool got = co_await slots_.acquire(until);
      if (!got) {
        shed("busy");
        co_return refused(BackendErrorKind::busy, "model " + name_ + " is at max_concurrency");
      }
    }
    struct Slot {
      ResilientBackend& self;
      ~Slot() {
        if (self.config_.max_concurrency > 0) self.slots_.release();
        if (self.in_flight_) self.in_flight_->add(-1);
      }
    } slot{*this};
    if (in_flight_) in_flight_->add(1);
    co_return co_await with_retries(std::move(request), reply);
  }

  std::string cannot_serve(const CompletionRequest& request) const override { return inner_->cannot_serve(request); }

  // Unhealthy only while the breaker is open. It half-opens by itself after the
  // cooldown, so a /readyz that depends on this recovers without traffic (a load
  // balancer that stopped sending would otherwise keep it failed for good).
  BackendHealth health() const override {
    auto state = breaker_state();
    if (state == BreakerState::open) return {false, "circuit open after repeated failures; probing after cooldown"};
    auto inner = inner_->health();
    std::string detail = inner.healthy ? inner.detail : "recent failures: " + inner.detail;
    if (state == BreakerState::half_open) detail = "circuit half-open (the next call probes); " + detail;
    return {true, detail};
  }

 private:
  BreakerState breaker_state() const {
    std::lock_guard lock(breaker_mutex_);
    return breaker_.state(Clock::now());
  }

  bool breaker_allows() {
    std::lock_guard lock(breaker_mutex_);
    bool allowed = breaker_.allow(Clock::now());
    publish_state();
    return allowed;
  }

  void breaker_record(const Completion& c) {
    std::lock_guard lock(breaker_mutex_);
    breaker_.record(counts_as_failure(c), Clock::now());
    publish_state();
  }

  void publish_state() {  // under breaker_mutex_
    if (!breaker_gauge_) return;
    auto s = breaker_.state(Clock::now());
    breaker_gauge_->set(s == BreakerState::closed ? 0 : s == BreakerState::half_open ? 1 : 2);
  }

  void shed(const std::string& reason) {
    if (shed_) shed_->with({name_, reason}).inc();
  }

  asio::awaitable<Completion> with_retries(CompletionRequest request, ReplyStream& reply) {
    asio::steady_timer wait(co_await asio::this_coro::executor);
    Completion c;
    int attempts = 0;
    for (;;) {
      if (!breaker_allows()) {
        shed("circuit_open");
        if (attempts == 0) c = refused(BackendErrorKind::circuit_open, "model " + name_ + ": circuit open");
        break;  // after a failed attempt, its own error says more
      }
      ++attempts;
      c = co_await inner_->complete(request, reply);
      breaker_record(c);
      if (!retryable(c) || attempts > static_cast<int>(config_.retry_attempts)) break;
      auto delay = std::max(c.retry_after, jittered_backoff(config_.retry_backoff, std::min(attempts - 1, 16)));
      if (Clock::now() + delay >= request.deadline) break;  // no time left to try again
      if (retries_) retries_->inc();
      wait.expires_after(delay);
      auto [ec] = co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) {  // the client went away while we waited
        c = refused(BackendErrorKind::cancelled, "cancelled while waiting to retry");
        break;
      }
    }
    c.attempts = attempts;
    co_return c;
  }

  std::unique_ptr<ModelBackend> inner_;
  std::string name_;
  config::ResilienceConfig config_;
  mutable std::mutex breaker_mutex_;
  Breaker breaker_;
  Slots slots_;
  observability::Gauge* breaker_gauge_ = nullptr;
  observability::Counter* retries_ = nullptr;
  observability::CounterFamily* shed_ = nullptr;
  observability::Gauge* in_flight_ = nullptr;
};

}  // namespace

std::unique_ptr<ModelBackend> make_resilient(std::unique_ptr<ModelBackend> inner, const config::ModelSpec& spec,
                                             observability::MetricsRegistry* metrics) {
  return std::make_unique<ResilientBackend>(std::move(inner), spec, metrics);
}

}  // namespace hermes::backends
