#pragma once
// Private to src/net: what a connection of any protocol shares with the acceptor, so a
// drain can reach it.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <cstdint>
#include <optional>

namespace hermes::net {

// What a connection shares with the server so a drain can reach it.
struct ConnectionState {
  // The connection's strand, or the io_context's executor itself when one thread runs it.
  boost::asio::any_io_executor executor;
  boost::asio::ip::tcp::socket* socket = nullptr;  // touched only on `executor`
  bool busy = false;              // a request is being read or answered
  bool websocket = false;         // upgraded: a drain ends it (browsers reconnect elsewhere)
  // The connection's coroutine is bound to this: DisconnectWatch emits on it when the
  // client leaves, which cancels whatever the handler awaits.
  boost::asio::cancellation_signal client_left;
  bool left = false;                 // the watch saw the client close
  bool tls = false;                  // the socket carries TLS records, not HTTP bytes
  std::array<unsigned char, 64> peeked{};  // the watch's peek lands here (TLS: a record's start)
  std::uint64_t watch_generation = 0;  // a watch's callback acts only for its own handler call
  std::optional<boost::asio::steady_timer> probe_timer;  // see DisconnectWatch::probe
  explicit ConnectionState(boost::asio::any_io_executor e) : executor(std::move(e)) {}
};

}  // namespace hermes::net
