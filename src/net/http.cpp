#include "hermes/net/http.hpp"
#include "hermes/net/websocket.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <strings.h>

namespace hermes::net {

std::chrono::milliseconds parse_retry_after(std::string_view value, std::chrono::seconds cap) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  std::int64_t seconds = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc() || seconds < 0) return std::chrono::milliseconds(0);
  return std::chrono::seconds(std::min<std::int64_t>(seconds, cap.count()));
}

std::optional<std::string_view> find_header(const Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) {
      return std::string_view(v);
    }
  }
  return std::nullopt;
}

IpAddress recorded_client(const IpAddress& peer, const Headers& headers, const std::vector<Cidr>& trusted_proxies) {
  if (trusted_proxies.empty() || !any_contains(trusted_proxies, peer)) {
    return peer;
  }
  auto forwarded = find_header(headers, "x-forwarded-for");
  if (!forwarded) {
    return peer;
  }
  // Walk right to left: each hop appended the address it saw.
  std::string_view list = *forwarded;
  IpAddress client = peer;
  while (!list.empty()) {
    auto comma = list.rfind(',');
    std::string_view item = comma == std::string_view::npos ? list : list.substr(comma + 1);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    auto addr = IpAddress::parse(item);
    if (!addr) {
      return client;  // garbage: stop at the last address we could trust
    }
    client = *addr;
    if (!any_contains(trusted_proxies, client)) {
      return client;
    }
  }
  return client;
}

HttpResponse HttpResponse::text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  return r;
}

HttpResponse HttpResponse::json(int status, const nlohmann::json& body) { return json_text(status, body.dump()); }

HttpResponse HttpResponse::json_text(int status, std::string encoded) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(encoded);
  r.body += '\n';
  r.headers.emplace_back("Content-Type", "application/json");
  return r;
}

HttpResponse HttpResponse::error(int status, std::string_view code, std::string_view message) {
  std::string type = status >= 500 ? "server_error" : "invalid_request_error";
  if (status == 401) type = "authentication_error";
  if (status == 429) type = "rate_limit_error";
  return json(status, {{"error", {{"message", message}, {"type", type}, {"code", code}}}});
}

void HttpRoutes::add(std::string method, std::string path, HttpHandler handler, std::string metric_name,
                     bool cancel_on_disconnect) {
  if (metric_name.empty()) metric_name = path;
  routes_.push_back(
      Route{std::move(method), std::move(path), std::move(metric_name), std::move(handler), cancel_on_disconnect});
}

void HttpRoutes::add_websocket(std::string path, WebSocketRoute route, std::string metric_name) {
  if (metric_name.empty()) metric_name = path;
  Route r{"GET", std::move(path), std::move(metric_name), {}, false,
          std::make_shared<const WebSocketRoute>(std::move(route))};
  routes_.push_back(std::move(r));
}

HttpRoutes::Match HttpRoutes::match(std::string_view method, std::string_view path) const {
  Match m;
  for (const auto& r : routes_) {
    if (r.path != path) continue;
    m.path_known = true;
    m.allowed += m.allowed.empty() ? r.method : ", " + r.method;
    if (r.method == method || (method == "HEAD" && r.method == "GET")) {
      m.route = &r;
    }
  }
  return m;
}

}  // namespace hermes::net
