#pragma once
// Private to src/backends: helpers for backend coroutines.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>

#include <exception>

#include "hermes/core/backend.hpp"

namespace hermes::backends {

// A backend runs with throw_if_cancelled(false), so a cancelled request ends
// in a Completion with error = cancelled instead of an exception thrown out of
// the next co_await (the data plane reports errors as values). The setting
// belongs to the whole coroutine thread, so complete() restores the caller's:
//
//   bool throws = co_await disable_cancel_exceptions();
//   Completion c = co_await run(...);
//   co_await restore_cancel_exceptions(throws);
//
// (Written out rather than as a wrapper taking a callable: GCC 12 mishandles
// an aggregate temporary passed to a coroutine inside a co_await expression.)
inline boost::asio::awaitable<bool> disable_cancel_exceptions() {
  bool throws = co_await boost::asio::this_coro::throw_if_cancelled();
  co_await boost::asio::this_coro::throw_if_cancelled(false);
  co_return throws;
}

inline boost::asio::awaitable<void> restore_cancel_exceptions(bool throws) {
  co_await boost::asio::this_coro::throw_if_cancelled(throws);
}

// The base of every built-in backend: complete() runs the backend's run() with
// cancellation reported as a value, and restores the caller's setting even when
// run() throws (e.g. from the ReplyStream).
class ValueCancellingBackend : public ModelBackend {
 public:
  boost::asio::awaitable<Completion> complete(CompletionRequest request, ReplyStream& reply) final {
    bool throws = co_await disable_cancel_exceptions();
    std::exception_ptr failure;
    Completion completion;
    try {
      completion = co_await run(std::move(request), reply);
    } catch (...) {
      failure = std::current_exception();  // restore the setting first
    }
    co_await restore_cancel_exceptions(throws);
    if (failure) std::rethrow_exception(failure);
    co_return completion;
  }

 protected:
  virtual boost::asio::awaitable<Completion> run(CompletionRequest request, ReplyStream& reply) = 0;
};

// True once the calling coroutine has been cancelled.
inline boost::asio::awaitable<bool> cancelled() {
  auto state = co_await boost::asio::this_coro::cancellation_state;
  co_return state.cancelled() != boost::asio::cancellation_type::none;
}

}  // namespace hermes::backends
