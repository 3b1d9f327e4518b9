#pragma once
// /healthz, /readyz, /metrics and /status. The first two answer any admitted
// peer with a bare status; the others need `Authorization: Bearer <admin.key>`
// unless the socket peer is loopback. Forwarding headers are never consulted.

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "hermes/core/secret.hpp"
#include "hermes/net/http.hpp"

namespace hermes::app {

// What the admin endpoints read from the running gateway.
class AdminModel {
 public:
  virtual ~AdminModel() = default;
  // Empty when ready; otherwise the reasons it is not.
  virtual std::vector<std::string> not_ready_reasons() const = 0;
  virtual nlohmann::json status() const = 0;
  virtual std::string metrics_text() const = 0;
  virtual std::shared_ptr<const Secret> admin_key() const = 0;
};

// Adds the admin routes to `routes`; `model` must outlive them.
void add_admin_routes(net::HttpRoutes& routes, const AdminModel& model);

// True when the request may see /metrics and /status.
bool admin_authorized(const net::HttpRequest& request, const Secret* admin_key);

}  // namespace hermes::app
