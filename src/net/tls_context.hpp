#pragma once
// Private to src/net: the definition behind the opaque hermes::net::TlsContext.

#include <boost/asio/ssl/context.hpp>

#include "hermes/net/server.hpp"

namespace hermes::net {

class TlsContext {
 public:
  TlsContext() : ssl(boost::asio::ssl::context::tls_server) {}
  boost::asio::ssl::context ssl;
};

}  // namespace hermes::net
