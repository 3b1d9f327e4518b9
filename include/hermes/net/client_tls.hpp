#pragma once
// The client-side TLS convention for outbound connections (SMTP submission, the Slack
// Socket Mode WebSocket; Vault and Redis later): verified against the system store by
// default. The config layer reads it from `tls: {ca_file, server_name, verify}`
// (config/client_tls.hpp) and refuses `verify: false` for any peer but loopback.

#include <filesystem>
#include <string>

namespace hermes::net {

struct ClientTls {
  std::filesystem::path ca_file;  // PEM bundle to trust instead of the system's CAs; empty: system store
  std::string server_name;        // SNI and the name the certificate must match; empty: the host
  bool verify = true;             // false only for tests on loopback (the config layer enforces that)
};

}  // namespace hermes::net
