#include "hermes/channels/webchat.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <strings.h>

#include <algorithm>
#include <deque>

#include "hermes/config/reader.hpp"
#include "hermes/core/digest.hpp"
#include "hermes/core/throttle.hpp"
#include "hermes/net/websocket.hpp"
#include "hermes/observability/metrics.hpp"

namespace hermes::channels::webchat {
namespace {

namespace asio = boost::asio;
using net::HttpRequest;
using net::HttpResponse;
using nlohmann::json;

bool plausible_origin(const std::string& origin) {
  auto scheme_end = origin.find("://");
  if (scheme_end == std::string::npos) return false;
  std::string scheme = origin.substr(0, scheme_end);
  std::string rest = origin.substr(scheme_end + 3);
  return (scheme == "http" || scheme == "https") && !rest.empty() && rest.find('/') == std::string::npos;
}

std::unique_ptr<config::ChannelSpec> parse(config::MapReader& r) {
  auto spec = std::make_unique<WebchatSpec>();
  spec->allowed_origins = r.optional<std::vector<std::string>>("allowed_origins").value_or(std::vector<std::string>{});
  for (const auto& origin : spec->allowed_origins) {
    if (!plausible_origin(origin)) {
      r.context().error(r.child("allowed_origins"), r.path_of("allowed_origins"),
                        "'" + origin + "' is not an origin (scheme://host[:port], no path)");
    }
  }
  auto access = r.child("access");
  if (access.IsDefined() && !access.IsNull()) {
    config::MapReader a(access, r.path_of("access"), r.context());
    spec->keys = config::parse_list<api::ApiKey>(a.child("keys"), a.path_of("keys"), r.context(),
                                                 [&](const YAML::Node& n, const std::string& p) {
                                                   return api::parse_api_key(n, p, r.context());
                                                 });
    a.finish();
  }
  if (auto size = r.optional<ByteSize>("max_message")) spec->max_message = size->bytes;
  if (spec->max_message < 256 || spec->max_message > 16 * 1024 * 1024) {
    r.context().error(r.child("max_message"), r.path_of("max_message"), "max_message must be from 256B to 16MiB");
  }
  spec->idle_timeout = r.optional<Duration>("idle_timeout").value_or(spec->idle_timeout);
  if (spec->idle_timeout < Duration(1'000)) {
    r.context().error(r.child("idle_timeout"), r.path_of("idle_timeout"), "idle_timeout must be at least 1s");
  }
  spec->max_queued = r.optional<std::uint32_t>("max_queued").value_or(spec->max_queued);
  return spec;
}

std::string frame(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Frames are built outside coroutines: GCC 12 miscompiles braced lists of literals in them.
std::string delta_frame(std::string_view text) { return frame({{"type", "delta"}, {"text", text}}); }
std::string done_frame(const std::string& agent, std::string_view finish_reason) {
  return frame({{"type", "done"}, {"agent", agent}, {"finish_reason", finish_reason}});
}
std::string failure_frame(const ReplyError& e) {
  if (e.reason == Reason::rate_limited) {
    return frame({{"type", "notice"}, {"code", reason_code(e.reason)}, {"text", e.message},
                  {"retry_after", e.retry_after.count()}});
  }
  return frame({{"type", "error"}, {"code", reason_code(e.reason)}, {"message", e.message}});
}
std::string error_frame(const std::string& code, const std::string& message) {
  return frame({{"type", "error"}, {"code", code}, {"message", message}});
}
std::string ready_frame(const std::string& token, bool resumed) {
  return frame({{"type", "ready"}, {"session", token}, {"resumed", resumed}});
}

json client_detail(const IpAddress& client) { return {{"client", client.to_string()}}; }

bool well_formed_token(const std::string& token) {
  return token.size() == 32 && token.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// Streams one answer into the socket as delta frames; the socket's pace is the pipeline's pace.
class SocketReply final : public ReplyStream {
 public:
  explicit SocketReply(std::shared_ptr<net::WebSocket> ws) : ws_(std::move(ws)) {}
  asio::awaitable<void> begin(const ReplyMeta& meta) override {
    agent_ = meta.agent;
    co_return;
  }
  asio::awaitable<bool> write_delta(std::string_view text) override {
    co_return co_await ws_->write(delta_frame(text));
  }
  asio::awaitable<void> finish(const Usage&, std::string_view finish_reason) override {
    co_await ws_->write(done_frame(agent_, finish_reason));
  }
  asio::awaitable<void> fail(const ReplyError& e) override {
    co_await ws_->write(failure_frame(e));
  }

 private:
  std::shared_ptr<net::WebSocket> ws_;
  std::string agent_;
};

class WebchatChannel;

// One browser tab's socket.
struct Connection {
  std::shared_ptr<WebchatChannel> channel;
  std::shared_ptr<net::WebSocket> ws;
  IpAddress client;
  bool ready = false;
  std::string conversation;  // derived from the session token, which itself is never stored
  std::string sender;
  std::string key_name;
  std::vector<std::string> agents;
  std::deque<std::string> queue;
  bool answering = false;
  asio::cancellation_signal cancel;  // the socket ended: stop the answer in progress
  std::unique_ptr<asio::steady_timer> answered;  // cancelled when `answering` turns false
};

class WebchatChannel final : public Channel, public std::enable_shared_from_this<WebchatChannel> {
 public:
  WebchatChannel(const WebchatSpec& spec, ChannelContext& ctx)
      : spec_(spec), ingress_(ctx.ingress), audit_(ctx.audit),
        connections_(ctx.metrics.gauge("hermes_webchat_connections", "Open web chat WebSockets, by channel.",
                                       {"channel"})
                         .with({spec.name})),
        messages_(ctx.metrics.counter("hermes_webchat_messages_total",
                                      "Web chat frames from browsers, by channel and outcome.", {"channel", "outcome"})),
        report_failure_(ctx.metrics, "webchat_answer") {}

  // `listener` is this channel's: the default allowed origins are its own.
  void mount(net::HttpRoutes& routes, const config::ListenerConfig& listener) {
    bool tls = listener.tls.has_value();
    own_origin_.tls = tls;
    own_origin_.port = listener.port;
    own_origin_.hosts.enforce = true;
    own_origin_.hosts.names = listener.host_names();
    own_origin_.hosts.ip_literals = listener.answers_ip_literals();
    auto self = shared_from_this();
    routes.add("GET", "/chat", [](HttpRequest) { return redirect_to_page(); }, "/chat/");
    for (const auto& [file, content] : page_assets()) {
      std::string path = file == "index.html" ? "/chat/" : "/chat/" + std::string(file);
      routes.add("GET", path, [file = file, content = content](HttpRequest) { return serve_asset(file, content); },
                 "/chat/");
    }
    net::WebSocketRoute ws;
    ws.max_message = spec_.max_message;
    ws.idle_timeout = spec_.idle_timeout;
    ws.admit = [self](const HttpRequest& r) { return self->admit(r); };
    ws.handler = [self](HttpRequest r, std::shared_ptr<net::WebSocket> socket) {
      return serve(self, std::move(r), std::move(socket));
    };
    routes.add_websocket("/chat/ws", std::move(ws), "/chat/ws");
  }

 private:
  static asio::awaitable<HttpResponse> redirect_to_page() {
    HttpResponse r = HttpResponse::text(301, "");
    r.with_header("Location", "/chat/");
    co_return r;
  }

  static asio::awaitable<HttpResponse> serve_asset(std::string_view file, std::string_view content) {
    HttpResponse r = HttpResponse::text(200, std::string(content));
    std::string type = file.ends_with(".js")    ? "text/javascript; charset=utf-8"
                       : file.ends_with(".css") ? "text/css; charset=utf-8"
                                                : "text/html; charset=utf-8";
    r.headers.clear();
    r.with_header("Content-Type", type)
        .with_header("Cache-Control", "no-cache")
        .with_header("X-Content-Type-Options", "nosniff")
        .with_header("Referrer-Policy", "no-referrer")
        .with_header("Content-Security-Policy",
                     "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
    co_return r;
  }

  // Before the upgrade: a page on another site must not drive the gateway with its visitors' browsers.
  std::optional<HttpResponse> admit(const HttpRequest& r) {
    auto origin = r.header("origin");
    if (origin && origin_allowed(*origin, spec_.allowed_origins, own_origin_)) return std::nullopt;
    AuditEvent ev;
    ev.kind = "auth.reject";
    ev.channel = spec_.name;
    ev.decision = "refused";
    ev.status = "origin_not_allowed";
    ev.detail = {{"client", r.client.to_string()}, {"origin", std::string(origin.value_or("(none)")).substr(0, 200)}};
    record_throttled(audit_, origin_refusal_rows_, std::move(ev));
    messages_.with({spec_.name, "origin_refused"}).inc();
    return HttpResponse::error(403, "origin_not_allowed", "this page's origin may not open a chat here");
  }

  static asio::awaitable<void> send_error(std::shared_ptr<Connection> c, std::string code, std::string message) {
    c->channel->messages_.with({c->channel->spec_.name, code}).inc();
    co_await c->ws->write(error_frame(code, message));
  }

  // {"type":"hello"}: the access key (when required) and the session to resume.
  static asio::awaitable<void> hello(std::shared_ptr<Connection> c, json j) {
    auto& spec = c->channel->spec_;
    if (!spec.keys.empty()) {
      std::string key = j.contains("key") && j["key"].is_string() ? j["key"].get<std::string>() : std::string();
      const api::ApiKey* found = key.empty() ? nullptr : api::find_api_key(spec.keys, key);
      if (!found) {
        AuditEvent ev;
        ev.kind = "auth.reject";
        ev.channel = spec.name;
        ev.decision = "refused";
        ev.status = "invalid_api_key";
        ev.detail = client_detail(c->client);
        record_throttled(c->channel->audit_, c->channel->key_refusal_rows_, std::move(ev));
        co_await send_error(c, "unauthorized", "This chat needs a valid access key.");
        co_return;
      }
      c->key_name = found->name;
      c->agents = found->agents;
    }
    std::string token = j.contains("session") && j["session"].is_string() ? j["session"].get<std::string>() : "";
    bool resumed = well_formed_token(token);
    if (!resumed) token = generate_secret_token();  // 128 bits from the CSPRNG
    std::string digest = sha256_hex(spec.name + ":" + token);
    c->conversation = digest.substr(0, 32);
    c->sender = "browser-" + digest.substr(32, 12);
    c->ready = true;
    c->channel->messages_.with({spec.name, resumed ? "resumed" : "new_session"}).inc();
    co_await c->ws->write(ready_frame(token, resumed));
  }

  static asio::awaitable<void> answer_queue(std::shared_ptr<Connection> c) {
    struct Done {
      Connection& c;
      ~Done() {
        c.answering = false;
        c.answered->cancel();
      }
    } done{*c};
    while (!c->queue.empty() && c->ws->is_open()) {
      InboundMessage m;
      m.request_id = generate_request_id();
      m.channel = c->channel->spec_.name;
      m.channel_type = "webchat";
      m.account = c->channel->spec_.name;
      m.conversation = c->conversation;
      m.sender = c->sender;
      m.api_key = c->key_name;
      m.allowed_agents = c->agents;
      m.text = std::move(c->queue.front());
      m.client = c->client;
      c->queue.pop_front();
      SocketReply reply(c->ws);
      co_await c->channel->ingress_->submit(std::move(m), reply);
    }
  }

  static asio::awaitable<void> on_message(std::shared_ptr<Connection> c, json j) {
    auto& spec = c->channel->spec_;
    if (!c->ready) {
      if (!spec.keys.empty()) {
        co_await send_error(c, "unauthorized", "Say hello with an access key first.");
        co_return;
      }
      co_await hello(c, json::object());  // no hello: a new session
    }
    if (!j.contains("text") || !j["text"].is_string() || j["text"].get<std::string>().empty()) {
      co_await send_error(c, "bad_request", "A message needs a non-empty text.");
      co_return;
    }
    if (c->queue.size() >= spec.max_queued) {
      co_await send_error(c, "busy", "Too many messages waiting; wait for the answer.");
      co_return;
    }
    c->channel->messages_.with({spec.name, "accepted"}).inc();
    c->queue.push_back(j["text"].get<std::string>());
    if (c->answering) co_return;
    c->answering = true;
    auto executor = co_await asio::this_coro::executor;
    asio::co_spawn(executor, answer_queue(c),
                   asio::bind_cancellation_slot(c->cancel.slot(), c->channel->report_failure_));
  }

  static asio::awaitable<void> serve(std::shared_ptr<WebchatChannel> self, HttpRequest r,
                                     std::shared_ptr<net::WebSocket> ws) {
    auto c = std::make_shared<Connection>();
    c->channel = self;
    c->ws = ws;
    c->client = r.client;
    c->answered = std::make_unique<asio::steady_timer>(co_await asio::this_coro::executor);
    self->connections_.add(1);
    std::exception_ptr failure;
    try {
      co_await read_frames(c);
    } catch (...) {
      failure = std::current_exception();  // clean up first: the socket dies with this coroutine
    }
    if (ws->end_reason() == "too_big") self->messages_.with({self->spec_.name, "too_big"}).inc();
    // The socket is gone: stop the answer in progress and wait for it, since the socket dies with us.
    c->cancel.emit(asio::cancellation_type::terminal);
    while (c->answering) {
      c->answered->expires_after(std::chrono::seconds(1));
      co_await c->answered->async_wait(asio::as_tuple(asio::use_awaitable));
    }
    self->connections_.add(-1);
    if (failure) std::rethrow_exception(failure);
  }

  static asio::awaitable<void> read_frames(std::shared_ptr<Connection> c) {
    const std::string bad_type = "Frames are JSON objects with type hello or message.";
    for (;;) {
      auto text = co_await c->ws->read();
      if (!text) co_return;
      auto j = json::parse(*text, nullptr, false);
      std::string type = j.is_object() && j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>()
                                                                                    : std::string();
      if (type == "hello") {
        co_await hello(c, std::move(j));
      } else if (type == "message") {
        co_await on_message(c, std::move(j));
      } else {
        co_await send_error(c, "bad_request", bad_type);
      }
    }
  }

  WebchatSpec spec_;
  OwnOrigin own_origin_;  // set by mount()
  std::shared_ptr<Ingress> ingress_;
  AuditSink& audit_;
  // auth.reject rows, one throttle per status: see record_throttled
  EventThrottle origin_refusal_rows_;
  EventThrottle key_refusal_rows_;
  observability::Gauge& connections_;
  observability::CounterFamily& messages_;
  observability::ReportFailure report_failure_;  // what escapes an answer_queue() coroutine
};

std::shared_ptr<Channel> make_channel(const config::ChannelSpec& spec, ChannelContext& context) {
  auto channel = std::make_shared<WebchatChannel>(static_cast<const WebchatSpec&>(spec), context);
  channel->mount(context.routes, context.listener);
  return channel;
}

}  // namespace

bool origin_allowed(std::string_view origin, const std::vector<std::string>& allowed, const OwnOrigin& own) {
  // Origins compare case-insensitively (scheme and host are).
  auto same = [origin](std::string_view candidate) {
    return candidate.size() == origin.size() && strncasecmp(candidate.data(), origin.data(), origin.size()) == 0;
  };
  if (!allowed.empty()) return std::any_of(allowed.begin(), allowed.end(), same);
  std::string_view scheme = own.tls ? "https://" : "http://";
  if (origin.size() <= scheme.size() || strncasecmp(origin.data(), scheme.data(), scheme.size()) != 0) return false;
  std::string_view authority = origin.substr(scheme.size());
  std::string_view host;
  std::optional<std::uint16_t> port;
  if (!net::split_authority(authority, host, port)) return false;
  if (port.value_or(own.tls ? 443 : 80) != own.port) return false;
  return own.hosts.allows(host);
}

void WebchatSpec::validate(const config::Config& cfg, const std::string& path, config::ParseContext& ctx) const {
  // As for the api channel: off loopback, anyone who can connect could reach every agent
  // (an Origin check stops browsers, not scripts, which send whatever Origin they like).
  const auto* l = cfg.find_listener(listener);
  if (l && !l->address.is_loopback() && keys.empty()) {
    ctx.error_at(where, path + ".access.keys",
                 "a webchat channel on a non-loopback listener needs access.keys: (no keys, no start)");
  }
  api::validate_api_keys(keys, cfg, path + ".access", ctx);
}

void register_type(config::Registries& registries, ChannelFactories& factories) {
  registries.add_channel_type("webchat", parse);
  factories.add("webchat", make_channel);
}

}  // namespace hermes::channels::webchat
