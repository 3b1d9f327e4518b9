#include "hermes/net/http.hpp"
#include "hermes/net/websocket.hpp"

#include "hermes/core/json_writer.hpp"

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

bool split_authority(std::string_view authority, std::string_view& host, std::optional<std::uint16_t>& port) {
  port.reset();
  std::string_view rest;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return false;
    host = authority.substr(0, close + 1);
    rest = authority.substr(close + 1);
  } else {
    auto colon = authority.find(':');
    host = authority.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : authority.substr(colon);
  }
  if (host.empty() || host == "[]") return false;
  if (rest.empty()) return true;
  if (rest.front() != ':' || rest.size() < 2 || rest.size() > 6) return false;
  std::uint32_t value = 0;
  auto [end, ec] = std::from_chars(rest.data() + 1, rest.data() + rest.size(), value);
  if (ec != std::errc() || end != rest.data() + rest.size() || value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

bool HostNames::allows(std::string_view authority) const {
  if (!enforce) return true;
  std::string_view host;
  std::optional<std::uint16_t> port;
  if (!split_authority(authority, host, port)) return false;
  if (host.size() > 1 && host.back() == '.' && host.front() != '[') host.remove_suffix(1);  // "localhost."
  for (const auto& name : names) {
    if (name.size() == host.size() && strncasecmp(name.data(), host.data(), host.size()) == 0) return true;
  }
  if (!ip_literals) return false;
  std::string_view literal = host;
  if (literal.front() == '[') {
    literal = literal.substr(1, literal.size() - 2);
    return IpAddress::parse(literal).has_value() && literal.find(':') != std::string_view::npos;
  }
  return IpAddress::parse(literal).has_value() && literal.find(':') == std::string_view::npos;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_json_media_type(std::string_view content_type) {
  constexpr std::string_view kJson = "application/json";
  std::string_view type = trim_ows(content_type.substr(0, content_type.find(';')));
  return type.size() == kJson.size() && strncasecmp(type.data(), kJson.data(), kJson.size()) == 0;
}

bool is_valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
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

HttpResponse HttpResponse::json(int status, const nlohmann::json& body) {
  // Replacement, not an exception, for invalid UTF-8 (an error message may quote a request).
  return json_text(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

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

void HttpRoutes::add_prefix(std::string method, std::string prefix, HttpHandler handler, std::string metric_name,
                            std::shared_ptr<const WebSocketRoute> websocket) {
  Route r{std::move(method), std::move(prefix), std::move(metric_name), std::move(handler), false, std::move(websocket)};
  r.prefix = true;
  routes_.push_back(std::move(r));
}

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_digit(text[i + 1]) >= 0 && hex_digit(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2]));
      i += 2;
    } else {
      out += plus_is_space && text[i] == '+' ? ' ' : text[i];
    }
  }
  return out;
}

std::optional<std::string> query_value(std::string_view query, std::string_view name, bool plus_is_space) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1), plus_is_space);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

HttpRoutes::Match HttpRoutes::match(std::string_view method, std::string_view path) const {
  Match m;
  auto consider = [&](const Route& r) {
    m.path_known = true;
    m.allowed += m.allowed.empty() ? r.method : ", " + r.method;
    if (r.method == method || (method == "HEAD" && r.method == "GET")) {
      m.route = &r;
    }
  };
  for (const auto& r : routes_) {
    if (!r.prefix && r.path == path) consider(r);
  }
  if (m.path_known) return m;
  std::size_t longest = 0;
  for (const auto& r : routes_) {
    if (r.prefix && path.starts_with(r.path) && r.path.size() > longest) longest = r.path.size();
  }
  for (const auto& r : routes_) {
    if (r.prefix && r.path.size() == longest && path.starts_with(r.path)) consider(r);
  }
  return m;
}

}  // namespace hermes::net
