#pragma once
// Private to src/backends: helpers for backend coroutines.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>

#include <exception>

namespace hermes::backends {

// Runs `work()` with throw_if_cancelled(false), then restores the caller's
// setting (it belongs to the whole coroutine thread). A cancelled request then
// ends in a Completion with error = cancelled instead of an exception thrown
// out of the next co_await: the data plane reports errors as values.
template <class Result, class Work>
boost::asio::awaitable<Result> without_cancel_exceptions(Work work) {
  namespace this_coro = boost::asio::this_coro;
  bool throws = co_await this_coro::throw_if_cancelled();
  co_await this_coro::throw_if_cancelled(false);
  std::exception_ptr failure;
  Result result{};
  try {
    result = co_await work();
  } catch (...) {
    failure = std::current_exception();  // e.g. from a ReplyStream; restore first, then pass it on
  }
  co_await this_coro::throw_if_cancelled(throws);
  if (failure) {
    std::rethrow_exception(failure);
  }
  co_return result;
}

// True once the calling coroutine has been cancelled.
inline boost::asio::awaitable<bool> cancelled() {
  auto state = co_await boost::asio::this_coro::cancellation_state;
  co_return state.cancelled() != boost::asio::cancellation_type::none;
}

}  // namespace hermes::backends
