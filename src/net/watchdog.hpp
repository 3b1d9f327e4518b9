#pragma once
// Private to src/net: a phase deadline for outbound connections (the HTTP client, the SMTP
// client).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace hermes::net {

// Closes a socket (or cancels a resolve) when a phase deadline passes. The
// timer runs on the calling coroutine's executor, so on a strand its action
// never races with the coroutine's own I/O; a generation number makes a
// completion that was already queued when the phase ended harmless.
class Watchdog {
 public:
  explicit Watchdog(boost::asio::any_io_executor executor) : timer_(std::move(executor)), state_(std::make_shared<State>()) {}
  ~Watchdog() { disarm(); }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void arm(std::chrono::steady_clock::time_point at, std::function<void()> action) {
    auto generation = ++state_->generation;
    state_->action = std::move(action);
    if (at == std::chrono::steady_clock::time_point::max()) {
      timer_.cancel();
      return;
    }
    timer_.expires_at(at);
    timer_.async_wait([state = state_, generation](boost::system::error_code ec) {
      if (ec || state->generation != generation) {
        return;
      }
      state->fired = true;
      if (state->action) {
        state->action();
      }
    });
  }
  void disarm() {
    ++state_->generation;
    state_->action = nullptr;
    timer_.cancel();
  }
  bool fired() const { return state_->fired; }

 private:
  struct State {
    std::uint64_t generation = 0;
    bool fired = false;
    std::function<void()> action;
  };
  boost::asio::steady_timer timer_;
  std::shared_ptr<State> state_;
};

}  // namespace hermes::net
