// The WhatsApp channel: the GET handshake, signed webhooks claimed through durable intake
// before the 200, answers sent to the Graph API's /messages through the outbox in the
// context of the message they answer, delivery statuses audited.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <mutex>

#include "hermes/channels/async.hpp"
#include "hermes/channels/whatsapp.hpp"
#include "hermes/config/reader.hpp"
#include "hermes/net/client.hpp"
#include "hermes/observability/metrics.hpp"

namespace hermes::channels::whatsapp {
namespace {

namespace asio = boost::asio;
using net::HttpRequest;
using net::HttpResponse;

std::unique_ptr<config::ChannelSpec> parse(config::MapReader& r) {
  auto spec = std::make_unique<WhatsAppSpec>();
  if (auto s = r.required<Secret>("app_secret")) spec->app_secret = *s;
  if (auto s = r.required<Secret>("verify_token")) spec->verify_token = *s;
  if (auto s = r.required<Secret>("access_token")) spec->access_token = *s;
  spec->api_url = r.optional<std::string>("api_url").value_or(spec->api_url);
  while (!spec->api_url.empty() && spec->api_url.back() == '/') spec->api_url.pop_back();
  std::string url_error;
  if (!net::parse_http_url(spec->api_url, url_error)) {
    r.context().error(r.child("api_url"), r.path_of("api_url"), "api_url must be an http(s) URL: " + url_error);
  }
  spec->api_version = r.optional<std::string>("api_version").value_or(spec->api_version);
  if (spec->api_version.size() < 2 || spec->api_version[0] != 'v' ||
      spec->api_version.find_first_not_of("0123456789.", 1) != std::string::npos) {
    r.context().error(r.child("api_version"), r.path_of("api_version"), "api_version must look like v27.0");
  }
  if (r.has("window_template")) {
    r.child("window_template");  // known, and refused for what it is
    r.context().error(r.child("window_template"), r.path_of("window_template"),
                      "window_template is not supported yet: answers outside the 24-hour window are refused "
                      "and audited (whatsapp:131047)");
  }
  spec->allowed_users = r.optional<std::vector<std::string>>("allowed_users").value_or(std::vector<std::string>{});
  spec->refused_notice = r.optional<std::string>("refused_notice").value_or("");
  spec->dedup_retention = r.optional<Duration>("dedup_retention").value_or(spec->dedup_retention);
  if (spec->dedup_retention < std::chrono::hours(24)) {
    r.context().error(r.child("dedup_retention"), r.path_of("dedup_retention"),
                      "dedup_retention must be at least 24h (Meta re-delivers webhooks for up to 7 days)");
  }
  spec->send_rate = r.optional<std::uint32_t>("send_rate").value_or(spec->send_rate);
  if (spec->send_rate < 1 || spec->send_rate > 1000) {
    r.context().error(r.child("send_rate"), r.path_of("send_rate"), "send_rate must be from 1 to 1000 (messages a second)");
  }
  spec->recipient_interval = r.optional<Duration>("recipient_interval").value_or(spec->recipient_interval);
  if (spec->recipient_interval.count() < 0 || spec->recipient_interval > std::chrono::minutes(1)) {
    r.context().error(r.child("recipient_interval"), r.path_of("recipient_interval"),
                      "recipient_interval must be from 0s to 1m");
  }
  spec->api_timeout = r.optional<Duration>("api_timeout").value_or(spec->api_timeout);
  if (spec->api_timeout.count() <= 0) {
    r.context().error(r.child("api_timeout"), r.path_of("api_timeout"), "api_timeout must be positive");
  }
  return spec;
}

// Built outside coroutines: GCC 12 mishandles braced lists of literals in their bodies.
HttpResponse acknowledged() { return HttpResponse::json(200, {{"ok", true}}); }
net::Headers api_headers(const Secret& token) {
  return {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token.reveal()}};
}
std::string read_receipt(const std::string& message_id) {
  nlohmann::json body = {{"messaging_product", "whatsapp"}, {"status", "read"}, {"message_id", message_id}};
  return body.dump();
}

// One pacer per channel name for the life of the process: a reload rebuilds the channel,
// and the sends of the old and the new one share Meta's limits.
std::shared_ptr<Pacer> pacer_for(const std::string& channel) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<Pacer>> pacers;
  std::lock_guard lock(mutex);
  auto& slot = pacers[channel];
  if (!slot) slot = std::make_shared<Pacer>();
  return slot;
}

class WhatsAppChannel final : public Channel, public std::enable_shared_from_this<WhatsAppChannel> {
 public:
  WhatsAppChannel(const WhatsAppSpec& spec, ChannelContext& ctx)
      : spec_(spec), async_(std::make_shared<AsyncIntake>(spec.name, ctx)), intake_(ctx.intake), outbox_(ctx.outbox),
        http_(ctx.http), audit_(ctx.audit),
        events_(ctx.metrics.counter("hermes_whatsapp_events_total",
                                    "WhatsApp webhook requests and messages, by channel and outcome.",
                                    {"channel", "outcome"})),
        statuses_(ctx.metrics.counter("hermes_whatsapp_statuses_total",
                                      "Delivery statuses WhatsApp reported, by channel and status.",
                                      {"channel", "status"})),
        api_errors_(ctx.metrics.counter("hermes_whatsapp_api_errors_total",
                                        "Graph API sends that failed, by channel and error code.",
                                        {"channel", "code"})),
        pacer_(pacer_for(spec.name)) {
    if (intake_) intake_->remember_for(spec_.name, spec_.dedup_retention);
  }

  void mount(net::HttpRoutes& routes) {
    auto self = shared_from_this();
    std::string path = "/whatsapp/" + spec_.name + "/events";
    routes.add("GET", path, [self](HttpRequest r) { return handshake(self, std::move(r)); }, "/whatsapp/events");
    routes.add("POST", path, [self](HttpRequest r) { return receive(self, std::move(r)); }, "/whatsapp/events");
  }

  ChannelHealth health() const override {
    std::lock_guard lock(mutex_);
    if (!token_error_.empty()) return {false, token_refused()};
    return {true, "webhooks at /whatsapp/" + spec_.name + "/events"};
  }

  std::string delivery_hold() const override {
    std::lock_guard lock(mutex_);
    return token_error_.empty() ? std::string() : token_error_ + " (access token refused)";
  }

  asio::awaitable<void> resume(InboundMessage message) override {
    if (!allowed(message.sender, message.conversation)) {
      intake_->complete(message.channel, message.event_id);
      co_return;
    }
    std::shared_ptr<Channel> self = shared_from_this();  // named: no temporaries inside co_await (GCC 12)
    co_await AsyncIntake::answer(async_, self, std::move(message));
  }

  std::vector<std::string> split_for_delivery(std::string text) const override {
    return split_message(text, spec_.max_message_bytes);
  }

  asio::awaitable<Delivery> deliver(OutboxEntry entry) override {
    // Paced before it is sent, not after Meta refuses it: 130429 and 131056 cost a retry.
    auto wait = pacer_->reserve(entry.account, spec_.send_rate, entry.conversation, spec_.recipient_interval,
                                Pacer::Clock::now());
    if (wait > Pacer::Clock::duration::zero()) {
      auto executor = co_await asio::this_coro::executor;
      asio::steady_timer timer(executor, wait);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (entry.part == 0 && !entry.event_id.empty()) {
      // The asking message shows as read: best effort, its failure changes nothing.
      auto receipt = co_await call_api(entry.account, read_receipt(entry.event_id), entry.request_id);
      (void)receipt;
    }
    auto result = co_await call_api(entry.account, message_body(entry), entry.request_id);
    Delivery d = classify_send(result);
    if (d.result != DeliveryResult::delivered) api_errors_.with({spec_.name, d.detail}).inc();
    if (d.detail == "whatsapp:190") {
      // The token expired or was revoked: answers wait in the outbox until it is replaced.
      d.result = DeliveryResult::retry;
      refuse_token(d.detail);
    } else if (d.result == DeliveryResult::delivered) {
      clear_token_error();
    } else if (d.detail == "whatsapp:131047") {
      record_window_closed(entry);
    }
    co_return d;
  }

 private:
  bool allowed(const std::string& sender, const std::string& conversation) const {
    if (spec_.allowed_users.empty()) return true;
    for (const auto& u : spec_.allowed_users) {
      if (u == sender || u == conversation) return true;
    }
    return false;
  }

  asio::awaitable<net::ClientResult> call_api(std::string phone_number_id, std::string body, std::string request_id) {
    net::ClientRequest req;
    req.method = "POST";
    req.url = spec_.api_url + "/" + spec_.api_version + "/" + phone_number_id + "/messages";
    req.headers = api_headers(spec_.access_token);
    if (!request_id.empty()) req.headers.emplace_back("X-Request-Id", request_id);
    req.body = std::move(body);
    req.deadline = std::chrono::steady_clock::now() + spec_.api_timeout;
    co_return co_await http_->fetch(std::move(req));
  }

  std::string token_refused() const {
    return "the access token is refused (" + token_error_ +
           "): messages are still accepted and their answers held in the outbox until it works; "
           "replace access_token and reload";
  }

  void refuse_token(const std::string& detail) {
    std::lock_guard lock(mutex_);
    if (token_error_.empty()) spdlog::error("whatsapp {}: the access token is refused ({})", spec_.name, detail);
    token_error_ = detail;
  }

  void clear_token_error() {
    std::lock_guard lock(mutex_);
    if (!token_error_.empty()) spdlog::info("whatsapp {}: the access token works again", spec_.name);
    token_error_.clear();
  }

  // Outside the 24-hour customer service window: the answer cannot go as free text.
  void record_window_closed(const OutboxEntry& entry) {
    AuditEvent ev;
    ev.kind = "whatsapp.window_closed";
    ev.request_id = entry.request_id;
    ev.channel = entry.channel;
    ev.sender = entry.conversation;
    ev.conversation = entry.conversation;
    ev.agent = entry.agent;
    ev.decision = "refused";
    ev.status = "outside_window";
    ev.detail = {{"event_id", entry.event_id}, {"outbox_id", entry.id}, {"part", entry.part},
                 {"why", "more than 24 hours since the user's last message; no window_template configured"}};
    audit_.record(std::move(ev));
  }

  void record_window_closed_later(const StatusItem& s) {
    AuditEvent ev;
    ev.kind = "whatsapp.window_closed";
    ev.channel = spec_.name;
    ev.sender = s.recipient;
    ev.conversation = s.recipient;
    ev.decision = "refused";
    ev.status = "outside_window";
    ev.detail = {{"peer_id", s.message_id},
                 {"why", "Meta failed the message after accepting it: more than 24 hours since the user's last message"}};
    audit_.record(std::move(ev));
  }

  void record_status(const StatusItem& s) {
    statuses_.with({spec_.name, s.status}).inc();
    AuditEvent ev;
    ev.kind = "whatsapp.status";
    ev.channel = spec_.name;
    ev.conversation = s.recipient;
    ev.decision = s.status;
    ev.status = s.error_code.empty() ? "ok" : "whatsapp:" + s.error_code;
    ev.detail = {{"peer_id", s.message_id}, {"phone_number_id", s.phone_number_id}};
    if (!s.error_title.empty()) ev.detail["error"] = s.error_title;
    audit_.record(std::move(ev));
  }

  void record_system_error(const std::string& error) {
    events_.with({spec_.name, "system_error"}).inc();
    AuditEvent ev;
    ev.kind = "whatsapp.error";
    ev.channel = spec_.name;
    ev.decision = "reported";
    ev.status = "system_error";
    ev.detail = {{"error", error}};
    audit_.record(std::move(ev));
  }

  void record_unanswered(const InboundItem& item) {
    events_.with({spec_.name, "recorded_" + item.type}).inc();
    AuditEvent ev;
    ev.kind = "whatsapp.unanswered";
    ev.channel = spec_.name;
    ev.sender = item.message.sender;
    ev.conversation = item.message.conversation;
    ev.decision = "recorded";
    ev.status = "not_answered";
    ev.detail = {{"event_id", item.message.event_id}, {"type", item.type}, {"wa_id", item.wa_id},
                 {"user_id", item.user_id}};
    audit_.record(std::move(ev));
  }

  HttpResponse refuse(const HttpRequest& r, int status, std::string_view why) {
    audit_refusal(audit_, refusal_rows_, spec_.name, r.client, why);
    events_.with({spec_.name, std::string(why)}).inc();
    return HttpResponse::error(status, why, status == 403 ? "the verify token does not match"
                                                          : "the request signature is missing or wrong");
  }

  static asio::awaitable<HttpResponse> handshake(std::shared_ptr<WhatsAppChannel> self, HttpRequest r) {
    // Form-encoded, as Meta sends it: '+' is a space.
    auto mode = net::query_value(r.query, "hub.mode", true).value_or("");
    auto token = net::query_value(r.query, "hub.verify_token", true).value_or("");
    auto challenge = net::query_value(r.query, "hub.challenge", true).value_or("");
    if (mode != "subscribe" || !self->spec_.verify_token.equals(token) || challenge.empty()) {
      co_return self->refuse(r, 403, "bad_verify_token");
    }
    self->events_.with({self->spec_.name, "handshake"}).inc();
    co_return HttpResponse::text(200, challenge);  // the raw challenge, as Meta expects
  }

  static asio::awaitable<HttpResponse> receive(std::shared_ptr<WhatsAppChannel> self, HttpRequest r) {
    auto signature = r.header("x-hub-signature-256");
    if (!signature) co_return self->refuse(r, 401, "unsigned");
    if (!signature_matches(self->spec_.app_secret, r.body, *signature, "sha256=")) {
      co_return self->refuse(r, 401, "bad_signature");
    }
    auto payload = read_payload(r.body);
    if (!payload.problem.empty()) {
      audit_bad_request(self->audit_, self->bad_request_rows_, self->spec_.name, r.client, payload.problem);
      self->events_.with({self->spec_.name, "bad_request"}).inc();
      co_return HttpResponse::error(400, "bad_request", payload.problem);
    }
    for (const auto& s : payload.statuses) {
      self->record_status(s);
      if (s.status == "failed" && self->outbox_) {
        // Meta took the message (a 200 and a wamid) and failed it later, as it often does
        // with 131047 and 131026: the ledger says so, not "delivered".
        std::string detail = "whatsapp:" + (s.error_code.empty() ? std::string("failed") : s.error_code);
        bool moved = co_await self->outbox_->failed_after_delivery(self->spec_.name, s.message_id, std::move(detail));
        if (moved && s.error_code == "131047") self->record_window_closed_later(s);
      }
    }
    for (const auto& e : payload.errors) self->record_system_error(e);
    bool retry_later = false;
    std::shared_ptr<Channel> owner = self;
    for (auto& item : payload.messages) {
      if (!item.answer) {
        self->record_unanswered(item);
        continue;
      }
      InboundMessage m = std::move(item.message);
      m.request_id = generate_request_id();
      m.channel = self->spec_.name;
      m.client = r.client;
      Accepted accepted;
      if (!self->allowed(m.sender, m.conversation)) {
        accepted = co_await AsyncIntake::refuse(self->async_, owner, std::move(m), "not_allowed",
                                                self->spec_.refused_notice);
      } else {
        accepted = co_await AsyncIntake::accept(self->async_, owner, std::move(m));
      }
      if (accepted == Accepted::accepted || accepted == Accepted::duplicate) {
        self->events_.with({self->spec_.name, accepted == Accepted::accepted ? "accepted" : "duplicate"}).inc();
      } else {
        retry_later = true;  // this one was not claimed: Meta sends the whole payload again
      }
    }
    if (!retry_later) co_return acknowledged();
    auto busy = HttpResponse::error(503, "overloaded", "cannot accept the messages now; retry later");
    busy.with_header("Retry-After", "1");
    co_return busy;
  }

  WhatsAppSpec spec_;
  std::shared_ptr<AsyncIntake> async_;
  Intake* intake_;
  OutboxDrain* outbox_;
  net::HttpClient* http_;
  AuditSink& audit_;
  EventThrottle refusal_rows_;      // auth.reject rows
  EventThrottle bad_request_rows_;  // message.rejected / bad_request rows
  observability::CounterFamily& events_;
  observability::CounterFamily& statuses_;
  observability::CounterFamily& api_errors_;
  mutable std::mutex mutex_;
  std::string token_error_;  // "whatsapp:190": deliveries are held
  std::shared_ptr<Pacer> pacer_;  // shared by the channels a reload builds: see pacer_for()
};

}  // namespace

void register_type(config::Registries& registries, ChannelFactories& factories) {
  registries.add_channel_type("whatsapp", parse);
  factories.add("whatsapp", make_webhook_channel<WhatsAppChannel, WhatsAppSpec>);
}

}  // namespace hermes::channels::whatsapp
