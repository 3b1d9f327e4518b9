#pragma once
// Private to src/net: the completion token for operations whose error is a value.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace hermes::net {

// co_await op(kAsTuple) gives a tuple (error_code, results...) instead of throwing.
inline constexpr auto kAsTuple = boost::asio::as_tuple(boost::asio::use_awaitable);

}  // namespace hermes::net
