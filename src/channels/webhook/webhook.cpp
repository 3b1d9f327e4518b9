#include "hermes/channels/webhook.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "hermes/core/digest.hpp"
#include "hermes/channels/async.hpp"
#include "hermes/config/reader.hpp"
#include "hermes/net/client.hpp"
#include "hermes/observability/metrics.hpp"
#include "src/channels/webhook/event.hpp"

namespace hermes::channels::webhook {
namespace {

namespace asio = boost::asio;
using net::HttpRequest;
using net::HttpResponse;

std::unique_ptr<config::ChannelSpec> parse(config::MapReader& r) {
  auto spec = std::make_unique<WebhookSpec>();
  if (auto s = r.required<Secret>("secret")) spec->secret = *s;
  spec->signature = r.optional<standard_webhooks::Scheme>("signature").value_or(spec->signature);
  spec->deliver_url = r.required<std::string>("deliver_url").value_or("");
  std::string url_error;
  if (!spec->deliver_url.empty() && !net::parse_http_url(spec->deliver_url, url_error)) {
    r.context().error(r.child("deliver_url"), r.path_of("deliver_url"), "deliver_url must be an http(s) URL: " + url_error);
  }
  spec->deliver_timeout = r.optional<Duration>("deliver_timeout").value_or(spec->deliver_timeout);
  return spec;
}

// Built outside coroutines: GCC 12 mishandles braced lists of literals in their bodies.
HttpResponse status_answer(const std::string& status) { return HttpResponse::json(200, {{"status", status}}); }
net::Headers delivery_headers(const std::string& delivery_id, const std::string& request_id) {
  return {{"Content-Type", "application/json"}, {"X-Hermes-Delivery-Id", delivery_id}, {"X-Request-Id", request_id}};
}

class WebhookChannel final : public Channel, public std::enable_shared_from_this<WebhookChannel> {
 public:
  WebhookChannel(const WebhookSpec& spec, ChannelContext& ctx)
      : spec_(spec), async_(std::make_shared<AsyncIntake>(spec.name, ctx)), http_(ctx.http), audit_(ctx.audit),
        events_(ctx.metrics.counter("hermes_webhook_events_total", "Webhook events, by channel and outcome.",
                                    {"channel", "outcome"})) {}

  void mount(net::HttpRoutes& routes) {
    auto self = shared_from_this();
    routes.add("POST", "/webhook/" + spec_.name + "/events",
               [self](HttpRequest r) { return receive(self, std::move(r)); }, "/webhook/events");
  }

  asio::awaitable<void> resume(InboundMessage message) override {
    std::shared_ptr<Channel> self = shared_from_this();  // named: no temporaries inside co_await (GCC 12)
    co_await AsyncIntake::answer(async_, self, std::move(message));
  }

  asio::awaitable<Delivery> deliver(OutboxEntry entry) override {
    nlohmann::json out = {{"event_id", entry.event_id}, {"conversation", entry.conversation},
                          {"thread", entry.thread},     {"recipient", entry.recipient},
                          {"agent", entry.agent},       {"text", entry.text},
                          {"part", entry.part + 1},     {"parts", entry.parts}};
    if (!entry.error_code.empty()) out["error"] = {{"code", entry.error_code}};
    net::ClientRequest req;
    req.method = "POST";
    req.url = spec_.deliver_url;
    req.body = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    // The receiver can drop a resend after an ambiguous crash by this id.
    std::string delivery_id = entry.channel + ":" + entry.event_id + ":" + std::to_string(entry.part);
    req.headers = delivery_headers(delivery_id, entry.request_id);
    for (auto& header : standard_webhooks::signature_headers(spec_.signature, spec_.secret.reveal(), delivery_id,
                                                             req.body, std::chrono::system_clock::now())) {
      req.headers.push_back(std::move(header));
    }
    req.deadline = std::chrono::steady_clock::now() + spec_.deliver_timeout;
    auto result = co_await http_->fetch(std::move(req));
    co_return classify_http_delivery(result);
  }

 private:
  // Why the request's signature is refused; nullopt when it is good.
  std::optional<std::string_view> signature_problem(const HttpRequest& r) const {
    if (spec_.signature == standard_webhooks::Scheme::hermes_v1) {
      auto sig = r.header("x-hermes-signature");
      if (sig && signature_matches(spec_.secret, r.body, *sig, "sha256=")) return std::nullopt;
      return "bad_signature";
    }
    auto verdict = standard_webhooks::verify(
        standard_webhooks::signing_key(spec_.secret.reveal()), r.header("webhook-id").value_or(""),
        r.header("webhook-timestamp").value_or(""), r.header("webhook-signature").value_or(""), r.body,
        std::chrono::system_clock::now());
    if (verdict == standard_webhooks::Verdict::ok) return std::nullopt;
    return verdict == standard_webhooks::Verdict::stale_timestamp ? "stale_timestamp" : "bad_signature";
  }

  HttpResponse refuse(const HttpRequest& r, int status, std::string_view why) {
    audit_refusal(audit_, refusal_rows_, spec_.name, r.client, why);
    events_.with({spec_.name, std::string(why)}).inc();
    return HttpResponse::error(status, why, "the request signature is missing, stale or wrong");
  }

  HttpResponse bad_request(const HttpRequest& r, std::string_view why) {
    audit_bad_request(audit_, bad_request_rows_, spec_.name, r.client, why);
    events_.with({spec_.name, "bad_request"}).inc();
    return HttpResponse::error(400, "bad_request", why);
  }

  static asio::awaitable<HttpResponse> receive(std::shared_ptr<WebhookChannel> self, HttpRequest r) {
    if (auto problem = self->signature_problem(r)) co_return self->refuse(r, 401, *problem);
    InboundMessage m;
    if (auto why = read_event(r.body, m)) co_return self->bad_request(r, *why);
    m.request_id = generate_request_id();
    m.channel = self->spec_.name;
    m.channel_type = "webhook";
    m.account = self->spec_.name;
    m.client = r.client;
    std::shared_ptr<Channel> owner = self;
    auto accepted = co_await AsyncIntake::accept(self->async_, owner, std::move(m));
    switch (accepted) {
      case Accepted::accepted:
        co_return status_answer("accepted");
      case Accepted::duplicate:
        co_return status_answer("duplicate");
      case Accepted::overloaded:
      case Accepted::failed:
        break;
    }
    auto busy = HttpResponse::error(503, accepted == Accepted::overloaded ? "overloaded" : "intake_unavailable",
                                    "cannot accept the event now; retry later");
    busy.with_header("Retry-After", "1");
    co_return busy;  // nothing was acknowledged: the sender retries
  }

  WebhookSpec spec_;
  std::shared_ptr<AsyncIntake> async_;
  net::HttpClient* http_;
  AuditSink& audit_;
  EventThrottle refusal_rows_;  // auth.reject rows: see record_throttled
  EventThrottle bad_request_rows_;  // message.rejected / bad_request rows
  observability::CounterFamily& events_;
};

}  // namespace

std::optional<std::string> read_event(const std::string& raw, InboundMessage& m) {
  auto body = nlohmann::json::parse(raw, nullptr, false);
  if (!body.is_object()) return "the body is not a JSON object";
  auto string_field = [&body](const char* key, std::string& out, bool required) -> bool {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return !required;
    if (!it->is_string()) return false;
    out = it->get<std::string>();
    return true;
  };
  if (!string_field("event_id", m.event_id, true) || !string_field("text", m.text, true)) {
    return "need string event_id and text";
  }
  for (auto [key, field] : {std::pair{"sender", &m.sender}, std::pair{"conversation", &m.conversation},
                            std::pair{"thread", &m.thread}}) {
    if (!string_field(key, *field, false)) return std::string("'") + key + "' must be a string";
  }
  if (auto group = body.find("group"); group != body.end() && !group->is_null()) {
    if (!group->is_boolean()) return "'group' must be true or false";
    m.group = group->get<bool>();
  }
  return std::nullopt;
}

void register_type(config::Registries& registries, ChannelFactories& factories) {
  registries.add_channel_type("webhook", parse);
  factories.add("webhook", make_webhook_channel<WebhookChannel, WebhookSpec>);
}

}  // namespace hermes::channels::webhook
