#pragma once
// The client-side TLS convention for outbound connections (SMTP submission now; Slack,
// Vault and Redis clients later), one block wherever a peer is named:
//
//   tls: {ca_file: /etc/hermes/corp-ca.pem, server_name: smtp.corp.example, verify: true}
//
// Certificates are verified against the system's CAs unless `ca_file` names others.
// `verify: false` is accepted only for a peer on loopback (tests, a local relay).

#include <filesystem>
#include <string>
#include <string_view>

namespace hermes::config {

class MapReader;

struct ClientTlsConfig {
  std::filesystem::path ca_file;  // empty: the system's CAs
  std::string server_name;        // SNI and the name to verify; empty: the host connected to
  bool verify = true;
};

// Reads `parent.<key>` (absent: the defaults). `host` is the peer the block is for: a
// `verify: false` for any other host than loopback is an error at `parent.<key>.verify`.
ClientTlsConfig parse_client_tls(MapReader& parent, std::string_view key, std::string_view host);

// Whether `host` names this machine: localhost, 127.0.0.0/8 or ::1.
bool is_loopback_host(std::string_view host);

}  // namespace hermes::config
