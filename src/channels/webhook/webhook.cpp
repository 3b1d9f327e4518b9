#include "hermes/channels/webhook.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "hermes/audit/record.hpp"
#include "hermes/config/reader.hpp"
#include "hermes/net/client.hpp"
#include "hermes/observability/metrics.hpp"

namespace hermes::channels::webhook {
namespace {

namespace asio = boost::asio;
using net::HttpRequest;
using net::HttpResponse;

std::unique_ptr<config::ChannelSpec> parse(config::MapReader& r) {
  auto spec = std::make_unique<WebhookSpec>();
  if (auto s = r.required<Secret>("secret")) spec->secret = *s;
  spec->deliver_url = r.required<std::string>("deliver_url").value_or("");
  std::string url_error;
  if (!spec->deliver_url.empty() && !net::parse_http_url(spec->deliver_url, url_error)) {
    r.context().error(r.child("deliver_url"), r.path_of("deliver_url"), "deliver_url: " + url_error);
  }
  spec->deliver_timeout = r.optional<Duration>("deliver_timeout").value_or(spec->deliver_timeout);
  return spec;
}

// Collects the answer; the channel delivers it after the pipeline finishes.
class CollectedReply final : public ReplyStream {
 public:
  asio::awaitable<void> begin(const ReplyMeta& meta) override {
    agent = meta.agent;
    co_return;
  }
  asio::awaitable<bool> write_delta(std::string_view t) override {
    text.append(t);
    co_return true;
  }
  asio::awaitable<void> finish(const Usage&, std::string_view) override { co_return; }
  asio::awaitable<void> fail(const ReplyError& e) override {
    error = e.message;
    reason = std::string(reason_code(e.reason));
    co_return;
  }
  std::string agent, text, error, reason;
};

class WebhookChannel final : public Channel, public std::enable_shared_from_this<WebhookChannel> {
 public:
  WebhookChannel(const WebhookSpec& spec, ChannelContext& ctx)
      : spec_(spec), ingress_(ctx.ingress), intake_(ctx.intake), http_(ctx.http), audit_(ctx.audit),
        events_(ctx.metrics.counter("hermes_webhook_events_total", "Webhook events, by channel and outcome.",
                                    {"channel", "outcome"})) {}

  void mount(net::HttpRoutes& routes) {
    auto self = shared_from_this();
    routes.add("POST", "/webhook/" + spec_.name + "/events",
               [self](HttpRequest r) { return receive(self, std::move(r)); }, "/webhook/events");
  }

  asio::awaitable<void> resume(InboundMessage message) override {
    auto self = shared_from_this();  // named: no temporaries inside co_await (GCC 12)
    co_await process(self, std::move(message));
  }

 private:
  bool signed_correctly(const HttpRequest& r) const {
    auto sig = r.header("x-hermes-signature");
    constexpr std::string_view kPrefix = "sha256=";
    if (!sig || sig->substr(0, kPrefix.size()) != kPrefix) return false;
    std::string expected = audit::hmac_sha256_hex(spec_.secret.reveal(), r.body);
    return constant_time_equals(expected, sig->substr(kPrefix.size()));
  }

  HttpResponse refuse(const HttpRequest& r, int status, std::string_view why) {
    AuditEvent ev;
    ev.kind = "auth.reject";
    ev.channel = spec_.name;
    ev.decision = "refused";
    ev.status = std::string(why);
    ev.detail = {{"client", r.client.to_string()}};
    audit_.record(std::move(ev));
    events_.with({spec_.name, std::string(why)}).inc();
    return HttpResponse::error(status, why, "the request signature is missing or wrong");
  }

  static asio::awaitable<HttpResponse> receive(std::shared_ptr<WebhookChannel> self, HttpRequest r) {
    if (!self->signed_correctly(r)) co_return self->refuse(r, 401, "bad_signature");
    auto body = nlohmann::json::parse(r.body, nullptr, false);
    if (!body.is_object() || !body.contains("event_id") || !body["event_id"].is_string() ||
        !body.contains("text") || !body["text"].is_string()) {
      self->events_.with({self->spec_.name, "bad_request"}).inc();
      co_return HttpResponse::error(400, "bad_request", "need string event_id and text");
    }
    if (!self->ingress_->has_headroom()) {
      self->events_.with({self->spec_.name, "overloaded"}).inc();
      auto busy = HttpResponse::error(503, "overloaded", "busy; retry later");
      busy.with_header("Retry-After", "1");
      co_return busy;  // the sender retries; nothing was acknowledged
    }
    InboundMessage m;
    m.request_id = generate_request_id();
    m.channel = self->spec_.name;
    m.channel_type = "webhook";
    m.account = self->spec_.name;
    m.event_id = body["event_id"].get<std::string>();
    m.sender = body.value("sender", "");
    m.conversation = body.value("conversation", "");
    m.thread = body.value("thread", "");
    m.group = body.value("group", false);
    m.text = body["text"].get<std::string>();
    m.client = r.client;
    // Persisted and claimed before the acknowledgement: a crash after it loses nothing.
    auto claim = co_await self->intake_->claim(m);
    if (claim == IntakeClaim::failed) {
      self->events_.with({self->spec_.name, "intake_failed"}).inc();
      co_return HttpResponse::error(503, "intake_unavailable", "cannot persist the event; retry later");
    }
    if (claim == IntakeClaim::duplicate) {
      AuditEvent ev;
      ev.kind = "message.rejected";
      ev.channel = self->spec_.name;
      ev.sender = m.sender;
      ev.conversation = m.conversation;
      ev.decision = "rejected";
      ev.status = "duplicate";
      ev.detail = {{"event_id", m.event_id}};
      self->audit_.record(std::move(ev));
      self->events_.with({self->spec_.name, "duplicate"}).inc();
      co_return HttpResponse::json(200, {{"status", "duplicate"}});
    }
    self->events_.with({self->spec_.name, "accepted"}).inc();
    auto ex = co_await asio::this_coro::executor;
    asio::co_spawn(ex, process(self, std::move(m)), asio::detached);
    co_return HttpResponse::json(200, {{"status", "accepted"}});
  }

  static asio::awaitable<void> process(std::shared_ptr<WebhookChannel> self, InboundMessage m) {
    CollectedReply reply;
    co_await self->ingress_->submit(m, reply);
    nlohmann::json out = {{"event_id", m.event_id}, {"conversation", m.conversation}, {"thread", m.thread},
                          {"agent", reply.agent}, {"text", reply.text}};
    if (!reply.error.empty()) out["error"] = {{"code", reply.reason}, {"message", reply.error}};
    bool delivered = co_await deliver(self, out.dump());
    if (delivered) {
      self->intake_->complete(m.channel, m.event_id);
    } else {
      spdlog::error("webhook {}: event {} not delivered; it stays pending and is retried at the next start",
                    self->spec_.name, m.event_id);
    }
  }

  static asio::awaitable<bool> deliver(std::shared_ptr<WebhookChannel> self, std::string body) {
    asio::steady_timer backoff(co_await asio::this_coro::executor);
    for (int attempt = 0; attempt < 5; ++attempt) {
      net::ClientRequest req;
      req.method = "POST";
      req.url = self->spec_.deliver_url;
      req.headers = {{"Content-Type", "application/json"},
                     {"X-Hermes-Signature", "sha256=" + audit::hmac_sha256_hex(self->spec_.secret.reveal(), body)}};
      req.body = body;
      req.deadline = std::chrono::steady_clock::now() + self->spec_.deliver_timeout;
      auto result = co_await self->http_->fetch(std::move(req));
      if (result.error == net::ClientErrorKind::none && result.status >= 200 && result.status < 300) co_return true;
      backoff.expires_after(std::chrono::milliseconds(200 << attempt));
      co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return false;
  }

  WebhookSpec spec_;
  std::shared_ptr<Ingress> ingress_;
  Intake* intake_;
  net::HttpClient* http_;
  AuditSink& audit_;
  observability::CounterFamily& events_;
};

std::shared_ptr<Channel> make_channel(const config::ChannelSpec& spec, ChannelContext& context) {
  if (!context.intake || !context.http) throw std::logic_error("webhook channel needs intake and http");
  auto channel = std::make_shared<WebhookChannel>(static_cast<const WebhookSpec&>(spec), context);
  channel->mount(context.routes);
  return channel;
}

}  // namespace

void register_type(config::Registries& registries, ChannelFactories& factories) {
  registries.add_channel_type("webhook", parse);
  factories.add("webhook", make_channel);
}

}  // namespace hermes::channels::webhook
