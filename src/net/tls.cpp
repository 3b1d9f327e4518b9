#include "src/net/tls_context.hpp"

#include <boost/asio/ip/address.hpp>

#include "src/net/client_tls_setup.hpp"

namespace hermes::net {

std::shared_ptr<TlsContext> load_tls_context(const std::filesystem::path& cert, const std::filesystem::path& key,
                                             std::string& error) {
  namespace ssl = boost::asio::ssl;
  auto ctx = std::make_shared<TlsContext>();
  boost::system::error_code ec;
  ctx->ssl.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                           ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                       ec);
  if (!ec) ctx->ssl.use_certificate_chain_file(cert.string(), ec);
  if (ec) {
    error = "cannot load TLS certificate " + cert.string() + ": " + ec.message();
    return nullptr;
  }
  ctx->ssl.use_private_key_file(key.string(), ssl::context::pem, ec);
  if (ec) {
    error = "cannot load TLS key " + key.string() + ": " + ec.message();
    return nullptr;
  }
  if (SSL_CTX_check_private_key(ctx->ssl.native_handle()) != 1) {
    error = "TLS key " + key.string() + " does not match certificate " + cert.string();
    return nullptr;
  }
  return ctx;
}

boost::system::error_code configure_client_tls(boost::asio::ssl::context& context, const ClientTls& tls) {
  namespace ssl = boost::asio::ssl;
  boost::system::error_code ec;  // SSL_CTX_set_options cannot fail: only the CAs can
  context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                          ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression,
                      ec);
  ec.clear();
  if (!tls.verify) {
    context.set_verify_mode(ssl::verify_none);
    return ec;
  }
  if (tls.ca_file.empty()) {
    context.set_default_verify_paths(ec);
  } else {
    context.load_verify_file(tls.ca_file.string(), ec);
  }
  if (!ec) context.set_verify_mode(ssl::verify_peer);
  return ec;
}

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace hermes::net
