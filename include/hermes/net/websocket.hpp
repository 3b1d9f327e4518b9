#pragma once
// WebSocket endpoints without Beast in sight: a route that upgrades, and the
// socket a handler reads and writes text messages on. Beast stays in src/net.

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "hermes/core/units.hpp"
#include "hermes/net/client_tls.hpp"
#include "hermes/net/http.hpp"

namespace hermes::net {

class WebSocket {
 public:
  virtual ~WebSocket() = default;
  // The next message; nullopt once the connection has ended (see end_reason()).
  virtual boost::asio::awaitable<std::optional<std::string>> read() = 0;
  // Sends one text message, waiting while the peer is slow to read (back-pressure).
  // Writes from several coroutines are sent one after another. False: gone.
  virtual boost::asio::awaitable<bool> write(std::string text) = 0;
  // Sends a close frame (once); later reads end.
  virtual boost::asio::awaitable<void> close(std::uint16_t code, std::string reason) = 0;
  virtual bool is_open() const = 0;
  // Why read() ended: "closed" (by the peer), "too_big", "timeout", "error", "local_close".
  virtual const std::string& end_reason() const = 0;
};

struct WebSocketRoute {
  std::size_t max_message = 64 * 1024;  // larger messages close the connection (1009)
  Duration idle_timeout{300'000};       // pings at half of it; no answer by the end closes
  // Checks the upgrade request (Origin, limits); a response refuses it, nullopt accepts.
  std::function<std::optional<HttpResponse>(const HttpRequest&)> admit;
  // Called when a request `admit` accepted never reaches the handler (the handshake
  // failed): what admit reserved for it is given back here.
  std::function<void(const HttpRequest&)> abandoned;
  // Runs for the life of the connection. It must be done with the socket when it
  // returns: the connection is closed and freed then.
  std::function<boost::asio::awaitable<void>(HttpRequest, std::shared_ptr<WebSocket>)> handler;
};

struct WebSocketClientOptions {
  std::size_t max_message = 64 * 1024;  // larger messages from the peer close the connection (1009)
  Duration connect_timeout{5'000};      // resolving, connecting and the opening handshake
  Duration idle_timeout{300'000};       // pings at half of it; no answer by the end closes
  // False: no pings, so idle_timeout is a deadline on silence (a request/answer
  // exchange whose peer would answer pings but never the request).
  bool keep_alive_pings = true;
  std::string host_header;              // empty: host:port as connected
};

struct WebSocketConnectResult {
  std::shared_ptr<WebSocket> socket;  // null on failure
  std::string error;                  // why, for logs (never a secret: targets carry none)
};

// Opens ws://host:port<target> (plain TCP; `host` may be a bracketed IPv6 literal), on the
// calling coroutine's executor. No Origin header is sent.
boost::asio::awaitable<WebSocketConnectResult> connect_websocket(std::string host, std::uint16_t port,
                                                                 std::string target, WebSocketClientOptions options);

// Opens a ws:// or wss:// URL. wss verifies the server's certificate by `tls` (the system's
// CAs unless tls.ca_file; the URL's host unless tls.server_name) before the handshake.
// Errors name the host and port, never the URL's path or query (Slack's carry a ticket).
boost::asio::awaitable<WebSocketConnectResult> connect_websocket_url(std::string url, WebSocketClientOptions options,
                                                                     ClientTls tls = {});

}  // namespace hermes::net
