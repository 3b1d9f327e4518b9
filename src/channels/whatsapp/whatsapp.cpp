// The WhatsApp channel: the GET handshake, signed webhooks claimed through durable intake
// before the 200, answers sent to the Graph API's /messages through the outbox in the
// context of the message they answer, delivery statuses audited.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <mutex>
#include <set>

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

WindowTemplate parse_window_template(config::MapReader& channel, Duration dedup_retention) {
  config::MapReader r(channel.child("window_template"), channel.path_of("window_template"), channel.context());
  WindowTemplate t;
  if (auto name = r.required<std::string>("name")) t.name = *name;
  // Meta's template names: lower-case letters, digits and underscores.
  if (t.name.empty() || t.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos) {
    r.context().error(r.child("name"), r.path_of("name"),
                      "name must be the approved template's name (lower-case letters, digits and _)");
  }
  t.language = r.optional<std::string>("language").value_or(t.language);
  if (t.language.size() < 2 || t.language.size() > 8 ||
      t.language.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_") != std::string::npos) {
    r.context().error(r.child("language"), r.path_of("language"), "language must be a template language code like en_US");
  }
  t.parameters = r.optional<std::vector<std::string>>("parameters").value_or(std::vector<std::string>{});
  t.hold = r.optional<Duration>("hold").value_or(t.hold);
  // The window is kept from remembered claims: a hold longer than they are kept could not
  // see the user write again.
  if (t.hold < std::chrono::seconds(1) || t.hold > dedup_retention) {
    r.context().error(r.child("hold"), r.path_of("hold"),
                      "hold must be from 1s to the channel's dedup_retention (" +
                          std::to_string(dedup_retention.count() / 3'600'000) + "h)");
  }
  r.finish();
  return t;
}

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
  spec->allowed_users = r.optional<std::vector<std::string>>("allowed_users").value_or(std::vector<std::string>{});
  spec->refused_notice = r.optional<std::string>("refused_notice").value_or("");
  spec->dedup_retention = r.optional<Duration>("dedup_retention").value_or(spec->dedup_retention);
  if (spec->dedup_retention < std::chrono::hours(24)) {
    r.context().error(r.child("dedup_retention"), r.path_of("dedup_retention"),
                      "dedup_retention must be at least 24h (Meta re-delivers webhooks for up to 7 days)");
  }
  if (r.has("window_template")) spec->window_template = parse_window_template(r, spec->dedup_retention);
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
        templates_(ctx.metrics.counter("hermes_whatsapp_templates_total",
                                       "Window templates sent (or refused) for answers held outside the 24-hour "
                                       "window, by channel and outcome.",
                                       {"channel", "outcome"})),
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
    bool still_allowed = allowed(message.sender, message.conversation);
    std::shared_ptr<Channel> self = shared_from_this();  // named: no temporaries inside co_await (GCC 12)
    co_await AsyncIntake::replay(async_, self, std::move(message), still_allowed);
  }

  std::vector<std::string> split_for_delivery(std::string text) const override {
    return split_message(text, spec_.max_message_bytes);
  }

  asio::awaitable<Delivery> deliver(OutboxEntry entry) override {
    if (entry.held_since_ms > 0) {
      // Held for its user since a template went out: free text can go once they wrote again.
      bool reopened = co_await wrote_since(entry.conversation, entry.held_since_ms);
      if (!reopened) co_return still_held();
      Delivery d = co_await send_text(entry);
      released_one(entry.conversation);
      co_return d;
    }
    if (spec_.window_template) {
      co_await after_released(entry.conversation);
      bool closed = co_await window_closed(entry);
      if (closed) co_return co_await hold_with_template(entry);  // free text would be refused
    }
    co_return co_await send_text(entry);
  }

  asio::awaitable<Delivery> send_text(OutboxEntry entry) {
    if (entry.part == 0 && !entry.event_id.empty()) {
      // The asking message shows as read: best effort, its failure changes nothing. Not a
      // message: not paced.
      auto receipt = co_await call_api(entry.account, read_receipt(entry.event_id), entry.request_id);
      (void)receipt;
    }
    // Paced right before the message itself: a slot reserved before the read receipt's
    // round trip would let two messages to one user reach Meta closer than the interval.
    co_await pace(entry);
    auto result = co_await call_api(entry.account, message_body(entry), entry.request_id);
    Delivery d = classify_send(result);
    if (d.result != DeliveryResult::delivered) count_api_error(d.detail);
    if (d.detail == "whatsapp:190") {
      // The token expired or was revoked: answers wait in the outbox until it is replaced.
      d.result = DeliveryResult::retry;
      refuse_token(d.detail);
    } else if (d.result == DeliveryResult::delivered) {
      clear_token_error();
    } else if (d.detail == "whatsapp:131047") {
      note_window_closed(entry.conversation);
      if (spec_.window_template) co_return co_await hold_with_template(entry);
      record_window_closed(entry);
    }
    co_return d;
  }

 private:
  using SystemClock = std::chrono::system_clock;
  // Meta's customer service window: free text only within 24 hours of the user's last message.
  static constexpr std::chrono::hours kWindow{24};

  static std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(SystemClock::now().time_since_epoch()).count();
  }

  // Paced before it is sent, not after Meta refuses it: 130429 and 131056 cost a retry.
  asio::awaitable<void> pace(const OutboxEntry& entry) {
    auto wait = pacer_->reserve(entry.account, spec_.send_rate, entry.conversation, spec_.recipient_interval,
                                Pacer::Clock::now());
    if (wait <= Pacer::Clock::duration::zero()) co_return;
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor, wait);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }

  // Whether free text to `entry`'s user would be refused (131047): Meta said so since they
  // last wrote, or their last message (kept by intake) is more than 24 hours old. An answer
  // queued within the hour follows a message from its user, so only older ones ask intake.
  bool known_closed(const std::string& conversation) const {
    std::lock_guard lock(mutex_);
    return closed_windows_.contains(conversation);
  }

  asio::awaitable<bool> window_closed(const OutboxEntry& entry) {
    if (known_closed(entry.conversation)) co_return true;
    if (now_ms() - entry.created_at_ms < 3'600'000 || !intake_) co_return false;
    auto last = co_await intake_->last_received(spec_.name, entry.conversation);
    co_return !last || now_ms() - *last > std::chrono::duration_cast<std::chrono::milliseconds>(kWindow).count();
  }

  asio::awaitable<bool> wrote_since(std::string conversation, std::int64_t since_ms) {
    // Woken by window_opened(): known here, and the held answer reserves its send before
    // the answer to the new message can (that one still goes through the pipeline).
    if (opened_since(conversation, since_ms)) co_return true;
    if (!intake_) co_return false;
    auto last = co_await intake_->last_received(spec_.name, std::move(conversation));
    co_return last && *last > since_ms;
  }

  void note_window_closed(const std::string& conversation) {
    std::lock_guard lock(mutex_);
    if (closed_windows_.size() >= kMaxTrackedWindows) closed_windows_.erase(closed_windows_.begin());
    closed_windows_.insert(conversation);
  }

  bool opened_since(const std::string& conversation, std::int64_t since_ms) const {
    std::lock_guard lock(mutex_);
    auto opened = opened_windows_.find(conversation);
    return opened != opened_windows_.end() && opened->second > since_ms;
  }

  // The user wrote (their message is claimed): their window is open and what was held for
  // them can go, before the answer to what they just wrote (see after_released()).
  void window_opened(const std::string& conversation) {
    auto now = now_ms();
    std::lock_guard lock(mutex_);
    closed_windows_.erase(conversation);
    template_holds_.erase(conversation);
    auto woken = outbox_ ? outbox_->release(spec_.name, conversation) : 0;
    if (woken == 0) return;
    if (opened_windows_.size() >= kMaxTrackedWindows) opened_windows_.erase(opened_windows_.begin());
    opened_windows_[conversation] = now;
    if (releasing_.size() >= kMaxTrackedWindows) releasing_.clear();  // deadlines of seconds: nothing lasting is lost
    releasing_[conversation] = Pacer::Clock::now() + kReleaseWait;
  }

  // A released answer was sent (whatever the outcome): the next answer need not wait.
  void released_one(const std::string& conversation) {
    std::lock_guard lock(mutex_);
    releasing_.erase(conversation);
  }

  bool releasing(const std::string& conversation) {
    std::lock_guard lock(mutex_);
    auto it = releasing_.find(conversation);
    if (it == releasing_.end()) return false;
    if (it->second > Pacer::Clock::now()) return true;
    releasing_.erase(it);  // a released answer that never sent (stopped, held again) holds nobody for long
    return false;
  }

  // Answers released for a user go first: the answer to the message that reopened the window
  // waits until they were sent (at most kReleaseWait: a release that never sends, because
  // the gateway stops, must not hold the user's answer).
  asio::awaitable<void> after_released(const std::string& conversation) {
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor);
    while (releasing(conversation)) {
      timer.expires_after(kReleasePoll);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }

  void count_api_error(const std::string& detail) { api_errors_.with({spec_.name, detail}).inc(); }

  std::chrono::milliseconds template_hold_left(const std::string& conversation) const {
    std::lock_guard lock(mutex_);
    auto active = template_holds_.find(conversation);
    if (active == template_holds_.end()) return std::chrono::milliseconds(0);
    return std::chrono::milliseconds(std::max<std::int64_t>(active->second - now_ms(), 0));
  }

  static Delivery still_held() {
    Delivery d;
    d.result = DeliveryResult::held;
    d.detail = "whatsapp:131047";
    return d;
  }

  // Outside the window with a template configured: the template asks the user to write
  // again (once per user and hold), and the answer waits for that.
  asio::awaitable<Delivery> hold_with_template(OutboxEntry entry) {
    const auto& tmpl = *spec_.window_template;
    Delivery held = still_held();
    if (auto left = template_hold_left(entry.conversation); left.count() > 0) {
      held.hold_for = left;  // the template went out for an earlier answer: this one ends with its hold
      co_return held;
    }
    co_await pace(entry);
    auto result = co_await call_api(entry.account, template_body(entry, tmpl), entry.request_id);
    Delivery sent = classify_send(result);
    if (sent.result != DeliveryResult::delivered) {
      count_api_error(sent.detail);
      record_template(entry, "refused", sent.detail, "");
      if (sent.result == DeliveryResult::failed) {
        record_window_closed(entry, "the window template " + tmpl.name + " was refused (" + sent.detail + ")");
        sent.detail = "whatsapp:131047+template:" + sent.detail.substr(sent.detail.find(':') + 1);
      }
      co_return sent;
    }
    {
      std::lock_guard lock(mutex_);
      if (template_holds_.size() >= kMaxTrackedWindows) template_holds_.erase(template_holds_.begin());
      template_holds_[entry.conversation] = now_ms() + tmpl.hold.count();
    }
    record_template(entry, "sent", "ok", sent.peer_id);
    held.hold_for = tmpl.hold;
    held.peer_id = sent.peer_id;
    co_return held;
  }

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

  // A row about an answer (an outbox entry) and its user.
  static AuditEvent answer_event(const OutboxEntry& entry, std::string kind, std::string decision, std::string status) {
    AuditEvent ev;
    ev.kind = std::move(kind);
    ev.request_id = entry.request_id;
    ev.channel = entry.channel;
    ev.sender = entry.conversation;
    ev.conversation = entry.conversation;
    ev.agent = entry.agent;
    ev.decision = std::move(decision);
    ev.status = std::move(status);
    return ev;
  }

  // Outside the 24-hour customer service window: the answer cannot go as free text.
  void record_window_closed(const OutboxEntry& entry,
                            std::string why = "more than 24 hours since the user's last message; no window_template "
                                              "configured") {
    AuditEvent ev = answer_event(entry, "whatsapp.window_closed", "refused", "outside_window");
    ev.detail = {{"event_id", entry.event_id}, {"outbox_id", entry.id}, {"part", entry.part}, {"why", std::move(why)}};
    audit_.record(std::move(ev));
  }

  // The window template sent (or refused) for an answer that must wait for its user.
  void record_template(const OutboxEntry& entry, const std::string& decision, const std::string& status,
                       const std::string& peer_id) {
    templates_.with({spec_.name, decision}).inc();
    AuditEvent ev = answer_event(entry, "whatsapp.template", decision, status);
    ev.detail = {{"template", spec_.window_template->name}, {"event_id", entry.event_id}, {"outbox_id", entry.id},
                 {"hold_ms", spec_.window_template->hold.count()}};
    if (!peer_id.empty()) ev.detail["peer_id"] = peer_id;
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
        // Outside the window with a template: sent again, as the template and a held answer.
        bool requeue = s.error_code == "131047" && self->spec_.window_template.has_value();
        if (requeue) self->note_window_closed(s.recipient);
        bool moved =
            co_await self->outbox_->failed_after_delivery(self->spec_.name, s.message_id, std::move(detail), requeue);
        if (moved && s.error_code == "131047" && !requeue) self->record_window_closed_later(s);
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
      std::string conversation = m.conversation;
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
      if (accepted == Accepted::accepted) self->window_opened(conversation);
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
  // Bounded: a user past the bound is asked again (of intake, or of Meta by a refused send).
  static constexpr std::size_t kMaxTrackedWindows = 100'000;
  std::set<std::string> closed_windows_;               // users Meta refused free text since they last wrote
  std::map<std::string, std::int64_t> template_holds_;  // user -> when the hold of the template sent ends (ms)
  std::map<std::string, std::int64_t> opened_windows_;  // user -> when they wrote to answers held for them (ms)
  // user -> until when the answer to their new message waits for the ones released for them
  std::map<std::string, Pacer::Clock::time_point> releasing_;
  static constexpr std::chrono::milliseconds kReleasePoll{20};
  static constexpr std::chrono::milliseconds kReleaseWait{5'000};
  observability::CounterFamily& templates_;
  std::shared_ptr<Pacer> pacer_;  // shared by the channels a reload builds: see pacer_for()
};

}  // namespace

void register_type(config::Registries& registries, ChannelFactories& factories) {
  registries.add_channel_type("whatsapp", parse);
  factories.add("whatsapp", make_webhook_channel<WhatsAppChannel, WhatsAppSpec>);
}

}  // namespace hermes::channels::whatsapp
