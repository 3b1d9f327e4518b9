#pragma once
// Internal to src/net: serving an upgraded connection. Instantiated in
// websocket.cpp for the two stream types, so server.cpp does not compile the
// WebSocket templates.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <memory>
#include <string>

#include "hermes/net/websocket.hpp"

namespace hermes::net {

using UpgradeRequest = boost::beast::http::request<boost::beast::http::string_body>;

// Completes the handshake and runs the route's handler until it returns. `early` holds
// bytes the client sent after its upgrade request and before our answer (frames sent
// too soon): they are read as the first frames, not dropped.
template <class Stream>
boost::asio::awaitable<void> serve_websocket(Stream& stream, UpgradeRequest head,
                                             std::shared_ptr<const WebSocketRoute> route, HttpRequest request,
                                             std::string early);

extern template boost::asio::awaitable<void> serve_websocket(boost::beast::tcp_stream&, UpgradeRequest,
                                                             std::shared_ptr<const WebSocketRoute>, HttpRequest,
                                                             std::string);
extern template boost::asio::awaitable<void> serve_websocket(boost::asio::ssl::stream<boost::beast::tcp_stream>&,
                                                             UpgradeRequest, std::shared_ptr<const WebSocketRoute>,
                                                             HttpRequest, std::string);

}  // namespace hermes::net
