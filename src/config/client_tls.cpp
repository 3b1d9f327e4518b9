#include "hermes/config/client_tls.hpp"

#include <fstream>

#include "hermes/config/reader.hpp"
#include "hermes/core/ip.hpp"

namespace hermes::config {

bool is_loopback_host(std::string_view host) {
  if (host == "localhost") return true;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  auto ip = IpAddress::parse(host);
  return ip && ip->is_loopback();
}

ClientTlsConfig parse_client_tls(MapReader& parent, std::string_view key, std::string_view host) {
  ClientTlsConfig tls;
  if (!parent.has(key)) return tls;
  MapReader r(parent.child(key), parent.path_of(key), parent.context());
  if (auto ca = r.optional<std::string>("ca_file")) {
    std::filesystem::path path(*ca);
    if (path.is_relative()) path = r.context().secrets().base_dir / path;
    tls.ca_file = path;
    std::ifstream in(path);
    std::error_code ec;
    if (!in || std::filesystem::is_directory(path, ec)) {
      r.context().error(r.child("ca_file"), r.path_of("ca_file"), "cannot read file " + path.string());
    }
  }
  tls.server_name = r.optional<std::string>("server_name").value_or("");
  tls.verify = r.optional<bool>("verify").value_or(true);
  if (!tls.verify && !is_loopback_host(host)) {
    r.context().error(r.child("verify"), r.path_of("verify"),
                      "verify: false is allowed only for a peer on loopback (this one is " + std::string(host) +
                          "); give the peer's CA with ca_file instead");
  }
  r.finish();
  return tls;
}

}  // namespace hermes::config
