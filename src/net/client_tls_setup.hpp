#pragma once
// Internal to src/net: outbound TLS as a ClientTls block says, one way for every client
// (SMTP submission, the WebSocket client).

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <string>

#include "hermes/net/client_tls.hpp"

namespace hermes::net {

// Configures a tls_client `context`: TLS 1.2 or later, no compression, and the peer checked
// against tls.ca_file (or the system's CAs) unless tls.verify is false. An error when the
// CAs cannot be loaded.
boost::system::error_code configure_client_tls(boost::asio::ssl::context& context, const ClientTls& tls);

// Whether `host` is an IP address literal (not a name).
bool is_ip_literal(const std::string& host);

// Before the handshake: SNI (names only: RFC 6066 forbids IP literals there) and, when
// verifying, that the certificate names tls.server_name, or `host` without one.
template <class Next>
void name_the_peer(boost::asio::ssl::stream<Next>& stream, const ClientTls& tls, const std::string& host) {
  std::string name = tls.server_name.empty() ? host : tls.server_name;
  if (!is_ip_literal(name)) SSL_set_tlsext_host_name(stream.native_handle(), name.c_str());
  if (tls.verify) stream.set_verify_callback(boost::asio::ssl::host_name_verification(name));
}

}  // namespace hermes::net
