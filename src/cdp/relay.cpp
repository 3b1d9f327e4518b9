#include "hermes/cdp/relay.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "hermes/core/message.hpp"
#include "hermes/net/client.hpp"
#include "src/cdp/browser.hpp"

namespace hermes::cdp {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr auto kTicketLifetime = std::chrono::seconds(60);
constexpr std::size_t kMaxTickets = 4096;
constexpr std::size_t kMaxTicketsPerKey = 512;
constexpr Duration kControlTimeout{10'000};
constexpr auto kProbeInterval = std::chrono::seconds(10);

net::HttpResponse cdp_error(int status, std::string_view code, std::string_view message) {
  return net::HttpResponse::error(status, code, message);
}

json download_denial(const std::string& context) {
  json p = json::object();
  p["behavior"] = "deny";
  p["browserContextId"] = context;
  return p;
}

json context_params(const std::string& context) {
  json p = json::object();
  p["browserContextId"] = context;
  return p;
}

json target_params(const std::string& target) {
  json p = json::object();
  p["targetId"] = target;
  return p;
}

json new_target_params(const std::string& url, const std::string& context) {
  json p = json::object();
  p["url"] = url;
  p["browserContextId"] = context;
  return p;
}

// What /json/version says about the browser, without its address.
json public_version_fields(const json& version) {
  json out = json::object();
  for (const char* field : {"Browser", "Protocol-Version", "User-Agent", "V8-Version", "WebKit-Version"}) {
    if (version.contains(field)) out[field] = version[field];
  }
  return out;
}

// "json/activate/<id>" -> {"activate", "<id>"}; empty when `rest` is neither form.
std::pair<std::string, std::string> target_action(const std::string& rest) {
  for (const char* action : {"activate", "close"}) {
    std::string head = std::string("json/") + action + "/";
    if (rest.starts_with(head) && rest.size() > head.size()) return {action, rest.substr(head.size())};
  }
  return {};
}

// /json/new?<url>: the whole query is the URL, as Chromium reads it, less a key given as
// `token=` at its end (`?<url>&token=<key>`, or `?token=<key>` alone for about:blank).
std::string new_page_url(std::string_view query) {
  if (query.starts_with("token=")) query = {};
  if (auto at = query.rfind("&token="); at != std::string_view::npos && query.find('&', at + 1) == std::string_view::npos) {
    query = query.substr(0, at);
  }
  return query.empty() ? std::string("about:blank") : net::percent_decode(query);
}

// Chromium's own answer to a target id it does not know.
net::HttpResponse no_such_target(const std::string& id) {
  return net::HttpResponse::text(404, "No such target id: " + id);
}

}  // namespace

std::string command_text(std::int64_t id, const std::string& method, json params, const std::string& session_id) {
  json command = json::object();
  command["id"] = id;
  command["method"] = method;
  command["params"] = std::move(params);
  if (!session_id.empty()) command["sessionId"] = session_id;
  return command.dump();
}

// --- RelayState ---

struct RelayState::Impl {
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<BrowserShared>> browsers;  // by "name endpoint"

  std::shared_ptr<BrowserShared> get(const config::BrowserConfig& b) {
    std::lock_guard lock(mutex);
    auto& slot = browsers[b.name + " " + b.endpoint];
    if (!slot) slot = std::make_shared<BrowserShared>();
    return slot;
  }
};

RelayState::RelayState() : impl(std::make_shared<Impl>()) {}
RelayState::~RelayState() = default;

// --- metrics ---

RelayMetrics::RelayMetrics(observability::MetricsRegistry& m)
    : sessions(m.gauge("hermes_cdp_sessions", "CDP relay WebSocket sessions open.", {"browser"})),
      sessions_total(m.counter("hermes_cdp_sessions_total", "CDP relay WebSocket sessions opened.", {"browser"})),
      commands(m.counter("hermes_cdp_commands_total", "Client commands forwarded to the browser.", {"browser"})),
      refused(m.counter("hermes_cdp_refused_total",
                        "Relay refusals: commands refused by policy (method, url, target, session, malformed) "
                        "and requests refused at the door (auth, origin, max_sessions).",
                        {"browser", "reason"})),
      bytes(m.counter("hermes_cdp_bytes_total", "CDP message bytes relayed.", {"browser", "direction"})),
      up(m.gauge("hermes_cdp_browser_up", "1 when the browser's /json/version answered the last probe.",
                 {"browser"})) {}

// --- Control ---

asio::awaitable<CallResult> Control::call(std::string method, json params) {
  CallResult out;
  std::int64_t id = next_id_++;
  std::string text = command_text(id, method, std::move(params), "");
  bool sent = co_await socket_->write(std::move(text));
  if (!sent) {
    out.error = "the browser connection closed";
    co_return out;
  }
  for (;;) {
    auto message = co_await socket_->read();
    if (!message) {
      out.error = "the browser connection ended (" + socket_->end_reason() + ")";
      co_return out;
    }
    auto head = peek_message(*message);
    if (head.kind == MessageHead::Kind::event) continue;
    auto reply = json::parse(*message, nullptr, false);
    if (!reply.is_object() || reply.value("id", std::int64_t{-1}) != id) continue;
    if (reply.contains("error")) {
      out.error = reply["error"].is_object() ? reply["error"].value("message", std::string("error")) : "error";
    } else if (reply.contains("result") && reply["result"].is_object()) {
      out.result = std::move(reply["result"]);
    } else {
      out.result = json::object();
    }
    co_return out;
  }
}

asio::awaitable<void> Control::close() {
  std::string why = "done";
  co_await socket_->close(1000, why);
}

// --- BrowserRelay ---

BrowserRelay::BrowserRelay(config::BrowserConfig config, std::shared_ptr<BrowserShared> shared, RelayDeps deps)
    : config_(std::move(config)),
      shared_(std::move(shared)),
      deps_(std::move(deps)),
      methods_(config_.deny_methods),
      metrics_(deps_.metrics) {}

net::WebSocketClientOptions BrowserRelay::upstream_options() const {
  net::WebSocketClientOptions o;
  o.max_message = config_.max_frame;
  o.connect_timeout = Duration(5'000);
  o.idle_timeout = config_.idle_timeout;
  return o;
}

// GET <endpoint><path> from the browser's own HTTP server.
net::ClientRequest BrowserRelay::upstream_get(const std::string& path, std::uint64_t body_limit) const {
  net::ClientRequest request;
  request.url = config_.endpoint;
  if (request.url.ends_with('/')) request.url.pop_back();
  request.url += path;
  request.connect_timeout = Duration(3'000);
  request.first_byte_timeout = Duration(10'000);
  request.body_limit = body_limit;
  return request;
}

asio::awaitable<TextResult> BrowserRelay::browser_socket_path() {
  TextResult out;
  auto result = co_await deps_.http.fetch(upstream_get("/json/version", 64 * 1024));
  if (!result.ok() || result.status != 200) {
    out.error = result.ok() ? "the browser answered /json/version with HTTP " + std::to_string(result.status)
                            : "the browser does not answer: " + std::string(net::client_error_name(result.error));
    co_return out;
  }
  auto version = json::parse(result.body, nullptr, false);
  std::string url = version.is_object() ? version.value("webSocketDebuggerUrl", std::string()) : std::string();
  // ws://host:port/devtools/browser/<id>: only the path is used; the relay connects to
  // the configured endpoint, whatever address the browser names.
  auto scheme_end = url.find("://");
  auto path_start = scheme_end == std::string::npos ? std::string::npos : url.find('/', scheme_end + 3);
  if (path_start == std::string::npos || !url.substr(path_start).starts_with("/devtools/browser/")) {
    out.error = "the browser's /json/version has no browser webSocketDebuggerUrl";
    co_return out;
  }
  out.value = url.substr(path_start);
  co_return out;
}

asio::awaitable<ControlOpen> BrowserRelay::open_control() {
  ControlOpen out;
  auto found = co_await browser_socket_path();
  std::string path = found.value;
  out.error = found.error;
  if (path.empty()) co_return out;
  auto options = upstream_options();
  options.idle_timeout = kControlTimeout;
  options.keep_alive_pings = false;  // silence for kControlTimeout ends a call the browser never answers
  auto connected = co_await net::connect_websocket(config_.endpoint_host, config_.endpoint_port, path, options);
  if (!connected.socket) {
    out.error = connected.error;
    co_return out;
  }
  out.control = std::make_unique<Control>(std::move(connected.socket));
  out.path = std::move(path);
  co_return out;
}

asio::awaitable<ControlOpen> BrowserRelay::open_control_for(std::string key) {
  auto opened = co_await open_control();
  if (!opened.control) co_return opened;
  auto found = co_await context_for(opened.control.get(), std::move(key));
  opened.context = found.value;
  opened.error = found.error;
  co_return opened;
}

asio::awaitable<bool> BrowserRelay::in_context(Control* control, std::string target, std::string context) {
  auto described = co_await control->call("Target.getTargetInfo", target_params(target));
  co_return described.result && (*described.result)["targetInfo"].is_object() &&
      (*described.result)["targetInfo"].value("browserContextId", std::string()) == context;
}

asio::awaitable<TextResult> BrowserRelay::context_for(Control* control, std::string key) {
  TextResult out;
  std::string cached;
  {
    std::lock_guard lock(shared_->mutex);
    if (auto it = shared_->contexts.find(key); it != shared_->contexts.end()) cached = it->second;
  }
  if (!cached.empty()) {
    auto existing = co_await control->call("Target.getBrowserContexts", json::object());
    if (!existing.result) {
      out.error = "cannot list the browser's contexts: " + existing.error;  // not a reason for a new one
      co_return out;
    }
    for (const auto& id : existing.result->value("browserContextIds", json::array())) {
      if (id.is_string() && id.get<std::string>() == cached) {
        out.value = cached;
        co_return out;
      }
    }
  }
  // Each key works in a browser context of its own: its pages, cookies and storage are
  // nobody else's, and target visibility is a comparison of context ids.
  auto created = co_await control->call("Target.createBrowserContext", json::object());
  if (!created.result || !(*created.result)["browserContextId"].is_string()) {
    out.error = "cannot create a browser context: " + (created.error.empty() ? "no id in the answer" : created.error);
    co_return out;
  }
  std::string id = (*created.result)["browserContextId"].get<std::string>();
  // Downloads stay denied in it, whichever client comes (Puppeteer and page sessions never ask).
  auto denied = co_await control->call("Browser.setDownloadBehavior", download_denial(id));
  if (!denied.result) spdlog::warn("cdp {}: cannot deny downloads in a new context: {}", config_.name, denied.error);
  std::string winner;
  {
    std::lock_guard lock(shared_->mutex);
    auto& slot = shared_->contexts[key];
    if (slot.empty() || slot == cached) slot = id;
    winner = slot;
  }
  if (winner != id) {
    // A concurrent first use of the same key got there first: this one goes.
    auto disposed = co_await control->call("Target.disposeBrowserContext", context_params(id));
    (void)disposed;
  }
  out.value = winner;
  co_return out;
}

std::string BrowserRelay::issue_ticket(const std::string& key, const std::string& path) {
  std::string ticket = generate_secret_token();
  auto now = Clock::now();
  std::lock_guard lock(shared_->mutex);
  std::erase_if(shared_->tickets, [now](const auto& t) { return t.second.expires <= now; });
  // Bounded per key, then in all: a key that asks for many tickets pushes out its own
  // oldest, never another key's.
  auto oldest_of = [&](auto keep) {
    auto oldest = shared_->tickets.end();
    std::size_t count = 0;
    for (auto it = shared_->tickets.begin(); it != shared_->tickets.end(); ++it) {
      if (!keep(it->second)) continue;
      ++count;
      if (oldest == shared_->tickets.end() || it->second.expires < oldest->second.expires) oldest = it;
    }
    return std::make_pair(oldest, count);
  };
  auto [own_oldest, own_count] = oldest_of([&](const BrowserShared::Ticket& t) { return t.key == key; });
  if (own_count >= kMaxTicketsPerKey) shared_->tickets.erase(own_oldest);
  if (shared_->tickets.size() >= kMaxTickets) {
    shared_->tickets.erase(oldest_of([](const BrowserShared::Ticket&) { return true; }).first);
  }
  shared_->tickets[ticket] = BrowserShared::Ticket{key, path, now + kTicketLifetime};
  return ticket;
}

std::optional<std::string> BrowserRelay::redeem_ticket(const std::string& ticket, const std::string& path) {
  std::lock_guard lock(shared_->mutex);
  auto it = shared_->tickets.find(ticket);
  if (it == shared_->tickets.end()) return std::nullopt;
  auto entry = it->second;
  shared_->tickets.erase(it);  // single use, even when it does not fit
  if (entry.expires <= Clock::now() || entry.path != path) return std::nullopt;
  return entry.key;
}

std::optional<std::string> BrowserRelay::peek_ticket(const std::string& ticket, const std::string& path) {
  std::lock_guard lock(shared_->mutex);
  auto it = shared_->tickets.find(ticket);
  if (it == shared_->tickets.end() || it->second.expires <= Clock::now() || it->second.path != path) return std::nullopt;
  return it->second.key;
}

void BrowserRelay::count_refusal(std::string_view reason) { metrics_.refused.with({config_.name, reason}).inc(); }

void BrowserRelay::audit_refusal(const net::HttpRequest& request, const std::string& status,
                                 const std::string& message) {
  count_refusal(status);
  std::uint64_t suppressed = 0;
  if (!refusal_throttle_.allow(suppressed)) return;
  AuditEvent ev;
  ev.kind = "cdp.refused";
  ev.channel = "cdp:" + config_.name;
  ev.decision = "refused";
  ev.status = status;
  ev.detail = {{"browser", config_.name},
               {"client", request.client.to_string()},
               {"path", request.path},
               {"message", message},
               {"suppressed_since_last", suppressed}};
  deps_.audit.record(std::move(ev));
}

void BrowserRelay::audit_navigation(const std::string& key, const std::string& client, const std::string& url,
                                    bool allowed, const std::string& via, const std::string& reason,
                                    const std::string& target) {
  if (!allowed) count_refusal("url");
  // A page can navigate in a loop: rows per key are throttled (100 at once, then 10 a
  // second), the rest counted in the next row.
  std::uint64_t suppressed = 0;
  bool overflow = false;
  if (!navigation_throttle_.allow(key, suppressed, overflow)) return;
  AuditEvent ev;
  ev.kind = "cdp.navigation";
  ev.channel = "cdp:" + config_.name;
  ev.sender = key;
  ev.decision = allowed ? "allowed" : "refused";
  ev.status = allowed ? "ok" : "url_not_allowed";
  ev.detail = {{"browser", config_.name}, {"client", client}, {"url", url_for_audit(url)}, {"via", via}};
  if (url.find_first_of("?#") != std::string::npos) ev.detail["query_dropped"] = true;
  if (!target.empty()) ev.detail["target"] = target;
  if (!reason.empty()) ev.detail["reason"] = reason;
  if (suppressed) ev.detail["suppressed_since_last"] = suppressed;
  deps_.audit.record(std::move(ev));
}

void BrowserRelay::audit_session(AuditEvent event) { deps_.audit.record(std::move(event)); }

// The key a request presents (Authorization: Bearer, ?token=, or a WebSocket ticket), and
// the Origin check; a refusal response, or nullopt with `key` set.
std::optional<net::HttpResponse> BrowserRelay::admit(const net::HttpRequest& request, std::string& key,
                                                     bool websocket) {
  if (auto origin = request.header("origin")) {
    bool allowed = std::find(config_.allow_origins.begin(), config_.allow_origins.end(), *origin) !=
                   config_.allow_origins.end();
    if (!allowed) {
      audit_refusal(request, "origin_not_allowed", "Origin " + std::string(*origin) + " is not in allow_origins");
      return cdp_error(403, "origin_not_allowed", "this Origin may not use the browser (allow_origins)");
    }
  }
  std::optional<std::string> presented;
  if (auto auth = request.header("authorization"); auth && auth->size() > 7 &&
                                                   (auth->starts_with("Bearer ") || auth->starts_with("bearer "))) {
    presented = std::string(net::trim_ows(auth->substr(7)));
  } else if (auto token = net::query_value(request.query, "token")) {
    presented = std::move(*token);
  }
  if (presented) {
    if (const auto* k = config::find_access_key(config_.keys, *presented)) {
      key = k->name;
      return std::nullopt;
    }
    audit_refusal(request, "unauthorized", "unknown key");
    return cdp_error(401, "invalid_api_key", "unknown key").with_header("WWW-Authenticate", "Bearer");
  }
  if (websocket) {
    if (auto ticket = net::query_value(request.query, "ticket")) {
      // At the upgrade the ticket is looked at; the session spends it (redeem_ticket).
      if (auto owner = peek_ticket(*ticket, request.path)) {
        key = std::move(*owner);
        return std::nullopt;
      }
      audit_refusal(request, "unauthorized", "unknown, used or expired ticket");
      return cdp_error(401, "invalid_ticket", "the ticket is unknown, used or expired: read webSocketDebuggerUrl again");
    }
  }
  audit_refusal(request, "unauthorized", "no key");
  return cdp_error(401, "missing_api_key", "a key is required: Authorization: Bearer <key> or ?token=<key>")
      .with_header("WWW-Authenticate", "Bearer");
}

// ws(s)://<the Host the client used>/cdp/<name>/<path>?ticket=…: the gateway's address,
// never the browser's.
std::string BrowserRelay::socket_url(const net::HttpRequest& request, const std::string& path,
                                     const std::string& ticket) const {
  std::string host(request.header("host").value_or("127.0.0.1"));
  return std::string(request.tls ? "wss://" : "ws://") + host + prefix() + path + "?ticket=" + ticket;
}

json BrowserRelay::target_entry(const net::HttpRequest& request, const std::string& key, const json& info) {
  std::string id = info.value("targetId", std::string());
  std::string path = "devtools/page/" + id;
  std::string ticket = issue_ticket(key, prefix() + path);
  return {{"description", ""},
          {"id", id},
          {"title", info.value("title", std::string())},
          {"type", info.value("type", std::string("page"))},
          {"url", info.value("url", std::string())},
          {"webSocketDebuggerUrl", socket_url(request, path, ticket)}};
}

asio::awaitable<net::HttpResponse> BrowserRelay::json_version(net::HttpRequest request, std::string key) {
  auto result = co_await deps_.http.fetch(upstream_get("/json/version", 64 * 1024));
  auto version = result.ok() && result.status == 200 ? json::parse(result.body, nullptr, false) : json();
  if (!version.is_object()) co_return cdp_error(502, "browser_unavailable", "the browser does not answer");
  json out = public_version_fields(version);
  std::string path = "devtools/browser";
  out["webSocketDebuggerUrl"] = socket_url(request, path, issue_ticket(key, prefix() + path));
  co_return net::HttpResponse::json(200, out);
}

asio::awaitable<net::HttpResponse> BrowserRelay::json_protocol() {
  auto result = co_await deps_.http.fetch(upstream_get("/json/protocol", 16 * 1024 * 1024));
  if (!result.ok() || result.status != 200) {
    co_return cdp_error(502, "browser_unavailable", "the browser does not answer");
  }
  co_return net::HttpResponse::json_text(200, std::move(result.body));
}

// The detail of a failure goes to the log (it may name the browser's address); the
// client gets a 502 that names none.
net::HttpResponse BrowserRelay::unavailable(const std::string& detail) const {
  spdlog::warn("cdp {}: {}", config_.name, detail);
  return cdp_error(502, "browser_unavailable", "the browser is unavailable (details in the gateway's log)");
}

asio::awaitable<net::HttpResponse> BrowserRelay::json_list(net::HttpRequest request, std::string key) {
  auto opened = co_await open_control_for(key);
  if (!opened.control) co_return unavailable(opened.error);
  json list = json::array();
  if (!opened.context.empty()) {
    auto targets = co_await opened.control->call("Target.getTargets", json::object());
    for (const auto& info : targets.result ? targets.result->value("targetInfos", json::array()) : json::array()) {
      if (info.value("type", std::string()) == "page" && info.value("browserContextId", std::string()) == opened.context) {
        list.push_back(target_entry(request, key, info));
      }
    }
  }
  co_await opened.control->close();
  if (opened.context.empty()) co_return unavailable(opened.error);
  co_return net::HttpResponse::json(200, list);
}

asio::awaitable<net::HttpResponse> BrowserRelay::json_new(net::HttpRequest request, std::string key) {
  if (request.query.find("token=") != std::string::npos && new_page_url(request.query).find("token=") != std::string::npos) {
    // A key in the middle of the URL would go to the browser and the site: refused.
    co_return cdp_error(400, "bad_request", "put token= last (json/new?<url>&token=<key>) or use the Authorization header");
  }
  std::string url = new_page_url(request.query);
  if (auto refusal = url_refusal(url, config_.allow_urls); !refusal.empty()) {
    audit_navigation(key, request.client.to_string(), url, false, "json/new", refusal, "");
    co_return cdp_error(403, "url_not_allowed", "refused by gateway policy: " + refusal);
  }
  if (!guard_ready()) co_return cdp_error(503, "guard_not_ready", "the relay's navigation guard is not attached yet");
  auto opened = co_await open_control_for(key);
  if (!opened.control) co_return unavailable(opened.error);
  std::string error = opened.error;
  std::optional<json> info;
  if (!opened.context.empty()) {
    auto created = co_await opened.control->call("Target.createTarget", new_target_params(url, opened.context));
    error = created.error;
    if (created.result && (*created.result)["targetId"].is_string()) {
      std::string target = (*created.result)["targetId"].get<std::string>();
      auto described = co_await opened.control->call("Target.getTargetInfo", target_params(target));
      if (described.result) info = described.result->value("targetInfo", json::object());
    }
  }
  co_await opened.control->close();
  if (!info) co_return unavailable("cannot open a page: " + error);
  audit_navigation(key, request.client.to_string(), url, true, "json/new", "", info->value("targetId", ""));
  co_return net::HttpResponse::json(200, target_entry(request, key, *info));
}

asio::awaitable<net::HttpResponse> BrowserRelay::json_target_action(net::HttpRequest request, std::string key,
                                                                    std::string action, std::string target) {
  auto opened = co_await open_control_for(key);
  if (!opened.control) co_return unavailable(opened.error);
  bool visible = false;
  if (!opened.context.empty()) visible = co_await in_context(opened.control.get(), target, opened.context);
  std::string method = action == "activate" ? "Target.activateTarget" : "Target.closeTarget";
  bool done = false;
  if (visible) {
    auto acted = co_await opened.control->call(method, target_params(target));
    done = acted.result.has_value();
  }
  co_await opened.control->close();
  (void)request;
  if (opened.context.empty()) co_return unavailable(opened.error);
  if (!visible) co_return no_such_target(target);
  if (!done) co_return cdp_error(502, "browser_error", "the browser refused " + method);
  co_return net::HttpResponse::text(200, action == "activate" ? "Target activated" : "Target is closing");
}

asio::awaitable<net::HttpResponse> BrowserRelay::handle_http(net::HttpRequest request) {
  std::string key;
  if (auto refusal = admit(request, key, false)) co_return std::move(*refusal);
  std::string rest = request.path.substr(prefix().size());
  if (rest.ends_with('/')) rest.pop_back();
  if (rest == "json/new") co_return co_await json_new(std::move(request), std::move(key));
  if (request.method != "GET" && request.method != "HEAD") {
    co_return cdp_error(405, "method_not_allowed", "only /json/new takes PUT");
  }
  if (rest == "json/version") co_return co_await json_version(std::move(request), std::move(key));
  if (rest == "json" || rest == "json/list") co_return co_await json_list(std::move(request), std::move(key));
  if (rest == "json/protocol") co_return co_await json_protocol();
  auto action = target_action(rest);
  if (!action.first.empty()) {
    co_return co_await json_target_action(std::move(request), std::move(key), std::move(action.first),
                                          std::move(action.second));
  }
  co_return cdp_error(404, "not_found", "not a relay endpoint: /json/version, /json/list, /json/protocol, /json/new, "
                                        "/json/activate/<id>, /json/close/<id>, /devtools/browser, /devtools/page/<id>");
}

// The key again, now spending a ticket if that is how it came.
std::optional<std::string> BrowserRelay::session_key(const net::HttpRequest& request) {
  if (request.header("authorization") || net::query_value(request.query, "token")) {
    std::string key;
    if (admit(request, key, false)) return std::nullopt;
    return key;
  }
  auto ticket = net::query_value(request.query, "ticket");
  return ticket ? redeem_ticket(*ticket, request.path) : std::nullopt;
}

asio::awaitable<void> BrowserRelay::serve_websocket(net::HttpRequest request, std::shared_ptr<net::WebSocket> client) {
  auto key = session_key(request);
  if (!key) {
    std::string why = "the ticket was used meanwhile";
    co_await client->close(1008, why);
    co_return;
  }
  std::string rest = request.path.substr(prefix().size());
  std::string page_target;
  if (rest.starts_with("devtools/page/")) page_target = rest.substr(std::string_view("devtools/page/").size());
  auto opened = co_await open_control_for(*key);
  std::string error = opened.error;
  std::string context = opened.context;
  std::string upstream_path = opened.path;
  if (opened.control) {
    if (!context.empty() && !page_target.empty()) {
      bool visible = co_await in_context(opened.control.get(), page_target, context);
      if (!visible) {
        context.clear();
        error = "no such target";
        count_refusal("target");
      }
      upstream_path = "/devtools/page/" + page_target;
    }
    co_await opened.control->close();
  }
  if (context.empty()) {
    spdlog::warn("cdp {}: session for key {} not started: {}", config_.name, *key, error);
    std::string why = error == "no such target" ? error : std::string("the browser is unavailable");
    co_await client->close(1011, why);
    co_return;
  }
  co_await run_session(shared_from_this(), std::move(request), std::move(client), std::move(*key), std::move(context),
                       std::move(upstream_path), std::move(page_target));
}

// Plain functions hold the relay by shared pointer: routes outlive nothing they call.
namespace {

asio::awaitable<net::HttpResponse> http_entry(std::shared_ptr<BrowserRelay> browser, net::HttpRequest request) {
  co_return co_await browser->handle_http(std::move(request));
}

asio::awaitable<void> websocket_entry(std::shared_ptr<BrowserRelay> browser, net::HttpRequest request,
                                      std::shared_ptr<net::WebSocket> client) {
  try {
    co_await browser->serve_websocket(std::move(request), std::move(client));
  } catch (...) {
    browser->release_session();  // the place admit_websocket() took
    throw;
  }
  browser->release_session();
}

}  // namespace

std::optional<net::HttpResponse> BrowserRelay::admit_websocket(const net::HttpRequest& request) {
  std::string rest = request.path.substr(prefix().size());
  bool browser_level = rest == "devtools/browser" || rest.starts_with("devtools/browser/");
  bool page_level = rest.starts_with("devtools/page/") && rest.size() > std::string_view("devtools/page/").size();
  if (!browser_level && !page_level) {
    return cdp_error(404, "not_found", "the relay's WebSockets are /devtools/browser and /devtools/page/<id>");
  }
  std::string key;
  if (auto refusal = admit(request, key, true)) return refusal;
  if (!guard_ready()) {
    count_refusal("guard_not_ready");
    return cdp_error(503, "guard_not_ready", "the relay's navigation guard is not attached to the browser yet")
        .with_header("Retry-After", "1");
  }
  // A place is taken here, before the handshake's answer, so a client that opens several
  // sockets at once cannot get past max_sessions; release_session() gives it back.
  int open = shared_->sessions.load();
  do {
    if (open >= static_cast<int>(config_.max_sessions)) {
      audit_refusal(request, "max_sessions", "max_sessions (" + std::to_string(config_.max_sessions) + ") reached");
      return cdp_error(429, "max_sessions", "the browser's max_sessions are in use; retry later")
          .with_header("Retry-After", "5");
    }
  } while (!shared_->sessions.compare_exchange_weak(open, open + 1));
  metrics_.sessions.with({config_.name}).add(1);
  return std::nullopt;
}

void BrowserRelay::release_session() {
  --shared_->sessions;
  metrics_.sessions.with({config_.name}).add(-1);
}

void BrowserRelay::mount(net::HttpRoutes& routes) {
  auto self = shared_from_this();
  net::WebSocketRoute ws;
  ws.max_message = config_.max_frame;
  ws.idle_timeout = config_.idle_timeout;
  ws.admit = [self](const net::HttpRequest& r) { return self->admit_websocket(r); };
  ws.abandoned = [self](const net::HttpRequest&) { self->release_session(); };
  ws.handler = [self](net::HttpRequest r, std::shared_ptr<net::WebSocket> socket) {
    return websocket_entry(self, std::move(r), std::move(socket));
  };
  auto shared_ws = std::make_shared<const net::WebSocketRoute>(std::move(ws));
  net::HttpHandler http = [self](net::HttpRequest r) { return http_entry(self, std::move(r)); };
  std::string metric = "/cdp/" + config_.name + "/";
  routes.add_prefix("GET", prefix(), http, metric, shared_ws);
  routes.add_prefix("PUT", prefix(), http, metric);
}

asio::awaitable<void> BrowserRelay::probe_loop(std::weak_ptr<BrowserRelay> weak) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    auto self = weak.lock();
    if (!self) co_return;
    auto found = co_await self->browser_socket_path();
    std::string error = found.error;
    bool healthy = !found.value.empty() && self->guard_ready();
    if (!found.value.empty() && !healthy) error = "answering, but the navigation guard is not attached";
    bool was = self->shared_->healthy.exchange(healthy);
    {
      std::lock_guard lock(self->shared_->mutex);
      self->shared_->health_detail = healthy ? "answering" : error;
    }
    self->set_up(healthy);
    if (was != healthy) {
      if (healthy) {
        spdlog::info("cdp {}: the browser answers at {}", self->config_.name, self->config_.endpoint);
      } else {
        spdlog::warn("cdp {}: the browser does not answer at {}: {}", self->config_.name, self->config_.endpoint, error);
      }
    }
    self.reset();  // the Relay may go while this sleeps
    timer.expires_after(kProbeInterval);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

void BrowserRelay::start_guard(asio::any_io_executor strand) {
  guard_executor_ = strand;
  std::weak_ptr<BrowserRelay> weak = shared_from_this();
  asio::co_spawn(strand, guard_loop(weak), observability::ReportFailure(deps_.metrics, "cdp.guard"));
}

// --- Relay ---

struct Relay::Impl {
  std::vector<std::shared_ptr<BrowserRelay>> browsers;
  RelayDeps deps;
};

Relay::Relay(std::shared_ptr<const config::Config> config, RelayDeps deps) : impl_(std::make_shared<Impl>(Impl{{}, deps})) {
  for (const auto& b : config->browsers) {
    impl_->browsers.push_back(std::make_shared<BrowserRelay>(b, deps.state->impl->get(b), deps));
  }
}

Relay::~Relay() {
  for (auto& b : impl_->browsers) b->stop_guard();
}

void Relay::mount(const std::string& listener, net::HttpRoutes& routes) {
  for (auto& b : impl_->browsers) {
    if (b->config().listener == listener) b->mount(routes);
  }
}

void Relay::start() {
  for (auto& b : impl_->browsers) {
    std::weak_ptr<BrowserRelay> weak = b;
    asio::co_spawn(impl_->deps.io, b->probe_loop(weak), observability::ReportFailure(impl_->deps.metrics, "cdp.probe"));
    b->start_guard(asio::make_strand(impl_->deps.io));
  }
}

json Relay::status() const {
  json out = json::array();
  for (const auto& b : impl_->browsers) {
    std::lock_guard lock(b->shared().mutex);
    out.push_back({{"name", b->config().name},
                   {"listener", b->config().listener},
                   {"healthy", b->shared().healthy.load()},
                   {"detail", b->shared().health_detail},
                   {"sessions", b->shared().sessions.load()},
                   {"max_sessions", b->config().max_sessions}});
  }
  return out;
}

}  // namespace hermes::cdp
