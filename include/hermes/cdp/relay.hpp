#pragma once
// The CDP relay: agents on the LAN drive the configured Chromium browsers through the
// gateway only (`browsers:`, docs/cdp.md). Per browser it serves /cdp/<name>/json/* and
// the DevTools WebSocket, every request keyed, every client->browser command checked
// against the policy, every session and top-level navigation audited.

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "hermes/config/config.hpp"
#include "hermes/core/audit_sink.hpp"
#include "hermes/net/http.hpp"

namespace boost::asio {
class io_context;
}
namespace hermes::observability {
class MetricsRegistry;
}
namespace hermes::net {
class HttpClient;
}

namespace hermes::cdp {

// What outlives a reload: per browser, the browser context each key works in, the
// tickets handed out, the sessions open. Keep one for the process and pass it to every
// Relay built.
class RelayState {
 public:
  RelayState();
  ~RelayState();
  struct Impl;
  std::shared_ptr<Impl> impl;
};

struct RelayDeps {
  boost::asio::io_context& io;
  net::HttpClient& http;
  observability::MetricsRegistry& metrics;
  AuditSink& audit;
  std::shared_ptr<RelayState> state;
};

class Relay {
 public:
  Relay(std::shared_ptr<const config::Config> config, RelayDeps deps);
  ~Relay();
  // Mounts /cdp/<name>/ of every browser on `listener` into `routes`.
  void mount(const std::string& listener, net::HttpRoutes& routes);
  // Starts probing each browser's /json/version (health); stops when the Relay is gone.
  void start();
  // [{name, healthy, detail, sessions}] for /status.
  nlohmann::json status() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace hermes::cdp
