// The navigation guard: allow_urls for navigations the client did not send as commands —
// links, redirects, scripts, popups, a page opened with a URL. One browser-level session of
// the relay's own turns on Fetch interception of document requests for the whole browser:
// every page's, from a new page's very first request (interception per page session, after
// an auto-attach, came too late for a page created with a URL: its first request was
// already on its way). Each such request pauses until the guard continues or fails it.
// Clients cannot use the Fetch domain, so they can neither see nor answer these pauses.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "hermes/core/json_fields.hpp"
#include "src/cdp/browser.hpp"

namespace hermes::cdp {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr auto kReconnectDelay = std::chrono::seconds(1);

json document_interception() {
  json pattern = json::object();
  pattern["urlPattern"] = "*";
  pattern["resourceType"] = "Document";
  pattern["requestStage"] = "Request";
  json p = json::object();
  p["patterns"] = json::array({pattern});
  return p;
}

json discover_targets() {
  json p = json::object();
  p["discover"] = true;
  return p;
}

json request_params(const std::string& request_id, bool allowed) {
  json p = json::object();
  p["requestId"] = request_id;
  if (!allowed) p["errorReason"] = "BlockedByClient";
  return p;
}

struct GuardDecision {
  std::string command;  // what to send, empty: nothing
  bool audit = false;
  bool allowed = true;
  std::string url, reason, target, context, via;
};

// One message from the browser; `targets` maps target ids to their browser contexts (a
// page's main frame has its target's id).
GuardDecision decide(const json& message, std::map<std::string, std::string>& targets,
                     const std::vector<std::string>& allow_urls, std::int64_t& next_id) {
  GuardDecision d;
  std::string method = json_string(message, "method");
  json params = message.contains("params") && message["params"].is_object() ? message["params"] : json::object();
  if (method == "Target.targetCreated" || method == "Target.targetInfoChanged") {
    json info = params.contains("targetInfo") && params["targetInfo"].is_object() ? params["targetInfo"] : json::object();
    if (json_string(info, "type") == "page") targets[json_string(info, "targetId")] = json_string(info, "browserContextId");
  } else if (method == "Target.targetDestroyed") {
    targets.erase(json_string(params, "targetId"));
  } else if (method == "Fetch.requestPaused") {
    std::string url = params.contains("request") && params["request"].is_object() ? json_string(params["request"], "url") : "";
    d.reason = url_refusal(url, allow_urls);
    d.allowed = d.reason.empty();
    std::string frame = json_string(params, "frameId");
    auto page = targets.find(frame);
    bool top_level = page != targets.end();
    if (top_level) {
      d.target = frame;
      d.context = page->second;
    }
    d.audit = top_level || !d.allowed;
    d.via = top_level ? "page" : "frame";
    d.url = url;
    d.command = command_text(next_id++, d.allowed ? "Fetch.continueRequest" : "Fetch.failRequest",
                              request_params(json_string(params, "requestId"), d.allowed), json_string(message, "sessionId"));
  }
  return d;
}

}  // namespace

std::string BrowserRelay::key_of_context(const std::string& context) {
  std::lock_guard lock(shared_->mutex);
  for (const auto& [key, id] : shared_->contexts) {
    if (id == context) return key;
  }
  return {};
}

asio::awaitable<void> BrowserRelay::guard_session() {
  auto found = co_await browser_socket_path();
  std::string path = found.value;
  if (path.empty()) co_return;
  auto options = upstream_options();
  options.idle_timeout = Duration(30'000);  // pings keep it honest; pages may be quiet for long
  auto connected = co_await net::connect_websocket(config_.endpoint_host, config_.endpoint_port, path, options);
  if (!connected.socket) {
    spdlog::warn("cdp {}: navigation guard cannot connect: {}", config_.name, connected.error);
    co_return;
  }
  auto socket = connected.socket;
  {
    std::lock_guard lock(guard_mutex_);
    if (guard_stopping_) co_return;
    guard_socket_ = socket;
  }
  std::int64_t next_id = kRelayIdBase;
  const std::int64_t enable_id = next_id++;
  std::string enable = command_text(enable_id, "Fetch.enable", document_interception(), "");
  bool sent = co_await socket->write(std::move(enable));
  if (sent) {
    std::string discover = command_text(next_id++, "Target.setDiscoverTargets", discover_targets(), "");
    sent = co_await socket->write(std::move(discover));
  }
  std::map<std::string, std::string> targets;
  while (sent) {
    auto message = co_await socket->read();
    if (!message) break;
    auto parsed = json::parse(*message, nullptr, false);
    if (!parsed.is_object()) continue;
    if (parsed.value("id", std::int64_t{-1}) == enable_id) {
      guard_ready_ = !parsed.contains("error");
      if (guard_ready_) spdlog::info("cdp {}: navigation guard attached", config_.name);
      else spdlog::error("cdp {}: navigation guard refused by the browser: {}", config_.name, parsed["error"].dump());
      continue;
    }
    auto d = decide(parsed, targets, config_.allow_urls, next_id);
    if (!d.command.empty()) sent = co_await socket->write(std::move(d.command));
    if (d.audit) {
      std::string key = d.context.empty() ? std::string() : key_of_context(d.context);
      audit_navigation(key, "", d.url, d.allowed, d.via, d.reason, d.target);
    }
  }
  guard_ready_ = false;
  std::lock_guard lock(guard_mutex_);
  guard_socket_.reset();
}

asio::awaitable<void> BrowserRelay::guard_loop(std::weak_ptr<BrowserRelay> weak) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    {
      auto self = weak.lock();
      if (!self || self->guard_stopping_) co_return;
      co_await self->guard_session();
      if (self->guard_stopping_) co_return;
      spdlog::warn("cdp {}: navigation guard disconnected; relay sessions wait until it is back",
                   self->config_.name);
    }
    timer.expires_after(kReconnectDelay);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

namespace {

asio::awaitable<void> close_socket(std::shared_ptr<net::WebSocket> socket) {
  std::string why = "relay rebuilt";
  co_await socket->close(1000, why);
}

}  // namespace

void BrowserRelay::stop_guard() {
  std::shared_ptr<net::WebSocket> socket;
  {
    std::lock_guard lock(guard_mutex_);
    guard_stopping_ = true;
    socket = guard_socket_;
  }
  if (socket) asio::co_spawn(guard_executor_, close_socket(socket), asio::detached);
}

}  // namespace hermes::cdp
