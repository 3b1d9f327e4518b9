// The Slack channel: signature check, Events API acknowledgement over durable
// intake, chat.postMessage delivery through the outbox, auth.test at start.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>

#include "hermes/channels/async.hpp"
#include "hermes/channels/slack.hpp"
#include "hermes/config/client_tls.hpp"
#include "hermes/config/reader.hpp"
#include "hermes/core/json_fields.hpp"
#include "hermes/net/client.hpp"
#include "hermes/observability/metrics.hpp"
#include "src/channels/slack/preview.hpp"
#include "src/channels/slack/socket_mode.hpp"

namespace hermes::channels::slack {
namespace {

namespace asio = boost::asio;
using net::HttpRequest;
using net::HttpResponse;

std::optional<ThreadReplies> thread_replies(config::MapReader& r, std::string_view key) {
  auto node = r.child(key);
  if (!node.IsDefined() || node.IsNull()) return std::nullopt;
  return config::convert_enum<ThreadReplies>(node, r.path_of(key), r.context(),
                                             {{"always", ThreadReplies::always},
                                              {"threads_only", ThreadReplies::threads_only}});
}

std::vector<std::string> id_list(config::MapReader& r, std::string_view key) {
  return r.optional<std::vector<std::string>>(key).value_or(std::vector<std::string>{});
}

// Socket Mode's keys: the app-level token, how many sockets, their liveness and TLS.
void parse_socket_mode(config::MapReader& r, SlackSpec& spec) {
  if (auto s = r.required<Secret>("app_token")) spec.app_token = *s;
  spec.connections = r.optional<std::uint32_t>("connections").value_or(spec.connections);
  if (spec.connections < 1 || spec.connections > 10) {
    r.context().error(r.child("connections"), r.path_of("connections"),
                      "connections must be between 1 and 10 (Slack allows 10 per app)");
  }
  spec.liveness = r.optional<Duration>("liveness").value_or(spec.liveness);
  if (spec.liveness < std::chrono::seconds(2) || spec.liveness > std::chrono::minutes(5)) {
    r.context().error(r.child("liveness"), r.path_of("liveness"), "liveness must be between 2s and 5m");
  }
  // The wss:// host comes from Slack at run time; a loopback api_url (tests) may skip the check.
  std::string error;
  auto api = net::parse_http_url(spec.api_url, error);
  auto tls = config::parse_client_tls(r, "tls", api ? api->host : "slack.com");
  spec.tls = net::ClientTls{tls.ca_file, tls.server_name, tls.verify};
}

std::unique_ptr<config::ChannelSpec> parse(config::MapReader& r) {
  auto spec = std::make_unique<SlackSpec>();
  auto mode = r.optional<std::string>("mode").value_or("events");
  if (mode == "socket") {
    spec->mode = SlackMode::socket;
  } else if (mode != "events") {
    r.context().error(r.child("mode"), r.path_of("mode"), "invalid value '" + mode + "' (expected events | socket)");
  }
  if (spec->mode == SlackMode::events) {
    if (auto s = r.required<Secret>("signing_secret")) spec->signing_secret = *s;
    for (const char* key : {"app_token", "connections", "liveness", "tls"}) {
      if (r.has(key)) {
        r.context().error(r.child(key), r.path_of(key), std::string(key) + " applies to mode: socket only");
      }
    }
  } else if (auto s = r.optional<Secret>("signing_secret")) {
    spec->signing_secret = *s;  // unused in socket mode; accepted so a switch of mode is one line
  }
  if (auto s = r.required<Secret>("bot_token")) spec->bot_token = *s;
  spec->api_url = r.optional<std::string>("api_url").value_or(spec->api_url);
  while (!spec->api_url.empty() && spec->api_url.back() == '/') spec->api_url.pop_back();
  std::string url_error;
  if (!net::parse_http_url(spec->api_url, url_error)) {
    r.context().error(r.child("api_url"), r.path_of("api_url"), "api_url must be an http(s) URL: " + url_error);
  }
  if (spec->mode == SlackMode::socket) parse_socket_mode(r, *spec);
  auto response_type = r.optional<std::string>("command_response_type").value_or(spec->command_response_type);
  if (response_type != "ephemeral" && response_type != "in_channel") {
    r.context().error(r.child("command_response_type"), r.path_of("command_response_type"),
                      "invalid value '" + response_type + "' (expected ephemeral | in_channel)");
  }
  spec->command_response_type = response_type;
  auto stream_node = r.child("stream");
  if (stream_node.IsDefined() && stream_node.IsMap()) {
    config::MapReader stream(stream_node, r.path_of("stream"), r.context());
    spec->stream = stream.optional<bool>("enabled").value_or(true);
    spec->stream_methods = stream.optional<bool>("stream_methods").value_or(spec->stream_methods);
    spec->stream_interval = stream.optional<Duration>("interval").value_or(spec->stream_interval);
    if (spec->stream_interval < std::chrono::milliseconds(1000)) {
      r.context().error(stream.child("interval"), stream.path_of("interval"),
                        "interval must be at least 1s (Slack allows about one edit a second per message)");
    }
    stream.finish();
  } else if (stream_node.IsDefined() && !stream_node.IsNull()) {
    spec->stream = config::convert<bool>(stream_node, r.path_of("stream"), r.context()).value_or(false);
  }
  auto threads_node = r.child("reply_in_thread");
  if (threads_node.IsDefined() && !threads_node.IsNull()) {
    config::MapReader threads(threads_node, r.path_of("reply_in_thread"), r.context());
    spec->reply_in_channels = thread_replies(threads, "channels").value_or(spec->reply_in_channels);
    spec->reply_in_dms = thread_replies(threads, "dms").value_or(spec->reply_in_dms);
    threads.finish();
  }
  spec->allow_bots = r.optional<bool>("allow_bots").value_or(false);
  spec->allowed_users = id_list(r, "allowed_users");
  spec->allowed_channels = id_list(r, "allowed_channels");
  spec->deny_by_default = r.optional<bool>("deny_by_default").value_or(false);
  spec->refused_notice = r.optional<std::string>("refused_notice").value_or("");
  spec->api_timeout = r.optional<Duration>("api_timeout").value_or(spec->api_timeout);
  if (spec->api_timeout.count() <= 0) {
    r.context().error(r.child("api_timeout"), r.path_of("api_timeout"), "api_timeout must be positive");
  }
  return spec;
}

// Built outside coroutines: GCC 12 mishandles braced lists of literals in their bodies.
HttpResponse acknowledged() { return HttpResponse::json(200, {{"ok", true}}); }
HttpResponse challenge_answer(const std::string& challenge) { return HttpResponse::json(200, {{"challenge", challenge}}); }
// A slash command's acknowledgement: an empty 200 shows the user nothing until the answer.
HttpResponse command_acknowledged() { return HttpResponse::text(200, ""); }
EnvelopeReply envelope_reply(bool acknowledge, std::string outcome) { return {acknowledge, std::move(outcome)}; }
HttpResponse not_taken(const EnvelopeReply& reply) {
  auto busy = HttpResponse::error(503, reply.outcome, "cannot accept the event now; retry later");
  busy.with_header("Retry-After", "1");
  return busy;
}

nlohmann::json command_response_body(const OutboxEntry& entry, const std::string& response_type) {
  return {{"text", entry.text}, {"response_type", response_type}, {"replace_original", false}};
}

// A top-level string field: "" when absent; nullopt when present with another type
// (nlohmann's value() threw on those: a 500 with no audit row).
std::optional<std::string> string_or_empty(const nlohmann::json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::string();
  if (!it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// Slack Web API errors worth another try; anything else is permanent for this message.
bool transient_slack_error(std::string_view error) {
  return error == "ratelimited" || error == "internal_error" || error == "fatal_error" ||
         error == "service_unavailable" || error == "request_timeout";
}

// The bot token itself is refused: nothing can be posted until an operator fixes it.
bool token_error(std::string_view detail) {
  return detail == "slack:invalid_auth" || detail == "slack:not_authed" || detail == "slack:account_inactive" ||
         detail == "slack:token_revoked" || detail == "slack:token_expired";
}

class SlackChannel final : public Channel, public std::enable_shared_from_this<SlackChannel> {
 public:
  SlackChannel(const SlackSpec& spec, ChannelContext& ctx)
      : spec_(spec), async_(std::make_shared<AsyncIntake>(spec.name, ctx)), http_(ctx.http),
        audit_(ctx.audit), metrics_(ctx.metrics), io_(ctx.io), intake_(ctx.intake),
        events_(ctx.metrics.counter("hermes_slack_events_total", "Slack Events API requests, by channel and outcome.",
                                    {"channel", "outcome"})),
        api_errors_(ctx.metrics.counter("hermes_slack_api_errors_total",
                                        "Slack Web API calls that failed, by channel, method and error.",
                                        {"channel", "method", "error"})) {}

  // A replaced channel's sockets close at once: its replacement has opened its own.
  ~SlackChannel() override {
    if (socket_mode_) socket_mode_->stop();
  }

  void mount(net::HttpRoutes& routes) {
    if (spec_.mode == SlackMode::socket) {
      socket_mode_ = std::make_shared<SocketMode>(socket_settings(), *http_, metrics_,
                                                  [weak = weak_from_this()](Envelope e) {
                                                    return on_envelope(weak, std::move(e));
                                                  });
      return;  // no inbound endpoint: everything arrives over the sockets
    }
    auto self = shared_from_this();
    routes.add("POST", "/slack/" + spec_.name + "/events",
               [self](HttpRequest r) { return receive(self, std::move(r)); }, "/slack/events");
    routes.add("POST", "/slack/" + spec_.name + "/commands",
               [self](HttpRequest r) { return receive_command(self, std::move(r)); }, "/slack/commands");
  }

  // Not a coroutine: the weak pointer is taken now, before the channel could be replaced.
  asio::awaitable<void> run() override { return run_outbound(weak_from_this(), socket_mode_); }

  ChannelHealth health() const override {
    ChannelHealth h = identity_health();
    if (!socket_mode_) return h;
    h.connections = socket_mode_->describe();
    auto open = socket_mode_->open_sockets();
    std::string sockets = "Socket Mode: " + std::to_string(open) + " of " +
                          std::to_string(socket_mode_->wanted_sockets()) + " connection(s) open";
    if (open == 0) {
      auto error = socket_mode_->last_error();
      return {false, sockets + (error.empty() ? "" : " (" + error + ")") + "; " + h.detail, h.connections};
    }
    h.detail = sockets + "; " + h.detail;
    return h;
  }

  std::string delivery_hold() const override {
    std::lock_guard lock(identity_mutex_);
    return token_error_.empty() ? std::string() : token_error_ + " (bot token refused)";
  }

  asio::awaitable<void> resume(InboundMessage message) override {
    bool still_allowed = admitted(spec_, message.sender, message.conversation);
    std::shared_ptr<Channel> self = shared_from_this();  // named: no temporaries inside co_await (GCC 12)
    co_await AsyncIntake::replay(async_, self, std::move(message), still_allowed);
  }

  std::vector<std::string> split_for_delivery(std::string text) const override {
    return split_message(text, spec_.max_message_bytes);
  }

  asio::awaitable<Delivery> deliver(OutboxEntry entry) override {
    auto context = read_delivery_context(entry.delivery_context);
    if (!context.response_url.empty()) {
      auto outcome = co_await answer_command(std::move(entry), std::move(context.response_url));
      co_return outcome;
    }
    // A streamed answer's first part is written over the previewed message.
    std::string previewed = std::move(context.slack_ts);
    std::string method = previewed.empty() ? "chat.postMessage" : "chat.update";
    nlohmann::json body = previewed.empty() ? post_body(entry) : update_body(entry, previewed);
    std::string encoded = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    auto result = co_await call_api(method, std::move(encoded), entry.request_id);
    auto outcome = api_outcome(method, result);
    if (!previewed.empty() && preview_gone(outcome.detail)) {
      // Someone deleted the preview: the answer is posted as a message of its own.
      method = "chat.postMessage";
      encoded = post_body(entry).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      result = co_await call_api(method, std::move(encoded), entry.request_id);
      outcome = api_outcome(method, result);
    }
    if (token_error(outcome.detail)) {
      // Revoked or expired while running: hold the outbox and ask auth.test until it works.
      outcome.result = DeliveryResult::retry;
      if (refuse_token(outcome.detail)) {
        auto executor = co_await asio::this_coro::executor;
        asio::co_spawn(executor, learn_identity(weak_from_this()), asio::detached);
      }
    }
    co_return outcome;
  }

  // After a crash mid-send: the post is looked for by the outbox id its metadata carries,
  // among the conversation's (or thread's) latest messages. Needs the *:history scopes;
  // without them Slack answers missing_scope and the answer is sent again, as before.
  asio::awaitable<std::optional<std::string>> find_delivered(OutboxEntry entry) override {
    // A command's answer leaves no trace to look for: it is sent again. A streamed answer's
    // chat.update is simply made again (an edit, not a new message).
    auto context = read_delivery_context(entry.delivery_context);
    if (!context.response_url.empty() || !context.slack_ts.empty()) co_return std::nullopt;
    std::string method = entry.thread.empty() ? "conversations.history" : "conversations.replies";
    std::string query = history_query(entry).dump();
    auto result = co_await call_api(method, query, entry.request_id);
    auto outcome = api_outcome(method, result);
    if (outcome.result != DeliveryResult::delivered) {
      spdlog::warn("slack {}: cannot tell whether event {} part {} arrived before the last stop ({}): sending it again",
                   spec_.name, entry.event_id, entry.part + 1, outcome.detail);
      co_return std::nullopt;
    }
    co_return posted_ts(nlohmann::json::parse(result.body, nullptr, false), entry.id);
  }

 private:
  static constexpr const char* kMetadataEvent = "hermes_answer";

  // chat.postMessage's body. The metadata names the outbox entry, so that a restart can
  // find the post a crash interrupted (find_delivered).
  static nlohmann::json post_body(const OutboxEntry& entry) {
    nlohmann::json body = {{"channel", entry.conversation}, {"text", entry.text}};
    if (!entry.thread.empty()) body["thread_ts"] = entry.thread;
    nlohmann::json payload = {{"outbox_id", std::to_string(entry.id)}};
    body["metadata"] = {{"event_type", kMetadataEvent}, {"event_payload", payload}};
    return body;
  }

  static nlohmann::json update_body(const OutboxEntry& entry, const std::string& ts) {
    return {{"channel", entry.conversation}, {"ts", ts}, {"text", entry.text}};
  }

  // chat.update's errors for a previewed message that is no longer there to edit.
  static bool preview_gone(std::string_view detail) {
    return detail == "slack:message_not_found" || detail == "slack:cant_update_message" ||
           detail == "slack:edit_window_closed";
  }

  static nlohmann::json history_query(const OutboxEntry& entry) {
    nlohmann::json query = {{"channel", entry.conversation}, {"limit", 200}, {"include_all_metadata", true}};
    if (!entry.thread.empty()) query["ts"] = entry.thread;
    return query;
  }

  // The ts of the message whose metadata names outbox entry `id`, if the answer lists one.
  static std::optional<std::string> posted_ts(const nlohmann::json& reply, std::int64_t id) {
    auto messages = reply.is_object() ? reply.find("messages") : reply.end();
    if (!reply.is_object() || messages == reply.end() || !messages->is_array()) return std::nullopt;
    const std::string wanted = std::to_string(id);
    for (const auto& m : *messages) {
      if (!m.is_object()) continue;
      auto metadata = m.find("metadata");
      if (metadata == m.end() || !metadata->is_object()) continue;
      auto type = metadata->find("event_type");
      auto payload = metadata->find("event_payload");
      if (type == metadata->end() || *type != kMetadataEvent || payload == metadata->end() || !payload->is_object()) {
        continue;
      }
      auto outbox_id = payload->find("outbox_id");
      auto ts = m.find("ts");
      if (outbox_id != payload->end() && *outbox_id == wanted && ts != m.end() && ts->is_string()) {
        return ts->get<std::string>();
      }
    }
    return std::nullopt;
  }

  std::shared_ptr<AnswerPreview> preview(const InboundMessage& m) override {
    if (!spec_.stream || !io_) return nullptr;
    auto context = read_delivery_context(m.delivery_context);
    if (!context.response_url.empty()) return nullptr;  // a command's answer is one response_url post
    PreviewTarget target;
    target.conversation = m.conversation;
    target.thread = m.thread;
    target.recipient = m.sender;
    target.team = m.account;
    target.existing_ts = std::move(context.slack_ts);
    target.existing_streamed = context.slack_streamed;
    // A replay edits the message the last run began: a stream of that run cannot be continued.
    target.use_stream_methods = spec_.stream_methods && !stream_methods_refused_.load() && target.existing_ts.empty();
    target.interval = spec_.stream_interval;
    target.max_bytes = spec_.max_message_bytes;
    target.delivery_context = m.delivery_context;
    std::weak_ptr<SlackChannel> weak = weak_from_this();
    ApiCall api = [weak](std::string method, nlohmann::json args) {
      return preview_call(weak, std::move(method), std::move(args));
    };
    auto record = [intake = intake_, channel = spec_.name, event = m.event_id](const std::string& with_ts) {
      if (intake) intake->set_delivery_context(channel, event, with_ts);
    };
    auto refused = [weak] {
      auto self = weak.lock();
      if (self && !self->stream_methods_refused_.exchange(true)) {
        spdlog::warn("slack {}: Slack refuses chat.startStream here; streamed answers use a placeholder and "
                     "chat.update instead",
                     self->spec_.name);
      }
    };
    return std::make_shared<StreamPreview>(io_->get_executor(), std::move(target), std::move(api), std::move(record),
                                           std::move(refused));
  }

  static asio::awaitable<ApiReply> preview_call(std::weak_ptr<SlackChannel> weak, std::string method,
                                                nlohmann::json args) {
    ApiReply reply;
    auto self = weak.lock();
    if (!self) {
      reply.error = "stopping";
      co_return reply;
    }
    std::string body = args.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    auto result = co_await self->call_api(method, std::move(body), "");
    auto outcome = self->api_outcome(method, result);
    reply.ok = outcome.result == DeliveryResult::delivered;
    reply.error = outcome.detail;
    reply.ts = outcome.peer_id;
    reply.retry_after = outcome.retry_after;
    co_return reply;
  }

  ChannelHealth identity_health() const {
    std::lock_guard lock(identity_mutex_);
    if (!token_error_.empty()) return {false, token_refused(token_error_)};
    if (bot_user_id_.empty()) return {false, "auth.test has not succeeded: " + identity_error_};
    return {true, "bot user " + bot_user_id_};
  }

  SocketModeSettings socket_settings() const {
    SocketModeSettings s;
    s.channel = spec_.name;
    s.api_url = spec_.api_url;
    s.app_token = spec_.app_token;
    s.connections = spec_.connections;
    s.liveness = spec_.liveness;
    s.api_timeout = spec_.api_timeout;
    s.tls = spec_.tls;
    return s;
  }

  // auth.test, and in socket mode the sockets, side by side.
  static asio::awaitable<void> run_outbound(std::weak_ptr<SlackChannel> weak, std::shared_ptr<SocketMode> sockets) {
    if (!sockets) {
      co_await learn_identity(std::move(weak));
      co_return;
    }
    auto executor = co_await asio::this_coro::executor;
    asio::co_spawn(executor, learn_identity(weak), asio::detached);
    co_await SocketMode::run(std::move(sockets));
  }

  // Socket Mode: what an envelope means, and whether it may be acknowledged (only once
  // what it carries is durably in intake, or will never be answered).
  static asio::awaitable<EnvelopeReply> on_envelope(std::weak_ptr<SlackChannel> weak, Envelope envelope) {
    auto self = weak.lock();
    if (!self) co_return envelope_reply(false, "stopping");  // the replacement's sockets take it
    if (envelope.retry_attempt > 0) {
      spdlog::debug("slack {}: envelope {} is Slack's retry {}", self->spec_.name, envelope.envelope_id,
                    envelope.retry_attempt);
    }
    IpAddress nobody;  // Socket Mode has no peer address: Slack's servers are not the sender
    if (envelope.type == "events_api") {
      if (!envelope.payload.is_object()) co_return envelope_reply(true, "bad_payload");
      auto type = string_or_empty(envelope.payload, "type");
      if (!type || *type != "event_callback") {
        self->events_.with({self->spec_.name, "ignored"}).inc();
        co_return envelope_reply(true, "ignored");
      }
      auto reply = co_await take_callback(self, std::move(envelope.payload), nobody);
      co_return reply;
    }
    if (envelope.type == "slash_commands") {
      std::string why;
      auto command = slash_command_from_json(envelope.payload, why);
      if (!command) {
        audit_bad_request(self->audit_, self->bad_request_rows_, self->spec_.name, nobody, why);
        co_return envelope_reply(true, "bad_payload");  // sending it again would not mend it
      }
      auto reply = co_await take_command(self, std::move(*command), nobody);
      co_return reply;
    }
    // interactive (buttons, shortcuts) and anything newer: nothing here answers them.
    co_return envelope_reply(true, "ignored");
  }

  std::string bot_user_id() const {
    std::lock_guard lock(identity_mutex_);
    return bot_user_id_;
  }

  asio::awaitable<net::ClientResult> call_api(std::string method, std::string json_body, std::string request_id) {
    net::ClientRequest req;
    req.method = "POST";
    req.url = spec_.api_url + "/" + method;
    req.headers = {{"Content-Type", "application/json; charset=utf-8"},
                   {"Authorization", "Bearer " + spec_.bot_token.reveal()}};
    if (!request_id.empty()) req.headers.emplace_back("X-Request-Id", request_id);
    req.body = std::move(json_body);
    req.deadline = std::chrono::steady_clock::now() + spec_.api_timeout;
    co_return co_await http_->fetch(std::move(req));
  }

  // Slack answers HTTP 200 with {"ok": false, "error": …} for most failures.
  Delivery api_outcome(const std::string& method, const net::ClientResult& result) {
    Delivery d = classify_http_delivery(result);
    if (d.result != DeliveryResult::delivered) {
      api_errors_.with({spec_.name, method, d.detail}).inc();
      return d;
    }
    auto reply = nlohmann::json::parse(result.body, nullptr, false);
    if (!reply.is_object()) {
      d.result = DeliveryResult::retry;
      d.detail = "slack_invalid_response";
    } else if (!json_bool(reply, "ok", false)) {
      // Fields of the wrong type read as absent: nlohmann's value() threw on them.
      std::string error = json_string(reply, "error");
      if (error.empty()) error = "unknown_error";
      d.result = transient_slack_error(error) ? DeliveryResult::retry : DeliveryResult::failed;
      d.detail = "slack:" + error;
    } else {
      d.peer_id = json_string(reply, "ts");
      return d;
    }
    api_errors_.with({spec_.name, method, d.detail}).inc();
    return d;
  }

  static std::string token_refused(const std::string& detail) {
    return "the bot token is refused (" + detail +
           "): events are still accepted and their answers held in the outbox until it works; "
           "fix bot_token and reload";
  }

  // Records a refused token; true when no auth.test probe is running to notice its repair.
  bool refuse_token(const std::string& detail) {
    std::lock_guard lock(identity_mutex_);
    token_error_ = detail;
    return !std::exchange(probing_, true);
  }

  // auth.test tells the bot its own user id (to skip its own posts and strip its mention)
  // and whether the token works. One probe at a time; it logs a failure once, not per retry.
  static asio::awaitable<void> learn_identity(std::weak_ptr<SlackChannel> weak) {
    asio::steady_timer wait(co_await asio::this_coro::executor);
    std::string logged;
    for (int attempt = 0;; ++attempt) {
      auto self = weak.lock();
      if (!self) co_return;  // replaced by a reload
      auto result = co_await self->call_api("auth.test", "{}", "");
      auto outcome = self->api_outcome("auth.test", result);
      auto reply = nlohmann::json::parse(result.body, nullptr, false);
      if (outcome.result == DeliveryResult::delivered && reply.is_object() && reply.contains("user_id")) {
        std::lock_guard lock(self->identity_mutex_);
        self->bot_user_id_ = json_string(reply, "user_id");
        self->token_error_.clear();
        self->probing_ = false;
        spdlog::info("slack {}: connected as bot user {} in team {}{}", self->spec_.name, self->bot_user_id_,
                     json_string(reply, "team_id"), logged.empty() ? "" : "; held answers are being delivered");
        co_return;
      }
      bool refused = token_error(outcome.detail);
      {
        std::lock_guard lock(self->identity_mutex_);
        self->identity_error_ = outcome.detail;
        if (refused) self->token_error_ = outcome.detail;
        self->probing_ = true;
      }
      if (logged != outcome.detail) {
        logged = outcome.detail;
        if (refused) {
          spdlog::error("slack {}: {}", self->spec_.name, token_refused(outcome.detail));
        } else {
          spdlog::error("slack {}: auth.test failed ({}); check api_url and the network. Retrying with backoff",
                        self->spec_.name, outcome.detail);
        }
      }
      self.reset();
      wait.expires_after(std::chrono::seconds(std::min(60, 1 << std::min(attempt, 6))));
      co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }

  HttpResponse refuse(const HttpRequest& r, std::string_view why) {
    audit_refusal(audit_, refusal_rows_, spec_.name, r.client, why);
    events_.with({spec_.name, std::string(why)}).inc();
    return HttpResponse::error(401, why, "the request signature is missing, stale or wrong");
  }

  HttpResponse bad_request(const HttpRequest& r, std::string_view why) {
    audit_bad_request(audit_, bad_request_rows_, spec_.name, r.client, why);
    events_.with({spec_.name, "bad_request"}).inc();
    return HttpResponse::error(400, "bad_request", why);
  }

  // Before parsing anything: the timestamp is recent and the signature covers it and the body.
  std::optional<std::string_view> signature_problem(const HttpRequest& r) const {
    auto timestamp = r.header("x-slack-request-timestamp");
    auto signature = r.header("x-slack-signature");
    if (!timestamp || !signature) return "unsigned";
    if (!timestamp_is_fresh(*timestamp, std::chrono::system_clock::now())) return "stale_timestamp";
    std::string signed_text = "v0:" + std::string(*timestamp) + ":" + r.body;
    if (!signature_matches(spec_.signing_secret, signed_text, *signature, "v0=")) return "bad_signature";
    return std::nullopt;
  }

  static asio::awaitable<HttpResponse> receive(std::shared_ptr<SlackChannel> self, HttpRequest r) {
    if (auto problem = self->signature_problem(r)) co_return self->refuse(r, *problem);
    auto body = nlohmann::json::parse(r.body, nullptr, false);
    if (!body.is_object()) co_return self->bad_request(r, "the body is not a JSON object");
    auto type = string_or_empty(body, "type");
    if (!type) co_return self->bad_request(r, "'type' must be a string");
    if (*type == "url_verification") {
      auto challenge = string_or_empty(body, "challenge");
      if (!challenge) co_return self->bad_request(r, "'challenge' must be a string");
      self->events_.with({self->spec_.name, "url_verification"}).inc();
      co_return challenge_answer(*challenge);
    }
    if (*type != "event_callback") {
      self->events_.with({self->spec_.name, "ignored"}).inc();
      co_return acknowledged();
    }
    if (auto retry = r.header("x-slack-retry-num")) {
      spdlog::debug("slack {}: retry {} ({})", self->spec_.name, *retry, r.header("x-slack-retry-reason").value_or(""));
    }
    auto reply = co_await take_callback(self, std::move(body), r.client);
    if (!reply.acknowledge) co_return not_taken(reply);  // Slack retries (up to 3 times, backing off)
    co_return acknowledged();
  }

  // An event_callback, from either transport: claimed durably before it is acknowledged.
  static asio::awaitable<EnvelopeReply> take_callback(std::shared_ptr<SlackChannel> self, nlohmann::json body,
                                                      IpAddress client) {
    auto interpreted = interpret_event(body, self->spec_, self->bot_user_id());
    if (interpreted.action == Interpreted::Action::skip) {
      self->events_.with({self->spec_.name, "skipped_" + interpreted.why}).inc();
      co_return envelope_reply(true, "skipped_" + interpreted.why);
    }
    InboundMessage m = std::move(interpreted.message);
    m.request_id = generate_request_id();
    m.client = client;
    bool refused = interpreted.action == Interpreted::Action::refuse;
    // Named: GCC 12 frees a ternary's temporary inside co_await twice.
    std::string refused_why = refused ? interpreted.why : std::string();
    auto reply = co_await take(self, std::move(m), std::move(refused_why));
    co_return reply;
  }

  static asio::awaitable<EnvelopeReply> take_command(std::shared_ptr<SlackChannel> self, SlashCommand command,
                                                     IpAddress client) {
    InboundMessage m = command_message(command, self->spec_);
    m.request_id = generate_request_id();
    m.client = client;
    bool allowed = admitted(self->spec_, m.sender, m.conversation);
    std::string refused_why = allowed ? std::string() : std::string("not_allowed");  // named: GCC 12
    auto reply = co_await take(self, std::move(m), std::move(refused_why));
    co_return reply;
  }

  // Intake: accepted (or a retry of what was) may be acknowledged; anything else may not.
  static asio::awaitable<EnvelopeReply> take(std::shared_ptr<SlackChannel> self, InboundMessage m,
                                             std::string refused_why) {
    std::shared_ptr<Channel> owner = self;
    Accepted accepted;
    if (!refused_why.empty()) {
      accepted = co_await AsyncIntake::refuse(self->async_, owner, std::move(m), refused_why,
                                              self->spec_.refused_notice);
    } else {
      accepted = co_await AsyncIntake::accept(self->async_, owner, std::move(m));
    }
    if (accepted == Accepted::accepted || accepted == Accepted::duplicate) {
      std::string outcome = accepted == Accepted::accepted ? "accepted" : "duplicate";
      self->events_.with({self->spec_.name, outcome}).inc();
      co_return envelope_reply(true, outcome);
    }
    std::string outcome = accepted == Accepted::overloaded ? "overloaded" : "intake_unavailable";
    self->events_.with({self->spec_.name, outcome}).inc();
    co_return envelope_reply(false, outcome);
  }

  // Events mode: POST /slack/<channel>/commands, form-encoded and signed like events.
  static asio::awaitable<HttpResponse> receive_command(std::shared_ptr<SlackChannel> self, HttpRequest r) {
    if (auto problem = self->signature_problem(r)) co_return self->refuse(r, *problem);
    std::string why;
    auto command = slash_command_from_form(r.body, why);
    if (!command) co_return self->bad_request(r, why);
    auto reply = co_await take_command(self, std::move(*command), r.client);
    if (!reply.acknowledge) co_return not_taken(reply);
    co_return command_acknowledged();
  }

  // A command's answer, posted to its response_url; Slack stops honouring it after 30
  // minutes, and so does the outbox (a `failed` delivery row, response_url_expired).
  asio::awaitable<Delivery> answer_command(OutboxEntry entry, std::string response_url) {
    if (response_url_expired(entry.created_at_ms, std::chrono::system_clock::now())) {
      Delivery expired;
      expired.result = DeliveryResult::failed;
      expired.detail = "response_url_expired";
      co_return expired;
    }
    net::ClientRequest req;
    req.method = "POST";
    req.url = std::move(response_url);
    req.headers = {{"Content-Type", "application/json; charset=utf-8"}};
    if (!entry.request_id.empty()) req.headers.emplace_back("X-Request-Id", entry.request_id);
    req.body = command_response_body(entry, spec_.command_response_type)
                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    req.deadline = std::chrono::steady_clock::now() + spec_.api_timeout;
    req.body_limit = 64 * 1024;
    auto result = co_await http_->fetch(std::move(req));
    Delivery d = classify_http_delivery(result);
    if (d.result != DeliveryResult::delivered) {
      api_errors_.with({spec_.name, "response_url", d.detail}).inc();
      co_return d;
    }
    // Slack answers 200 with "ok", or an error such as {"ok":false,"error":"expired_url"}.
    auto reply = nlohmann::json::parse(result.body, nullptr, false);
    if (!json_bool(reply, "ok", true)) {
      std::string error = json_string(reply, "error");
      d.result = DeliveryResult::failed;
      d.detail = "slack:" + (error.empty() ? std::string("unknown_error") : error);
      api_errors_.with({spec_.name, "response_url", d.detail}).inc();
    }
    co_return d;
  }

  SlackSpec spec_;
  std::shared_ptr<AsyncIntake> async_;
  net::HttpClient* http_;
  AuditSink& audit_;
  observability::MetricsRegistry& metrics_;
  asio::io_context* io_;  // the previews' timers
  Intake* intake_;        // previews record the message they stream into
  std::atomic<bool> stream_methods_refused_{false};  // Slack refused chat.startStream: placeholders only
  std::shared_ptr<SocketMode> socket_mode_;  // mode: socket
  EventThrottle refusal_rows_;  // auth.reject rows: see record_throttled
  EventThrottle bad_request_rows_;  // message.rejected / bad_request rows
  observability::CounterFamily& events_;
  observability::CounterFamily& api_errors_;
  mutable std::mutex identity_mutex_;
  std::string bot_user_id_;
  std::string identity_error_ = "not tried yet";
  std::string token_error_;  // the token is refused (slack:invalid_auth…): deliveries are held
  bool probing_ = true;      // learn_identity is running (run() starts it)
};

}  // namespace

void register_type(config::Registries& registries, ChannelFactories& factories) {
  registries.add_channel_type("slack", parse);
  factories.add("slack", make_webhook_channel<SlackChannel, SlackSpec>);
}

}  // namespace hermes::channels::slack
