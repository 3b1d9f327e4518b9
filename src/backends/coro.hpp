#pragma once
// Private to src/backends: helpers for backend coroutines.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>

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

// True once the calling coroutine has been cancelled.
inline boost::asio::awaitable<bool> cancelled() {
  auto state = co_await boost::asio::this_coro::cancellation_state;
  co_return state.cancelled() != boost::asio::cancellation_type::none;
}

}  // namespace hermes::backends
