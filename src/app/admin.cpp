#include "hermes/app/admin.hpp"

#include <strings.h>

namespace hermes::app {
namespace {

net::HttpResponse unauthorized(const Secret* key) {
  std::string why = key && !key->empty() ? "admin key required: send Authorization: Bearer <admin.key>"
                                         : "admin.key is not configured; this endpoint answers loopback peers only";
  auto r = net::HttpResponse::error(401, "unauthorized", why);
  r.with_header("WWW-Authenticate", "Bearer realm=\"hermes-admin\"");
  return r;
}

boost::asio::awaitable<net::HttpResponse> healthz(net::HttpRequest) {
  // Answering at all proves the event loop runs.
  co_return net::HttpResponse::text(200, "ok\n");
}

boost::asio::awaitable<net::HttpResponse> readyz(const AdminModel* model, net::HttpRequest) {
  auto reasons = model->not_ready_reasons();
  if (reasons.empty()) {
    co_return net::HttpResponse::text(200, "ready\n");
  }
  std::string body = "not ready:";
  for (const auto& r : reasons) body += " " + r + ";";
  body += "\n";
  co_return net::HttpResponse::text(503, body);
}

boost::asio::awaitable<net::HttpResponse> metrics(const AdminModel* model, net::HttpRequest request) {
  auto key = model->admin_key();
  if (!admin_authorized(request, key.get())) {
    co_return unauthorized(key.get());
  }
  net::HttpResponse r;
  r.body = model->metrics_text();
  r.headers.emplace_back("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  co_return r;
}

boost::asio::awaitable<net::HttpResponse> status(const AdminModel* model, net::HttpRequest request) {
  auto key = model->admin_key();
  if (!admin_authorized(request, key.get())) {
    co_return unauthorized(key.get());
  }
  co_return net::HttpResponse::json(200, model->status());
}

}  // namespace

bool admin_authorized(const net::HttpRequest& request, const Secret* admin_key) {
  if (request.from_loopback()) {
    return true;
  }
  if (!admin_key || admin_key->empty()) {
    return false;
  }
  auto auth = request.header("authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (!auth || auth->size() <= kBearer.size() || strncasecmp(auth->data(), kBearer.data(), kBearer.size()) != 0) {
    return false;
  }
  return admin_key->equals(auth->substr(kBearer.size()));
}

void add_admin_routes(net::HttpRoutes& routes, const AdminModel& model) {
  const AdminModel* m = &model;
  routes.add("GET", "/healthz", [](net::HttpRequest r) { return healthz(std::move(r)); });
  routes.add("GET", "/readyz", [m](net::HttpRequest r) { return readyz(m, std::move(r)); });
  routes.add("GET", "/metrics", [m](net::HttpRequest r) { return metrics(m, std::move(r)); });
  routes.add("GET", "/status", [m](net::HttpRequest r) { return status(m, std::move(r)); });
}

}  // namespace hermes::app
