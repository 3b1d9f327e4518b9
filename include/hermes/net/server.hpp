#pragma once
// Listeners and the servers behind them: HTTP/1.1, and LMTP (hermes/net/lmtp.hpp) for
// listeners with `protocol: lmtp`. One acceptor serves both. Beast and Asio stay in the
// .cpp: this header only forward-declares the io_context.
//
// Admission happens at accept, before a byte is read: the peer must be
// admitted by the listener (LAN guard / allow list) and the listener must be
// under its connection cap. Every refusal is counted, logged and audited
// (rate-limited, so a flood cannot fill a disk).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "hermes/core/audit_sink.hpp"
#include "hermes/core/ip.hpp"
#include "hermes/core/units.hpp"
#include "hermes/net/http.hpp"
#include "hermes/net/lmtp.hpp"

namespace boost::asio {
class io_context;
}

namespace hermes::observability {
class MetricsRegistry;
}

namespace hermes::net {

class TlsContext;  // an OpenSSL server context; see load_tls_context

// What a listener's connections speak once admitted.
enum class ListenerProtocol { http, lmtp };

struct ListenerSettings {
  std::string name;
  ListenerProtocol protocol = ListenerProtocol::http;
  IpAddress address;
  std::uint16_t port = 0;
  std::function<bool(const IpAddress&)> admits;  // the admission policy, decided by config
  std::string admission_policy;                   // "private networks", "allow list", "any": for logs
  std::uint32_t max_connections = 16'384;
  std::uint32_t max_connections_per_peer = 0;  // 0: no cap (loopback listeners)
  HostNames hosts;                             // the Host check (DNS rebinding)
  std::uint64_t body_limit = 1024 * 1024;
  Duration header_timeout{10'000};
  Duration body_timeout{30'000};
  Duration idle_timeout{60'000};
  std::vector<Cidr> trusted_proxies;  // only decides HttpRequest::client
  std::shared_ptr<TlsContext> tls;  // null: plain HTTP
  std::shared_ptr<const HttpRoutes> routes;  // http
  // lmtp: the addresses channels take, and the session's limits. `tls` is then offered
  // with STARTTLS instead of implicit TLS.
  std::shared_ptr<const LmtpRoutes> lmtp_routes;
  LmtpSettings lmtp;
};

// Loads a PEM certificate chain and private key; null and `error` set on failure.
std::shared_ptr<TlsContext> load_tls_context(const std::filesystem::path& cert, const std::filesystem::path& key,
                                             std::string& error);

// How many threads run the io_context: with one, connections need no strand.
enum class IoThreads { one, several };

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, observability::MetricsRegistry& metrics, AuditSink& audit,
             IoThreads io_threads = IoThreads::several);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds every listener; on failure nothing is left bound and the error names the listener.
  std::error_code bind(std::vector<ListenerSettings> listeners, std::string& error);
  void start_accepting();
  // Applies settings that may change live (policy, caps, timeouts, TLS, routes) to a bound listener.
  void update(const ListenerSettings& settings);
  // The port actually bound (useful when configured as 0 in tests).
  std::uint16_t bound_port(const std::string& listener) const;

  // Graceful stop: close the acceptors, close idle keep-alive connections, and
  // let busy ones finish their request (answered with Connection: close).
  void begin_drain();
  std::size_t active_connections() const;
  // After the drain deadline: cut every remaining connection.
  void close_all();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace hermes::net
