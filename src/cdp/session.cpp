// One relay WebSocket session: the client's connection, the browser's, and the policy
// between them (docs/cdp.md). Both directions run on the client connection's strand: the
// client->browser loop here, the browser->client loop spawned beside it.
//
// Client commands are parsed (they are small) and checked; browser messages pass through
// as they came unless their first member names something the policy reads (a response to
// the relay's own command or to Target.getTargets, a Target.* event, Fetch.requestPaused).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <spdlog/spdlog.h>

#include <set>

#include "hermes/core/json_fields.hpp"
#include "src/cdp/browser.hpp"
#include "src/net/as_tuple.hpp"

namespace hermes::cdp {

namespace asio = boost::asio;
using nlohmann::json;
using net::kAsTuple;

namespace {

constexpr auto kCallTimeout = std::chrono::seconds(10);
constexpr std::size_t kMaxCountedMethods = 256;

// JSON built outside coroutine bodies (GCC 12: no braced lists in them).
std::string error_text(const json& id, const std::string& session_id, const std::string& message) {
  json error = json::object();
  error["code"] = -32000;
  error["message"] = message;
  json reply = json::object();
  reply["id"] = id;
  reply["error"] = std::move(error);
  if (!session_id.empty()) reply["sessionId"] = session_id;
  return reply.dump();
}

std::string result_text(const json& id, const std::string& session_id, json result) {
  json reply = json::object();
  reply["id"] = id;
  reply["result"] = std::move(result);
  if (!session_id.empty()) reply["sessionId"] = session_id;
  return reply.dump();
}

json one_field(const char* name, json value) {
  json object = json::object();
  object[name] = std::move(value);
  return object;
}

json context_list(const std::string& context) {
  json ids = json::array();
  ids.push_back(context);
  return one_field("browserContextIds", std::move(ids));
}

json deny_downloads(const std::string& context) {
  json p = json::object();
  p["behavior"] = "deny";
  p["browserContextId"] = context;
  return p;
}

// Target.getTargets' answer with only the key's targets.
std::string filtered_targets(json reply, const json& client_id, const std::string& context) {
  json kept = json::array();
  if (reply.is_object() && reply.contains("result") && reply["result"].is_object() &&
      reply["result"].contains("targetInfos") && reply["result"]["targetInfos"].is_array()) {
    for (auto& info : reply["result"]["targetInfos"]) {
      auto it = info.is_object() ? info.find("browserContextId") : info.end();
      if (it != info.end() && it->is_string() && it->get<std::string>() == context) kept.push_back(std::move(info));
    }
    reply["result"]["targetInfos"] = std::move(kept);
  }
  reply["id"] = client_id;
  return reply.dump();
}

// Files from the local disk dropped into a page.
bool drags_files(const json& params) {
  auto data = params.find("data");
  if (data == params.end() || !data->is_object()) return false;
  auto files = data->find("files");
  return files != data->end() && files->is_array() && !files->empty();
}

constexpr int kMaxCommandDepth = 64;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<BrowserRelay> browser, net::HttpRequest request, std::shared_ptr<net::WebSocket> client,
          std::string key, std::string context, std::string page_target, asio::any_io_executor executor)
      : browser_(std::move(browser)),
        client_ip_(request.client.to_string()),
        client_(std::move(client)),
        key_(std::move(key)),
        context_(std::move(context)),
        page_target_(std::move(page_target)),
        executor_(executor),
        reader_done_(executor, asio::steady_timer::time_point::max()),
        idle_timer_(executor),
        started_(Clock::now()),
        last_activity_(started_) {}

  asio::awaitable<void> run(std::string upstream_path);

 private:
  struct Pending {
    explicit Pending(asio::any_io_executor ex) : timer(ex) {}
    asio::steady_timer timer;
    std::optional<json> reply;
  };

  asio::awaitable<void> browser_to_client();
  asio::awaitable<void> client_to_browser();
  asio::awaitable<void> watch_idle();
  asio::awaitable<bool> on_client_message(std::string text);
  asio::awaitable<bool> on_browser_message(std::string text);
  asio::awaitable<bool> on_browser_event(std::string text, json message, std::string method);
  asio::awaitable<CallResult> call(std::string method, json params, std::string session_id);
  asio::awaitable<bool> send_upstream(std::string method, json params, std::string session_id);
  asio::awaitable<bool> to_client(std::string text);
  asio::awaitable<bool> to_browser(std::string text);
  asio::awaitable<bool> refuse(json id, std::string session_id, std::string method, std::string reason,
                               std::string metric_reason);
  asio::awaitable<bool> answer(json id, std::string session_id, json result);
  asio::awaitable<bool> target_visible(std::string target);
  bool info_visible(const json& info) const;
  void count(std::map<std::string, std::uint64_t>& counts, const std::string& method);
  void audit_end();

  std::shared_ptr<BrowserRelay> browser_;
  std::string client_ip_;
  std::shared_ptr<net::WebSocket> client_;
  std::shared_ptr<net::WebSocket> upstream_;
  std::string key_;
  std::string context_;      // the key's browser context: what it may see
  std::string page_target_;  // a /devtools/page/<id> session: that page; else empty
  asio::any_io_executor executor_;
  asio::steady_timer reader_done_;
  asio::steady_timer idle_timer_;
  bool reader_finished_ = false;
  bool idle_finished_ = false;
  bool stopping_ = false;
  std::string end_reason_;
  Clock::time_point started_;
  Clock::time_point last_activity_;

  std::map<std::string, std::string> sessions_;  // flattened sessions shown to the client -> target id
  std::set<std::string> visible_targets_;
  std::map<std::int64_t, json> filtered_replies_;  // the relay's id -> the client's, for Target.getTargets
  std::map<std::int64_t, std::shared_ptr<Pending>> pending_;
  std::int64_t next_id_ = kRelayIdBase;

  std::map<std::string, std::uint64_t> commands_;
  std::map<std::string, std::uint64_t> refused_;
  std::uint64_t bytes_to_browser_ = 0;
  std::uint64_t bytes_to_client_ = 0;
  std::uint64_t navigations_refused_ = 0;
};

asio::awaitable<bool> Session::to_client(std::string text) {
  bytes_to_client_ += text.size();
  browser_->count_bytes("to_client", text.size());
  co_return co_await client_->write(std::move(text));
}

asio::awaitable<bool> Session::to_browser(std::string text) {
  bytes_to_browser_ += text.size();
  browser_->count_bytes("to_browser", text.size());
  co_return co_await upstream_->write(std::move(text));
}

asio::awaitable<bool> Session::send_upstream(std::string method, json params, std::string session_id) {
  std::string text = command_text(next_id_++, method, std::move(params), session_id);
  co_return co_await upstream_->write(std::move(text));
}

asio::awaitable<CallResult> Session::call(std::string method, json params, std::string session_id) {
  CallResult out;
  std::int64_t id = next_id_++;
  auto pending = std::make_shared<Pending>(executor_);
  pending->timer.expires_after(kCallTimeout);
  pending_[id] = pending;
  std::string text = command_text(id, method, std::move(params), session_id);
  bool sent = co_await upstream_->write(std::move(text));
  if (sent && !reader_finished_) co_await pending->timer.async_wait(kAsTuple);
  pending_.erase(id);
  if (!pending->reply || !pending->reply->is_object()) {
    out.error = "the browser did not answer";
  } else if (pending->reply->contains("error")) {
    out.error = (*pending->reply)["error"].value("message", std::string("error"));
  } else {
    out.result = pending->reply->value("result", json::object());
  }
  co_return out;
}

asio::awaitable<bool> Session::refuse(json id, std::string session_id, std::string method, std::string reason,
                                      std::string metric_reason) {
  count(refused_, method.empty() ? std::string("(malformed)") : method);
  browser_->count_refusal(metric_reason);
  std::string subject = method.empty() ? std::string("the message") : method;
  std::string text = error_text(id, session_id, subject + " refused by gateway policy: " + reason);
  co_return co_await to_client(std::move(text));
}

asio::awaitable<bool> Session::answer(json id, std::string session_id, json result) {
  std::string text = result_text(id, session_id, std::move(result));
  co_return co_await to_client(std::move(text));
}

void Session::count(std::map<std::string, std::uint64_t>& counts, const std::string& method) {
  // Method names come from the client: bounded in number and length.
  std::string name = method.size() <= 80 ? method : method.substr(0, 80);
  if (counts.size() >= kMaxCountedMethods && !counts.count(name)) name = "(other)";
  ++counts[name];
}

bool Session::info_visible(const json& info) const {
  return info.is_object() && json_string(info, "browserContextId") == context_;
}

asio::awaitable<bool> Session::target_visible(std::string target) {
  if (target == page_target_ || visible_targets_.count(target)) co_return true;
  if (!page_target_.empty()) co_return false;  // a page session reaches its page and what it attached
  auto info = co_await call("Target.getTargetInfo", one_field("targetId", target), "");
  bool visible = info.result && info_visible((*info.result)["targetInfo"]);
  if (visible) visible_targets_.insert(target);
  co_return visible;
}

// One client command: checked, then forwarded (as sent, or rewritten), answered by the
// relay, or refused. False when either side is gone.
asio::awaitable<bool> Session::on_client_message(std::string text) {
  if (!json_depth_within(text, kMaxCommandDepth)) {
    co_return co_await refuse(nullptr, "", "", "JSON nested deeper than 64 levels", "malformed");
  }
  auto command = json::parse(text, nullptr, false);
  if (!command.is_object() || !command.contains("id") || !command["id"].is_number_integer()) {
    co_return co_await refuse(nullptr, "", "", "a command is a JSON object with an integer id", "malformed");
  }
  json id = command["id"];
  std::string session_id = json_string(command, "sessionId");
  std::string method = json_string(command, "method");
  if (method.empty()) co_return co_await refuse(id, session_id, "", "a command needs a method", "malformed");
  if (id.get<std::int64_t>() < 0 || id.get<std::int64_t>() >= kRelayIdBase) {
    co_return co_await refuse(id, session_id, method, "ids from 2^30 up are the gateway's own", "malformed");
  }
  if (!session_id.empty() && !sessions_.count(session_id)) {
    co_return co_await refuse(id, session_id, method, "unknown session", "session");
  }
  if (command.contains("params") && !command["params"].is_object()) {
    co_return co_await refuse(id, session_id, method, "params must be an object", "malformed");
  }
  json params = command.contains("params") ? command["params"] : json::object();
  bool rewritten = false;

  if (method == "Browser.setDownloadBehavior") {
    // What Playwright sends on connect: answered, while downloads stay denied upstream.
    if (page_target_.empty()) co_await send_upstream("Browser.setDownloadBehavior", deny_downloads(context_), "");
    count(commands_, method);
    co_return co_await answer(id, session_id, json::object());
  }
  if (method == "Target.getBrowserContexts") {
    count(commands_, method);
    co_return co_await answer(id, session_id, context_list(context_));
  }
  if (browser_->methods().denied(method)) {
    co_return co_await refuse(id, session_id, method, "the method is on the deny list", "method");
  }
  if ((method == "Target.setAutoAttach" || method == "Target.attachToTarget") &&
      !(params.contains("flatten") && params["flatten"] == true)) {
    co_return co_await refuse(id, session_id, method, "only flattened sessions (flatten: true) are relayed", "method");
  }
  if (method == "Input.dispatchDragEvent" && drags_files(params)) {
    co_return co_await refuse(id, session_id, method, "files from the local disk", "method");
  }
  if (method == "Target.attachToTarget" || method == "Target.activateTarget" || method == "Target.closeTarget" ||
      method == "Target.getTargetInfo" || method == "Target.detachFromTarget" || method == "Browser.getWindowForTarget") {
    std::string target = json_string(params, "targetId");
    if (!target.empty()) {
      bool visible = co_await target_visible(target);
      if (!visible) co_return co_await refuse(id, session_id, method, "no such target", "target");
    }
  }
  if (method == "Target.createTarget" || method == "Page.navigate") {
    std::string url = json_string(params, "url");
    if (method == "Target.createTarget" && url.empty()) url = "about:blank";
    auto refusal = url_refusal(url, browser_->config().allow_urls);
    if (!refusal.empty()) {
      ++navigations_refused_;
      browser_->audit_navigation(key_, client_ip_, url, false, method, refusal,
                                 session_id.empty() ? page_target_ : sessions_[session_id]);
      co_return co_await refuse(id, session_id, method, refusal, "url");
    }
    if (method == "Target.createTarget") {
      std::string asked = json_string(params, "browserContextId");
      if (!asked.empty() && asked != context_) {
        co_return co_await refuse(id, session_id, method, "another browser context", "target");
      }
      params["browserContextId"] = context_;  // the key's pages open in the key's context
      rewritten = true;
      browser_->audit_navigation(key_, client_ip_, url, true, method, "", "");
    }
  }
  if (method == "Target.getTargets") {
    // Sent under an id of the relay's own, so its answer is filtered whatever ids the
    // client reuses; the client's id goes back on the filtered answer.
    std::int64_t own = next_id_++;
    filtered_replies_[own] = id;
    command["id"] = own;
  }

  count(commands_, method);
  browser_->count_command();
  // What was checked is what is sent: the command as parsed, written again, so no
  // difference between two JSON readers (duplicate keys, escapes) can slip past the policy.
  if (rewritten) command["params"] = std::move(params);
  co_return co_await to_browser(command.dump());
}

// Target events show only the key's own targets; the sessions the client sees are recorded
// so its commands to them pass.
asio::awaitable<bool> Session::on_browser_event(std::string text, json message, std::string method) {
  if (method.starts_with("Fetch.")) co_return true;  // the navigation guard's domain, never a client's
  json params = message.contains("params") ? message["params"] : json::object();
  std::string parent = json_string(message, "sessionId");
  if (method == "Target.attachedToTarget") {
    std::string session_id = json_string(params, "sessionId");
    json info = params.contains("targetInfo") ? params["targetInfo"] : json::object();
    std::string target = json_string(info, "targetId");
    bool within = info_visible(info) ||
                  (json_string(info, "browserContextId").empty() && (!parent.empty() || !page_target_.empty()));
    if (!within) {
      // Auto-attach reaches every target: let another key's page go on, and leave it.
      if (params.value("waitingForDebugger", false)) {
        co_await send_upstream("Runtime.runIfWaitingForDebugger", json::object(), session_id);
      }
      co_return co_await send_upstream("Target.detachFromTarget", one_field("sessionId", session_id), parent);
    }
    sessions_[session_id] = target;
    visible_targets_.insert(target);
    co_return co_await to_client(std::move(text));
  }
  if (method == "Target.detachedFromTarget") {
    std::string session_id = json_string(params, "sessionId");
    if (!sessions_.erase(session_id)) co_return true;
    co_return co_await to_client(std::move(text));
  }
  if (method == "Target.targetCreated" || method == "Target.targetInfoChanged") {
    json info = params.contains("targetInfo") ? params["targetInfo"] : json::object();
    if (!info_visible(info)) co_return true;
    visible_targets_.insert(json_string(info, "targetId"));
    co_return co_await to_client(std::move(text));
  }
  if (method == "Target.targetDestroyed" || method == "Target.targetCrashed") {
    std::string target = json_string(params, "targetId");
    if (!visible_targets_.count(target)) co_return true;
    if (method == "Target.targetDestroyed") visible_targets_.erase(target);
    co_return co_await to_client(std::move(text));
  }
  if (method == "Target.receivedMessageFromTarget") co_return true;  // only flattened sessions are relayed
  co_return co_await to_client(std::move(text));
}

asio::awaitable<bool> Session::on_browser_message(std::string text) {
  auto head = peek_message(text);
  std::optional<json> parsed;
  if (head.kind == MessageHead::Kind::unknown) {
    parsed = json::parse(text, nullptr, false);
    if (!parsed->is_object()) co_return true;  // not CDP: dropped
    if ((*parsed)["id"].is_number_integer()) {
      head.kind = MessageHead::Kind::response;
      head.id = (*parsed)["id"].get<std::int64_t>();
    } else if ((*parsed)["method"].is_string()) {
      head.kind = MessageHead::Kind::event;
    }
  }
  if (head.kind == MessageHead::Kind::response && head.id >= kRelayIdBase) {
    // The relay's own: never passed on as it came.
    json reply = parsed ? std::move(*parsed) : json::parse(text, nullptr, false);
    if (auto filtered = filtered_replies_.find(head.id); filtered != filtered_replies_.end()) {
      json client_id = std::move(filtered->second);
      filtered_replies_.erase(filtered);
      std::string answer_text = filtered_targets(std::move(reply), client_id, context_);
      co_return co_await to_client(std::move(answer_text));
    }
    if (auto it = pending_.find(head.id); it != pending_.end()) {
      it->second->reply = std::move(reply);
      it->second->timer.cancel();
    }
    co_return true;
  }
  if (head.kind == MessageHead::Kind::event) {
    // Events of sessions the client was never shown (another key's page the relay is
    // leaving) stay here.
    std::string session_id = parsed ? json_string(*parsed, "sessionId") : std::string(peek_session_id(text));
    if (!session_id.empty() && !sessions_.count(session_id)) co_return true;
    std::string method = parsed ? json_string(*parsed, "method") : std::string(head.method);
    if (method.starts_with("Target.") || method.starts_with("Fetch.")) {
      json message = parsed ? std::move(*parsed) : json::parse(text, nullptr, false);
      if (!message.is_object()) co_return true;  // what the policy cannot read is not passed on
      co_return co_await on_browser_event(std::move(text), std::move(message), std::move(method));
    }
  }
  co_return co_await to_client(std::move(text));
}

asio::awaitable<void> Session::browser_to_client() {
  for (;;) {
    auto message = co_await upstream_->read();
    if (!message) break;
    last_activity_ = Clock::now();
    bool more = co_await on_browser_message(std::move(*message));
    if (!more) break;
  }
  for (auto& [id, pending] : pending_) pending->timer.cancel();
  if (!stopping_) {
    if (end_reason_.empty()) end_reason_ = upstream_->is_open() ? "client_gone" : "browser_closed";
    std::string why = "the browser connection ended";
    co_await client_->close(1011, why);
  }
}

asio::awaitable<void> Session::client_to_browser() {
  for (;;) {
    auto message = co_await client_->read();
    if (!message) {
      if (end_reason_.empty()) end_reason_ = client_->end_reason() == "closed" ? "client_closed" : client_->end_reason();
      break;
    }
    last_activity_ = Clock::now();
    bool more = co_await on_client_message(std::move(*message));
    if (!more) break;
  }
}

asio::awaitable<void> Session::watch_idle() {
  auto idle = browser_->config().idle_timeout;
  while (!stopping_) {
    idle_timer_.expires_at(last_activity_ + idle);
    co_await idle_timer_.async_wait(kAsTuple);
    if (stopping_) break;
    if (Clock::now() - last_activity_ >= idle) {
      end_reason_ = "idle_timeout";
      std::string why = "idle timeout";
      co_await client_->close(1000, why);  // ends client_to_browser()
      break;
    }
  }
}

void Session::audit_end() {
  AuditEvent ev;
  ev.kind = "cdp.session";
  ev.channel = "cdp:" + browser_->config().name;
  ev.sender = key_;
  ev.decision = "closed";
  ev.status = end_reason_.empty() ? "ended" : end_reason_;
  ev.latency_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_).count();
  ev.detail = {{"browser", browser_->config().name},
               {"client", client_ip_},
               {"target", page_target_.empty() ? std::string("browser") : "page:" + page_target_},
               {"commands", commands_},
               {"refused", refused_},
               {"navigations_refused", navigations_refused_},
               {"bytes_to_browser", bytes_to_browser_},
               {"bytes_to_client", bytes_to_client_}};
  browser_->audit_session(std::move(ev));
}

void session_finished(std::shared_ptr<Session>, bool& flag, asio::steady_timer& timer) {
  flag = true;
  timer.cancel();
}

asio::awaitable<void> Session::run(std::string upstream_path) {
  auto self = shared_from_this();
  auto& config = browser_->config();
  auto connected = co_await net::connect_websocket(config.endpoint_host, config.endpoint_port, upstream_path,
                                                   browser_->upstream_options());
  if (!connected.socket) {
    spdlog::warn("cdp {}: cannot open the browser's WebSocket: {}", config.name, connected.error);
    end_reason_ = "browser_unavailable";
    std::string why = "the browser is unavailable";
    co_await client_->close(1011, why);
    audit_end();
    co_return;
  }
  upstream_ = std::move(connected.socket);
  browser_->count_session();
  asio::co_spawn(executor_, browser_to_client(),
                 [self](std::exception_ptr) { session_finished(self, self->reader_finished_, self->reader_done_); });
  asio::co_spawn(executor_, watch_idle(),
                 [self](std::exception_ptr) { session_finished(self, self->idle_finished_, self->reader_done_); });
  try {
    co_await client_to_browser();
  } catch (const std::exception& e) {
    // Whatever went wrong, the shutdown below still runs: the other loops use the client
    // socket, which must outlive them.
    spdlog::error("cdp {}: session for key {} failed: {}", config.name, key_, e.what());
    end_reason_ = "internal_error";
  }
  stopping_ = true;
  idle_timer_.cancel();
  std::string why = "session ended";
  co_await upstream_->close(1000, why);
  if (client_->is_open()) co_await client_->close(1000, why);
  while (!reader_finished_ || !idle_finished_) {
    co_await reader_done_.async_wait(kAsTuple);
  }
  audit_end();
}

}  // namespace

asio::awaitable<void> run_session(std::shared_ptr<BrowserRelay> browser, net::HttpRequest request,
                                  std::shared_ptr<net::WebSocket> client, std::string key, std::string context,
                                  std::string upstream_path, std::string page_target) {
  auto executor = co_await asio::this_coro::executor;
  auto session = std::make_shared<Session>(std::move(browser), std::move(request), std::move(client), std::move(key),
                                           std::move(context), std::move(page_target), executor);
  co_await session->run(std::move(upstream_path));
}

}  // namespace hermes::cdp
