#pragma once
// Private to src/net: an LMTP connection, started by the acceptor (server.cpp) once the
// peer is admitted. Defined in lmtp.cpp, so server.cpp compiles no LMTP.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "hermes/net/lmtp.hpp"
#include "hermes/observability/metrics.hpp"
#include "src/net/connection_state.hpp"

namespace hermes::net {

class TlsContext;

struct LmtpSession {
  std::string listener;
  IpAddress peer;
  LmtpSettings settings;
  std::shared_ptr<const LmtpRoutes> routes;
  std::function<std::shared_ptr<const LmtpRoutes>()> current_routes;  // the listener's, after reloads
  std::shared_ptr<TlsContext> tls;  // null: no STARTTLS
  std::shared_ptr<ConnectionState> state;
  const std::atomic<bool>* draining = nullptr;
  observability::CounterFamily* replies = nullptr;  // hermes_lmtp_replies_total{listener,code}
};

boost::asio::awaitable<void> serve_lmtp(boost::asio::ip::tcp::socket socket, LmtpSession session);

}  // namespace hermes::net
