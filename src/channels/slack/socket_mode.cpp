// Slack Socket Mode: the sockets, their tickets, liveness, replacement and backoff.
// What an envelope means is the channel's business (slack.cpp); this file only keeps
// the connections open and acknowledges what the channel says to.
#include "src/channels/slack/socket_mode.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "hermes/core/backoff.hpp"
#include "hermes/core/json_fields.hpp"
#include "hermes/net/client.hpp"
#include "hermes/net/websocket.hpp"

namespace hermes::channels::slack {

namespace asio = boost::asio;

struct SocketMode::Slot {
  std::string state = "starting";
  std::string error;
  std::chrono::steady_clock::time_point since = std::chrono::steady_clock::now();
};

namespace {

constexpr std::size_t kReplacedSocket = static_cast<std::size_t>(-1);
// A socket Slack asked us to leave is read this long at most while it delivers what it
// still holds; Slack closes it sooner.
constexpr std::chrono::seconds kReplacedGrace{30};

// Counts an envelope in flight for as long as its dispatch lives (exceptions included).
class InFlight {
 public:
  explicit InFlight(int& count) : count_(count) {}
  ~InFlight() { --count_; }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  int& count_;
};

std::string socket_ack(const std::string& envelope_id) {
  nlohmann::json ack = {{"envelope_id", envelope_id}};
  return ack.dump();
}

std::string open_failure(int status, const nlohmann::json& reply) {
  if (!reply.is_object()) return "apps.connections.open answered HTTP " + std::to_string(status) + " without JSON";
  std::string error = json_string(reply, "error");
  if (error.empty()) error = "unknown_error";
  std::string why = "apps.connections.open: " + error;
  if (error == "not_allowed_token_type" || error == "invalid_auth" || error == "not_authed") {
    why += " (app_token must be an app-level token, xapp-…, with the connections:write scope)";
  }
  return why;
}

asio::awaitable<void> close_after(std::shared_ptr<net::WebSocket> socket, std::chrono::seconds grace) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(grace);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  std::string why = "replaced";  // named: GCC 12
  if (socket->is_open()) co_await socket->close(1000, std::move(why));
}

asio::awaitable<void> close_now(std::shared_ptr<net::WebSocket> socket) {
  std::string why = "stopping";  // named: GCC 12
  if (socket->is_open()) co_await socket->close(1000, std::move(why));
}

std::string for_how_long(std::chrono::steady_clock::time_point since) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - since).count();
  if (s < 120) return std::to_string(s) + " s";
  if (s < 7200) return std::to_string(s / 60) + " min";
  return std::to_string(s / 3600) + " h";
}

}  // namespace

std::optional<Envelope> parse_envelope(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto type = j.find("type");
  if (type == j.end() || !type->is_string()) return std::nullopt;
  Envelope e;
  e.type = type->get<std::string>();
  e.envelope_id = json_string(j, "envelope_id");
  e.reason = json_string(j, "reason");
  e.accepts_response_payload = json_bool(j, "accepts_response_payload", false);
  if (auto p = j.find("payload"); p != j.end()) e.payload = std::move(*p);
  if (auto n = j.find("retry_attempt"); n != j.end() && n->is_number_unsigned()) {
    e.retry_attempt = static_cast<int>(std::min<std::uint64_t>(n->get<std::uint64_t>(), 1000));
  }
  return e;
}

SocketMode::SocketMode(SocketModeSettings settings, net::HttpClient& http, observability::MetricsRegistry& metrics,
                       Handler handler)
    : settings_(std::move(settings)),
      http_(http),
      metrics_(metrics),
      handler_(std::move(handler)),
      open_gauge_(metrics.gauge("hermes_slack_socket_connections",
                                "Slack Socket Mode WebSockets open and serving, by channel.", {"channel"})),
      reconnects_(metrics.counter("hermes_slack_socket_reconnects_total",
                                  "Slack Socket Mode connections opened again, by channel and why the previous "
                                  "one ended (refresh_requested, closed, timeout, error, too_big, connect_failed).",
                                  {"channel", "reason"})),
      envelopes_(metrics.counter("hermes_slack_envelopes_total",
                                 "Slack Socket Mode envelopes, by channel, type and outcome.",
                                 {"channel", "type", "outcome"})),
      slots_(std::max<std::uint32_t>(settings_.connections, 1)) {}

SocketMode::~SocketMode() = default;

asio::awaitable<void> SocketMode::run(std::shared_ptr<SocketMode> self) {
  auto executor = co_await asio::this_coro::executor;
  {
    std::lock_guard lock(self->mutex_);
    self->executor_ = executor;
  }
  for (std::size_t slot = 1; slot < self->slots_.size(); ++slot) {
    asio::co_spawn(executor, keep_open(self, slot), observability::ReportFailure(self->metrics_, "slack_socket"));
  }
  co_await keep_open(self, 0);
}

void SocketMode::stop() {
  if (stopped_.exchange(true)) return;
  std::lock_guard lock(mutex_);
  if (!executor_) return;
  for (const auto& weak : sockets_) {
    if (auto socket = weak.lock()) asio::co_spawn(executor_, close_now(socket), asio::detached);
  }
}

std::size_t SocketMode::open_sockets() const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& s : slots_) n += s.state == "open";
  return n;
}

std::vector<std::string> SocketMode::describe() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    const auto& s = slots_[i];
    std::string line = std::to_string(i + 1) + ": " + s.state + " for " + for_how_long(s.since);
    if (!s.error.empty()) line += " (" + s.error + ")";
    lines.push_back(std::move(line));
  }
  return lines;
}

std::string SocketMode::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

void SocketMode::set_state(std::size_t slot, std::string state, std::string error) {
  std::lock_guard lock(mutex_);
  if (!error.empty()) last_error_ = error;
  if (slot >= slots_.size()) return;
  slots_[slot].state = std::move(state);
  slots_[slot].error = std::move(error);
  slots_[slot].since = std::chrono::steady_clock::now();
}

void SocketMode::track(const std::shared_ptr<net::WebSocket>& socket, bool add) {
  std::lock_guard lock(mutex_);
  std::erase_if(sockets_, [&](const std::weak_ptr<net::WebSocket>& w) {
    auto s = w.lock();
    return !s || s == socket;
  });
  if (add) sockets_.push_back(socket);
  // stop() sets stopped_ before it takes the lock: a socket added after its sweep is seen here.
  if (add && stopped_ && executor_) asio::co_spawn(executor_, close_now(socket), asio::detached);
  open_gauge_.with({settings_.channel}).add(add ? 1 : -1);
}

std::chrono::milliseconds SocketMode::reconnect_delay(int failures) const {
  return jittered_backoff(settings_.first_backoff, std::min(failures, 10), settings_.max_backoff);
}

asio::awaitable<SocketMode::OpenResult> SocketMode::open_url() {
  net::ClientRequest req;
  req.method = "POST";
  req.url = settings_.api_url + "/apps.connections.open";
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"Authorization", "Bearer " + settings_.app_token.reveal()}};
  req.deadline = std::chrono::steady_clock::now() + settings_.api_timeout;
  req.body_limit = 64 * 1024;
  auto result = co_await http_.fetch(std::move(req));
  OpenResult out;
  if (!result.ok()) {
    out.error = "apps.connections.open: " + result.message;
    co_return out;
  }
  auto reply = nlohmann::json::parse(result.body, nullptr, false);
  if (result.status != 200 || !json_bool(reply, "ok", false)) {
    out.error = open_failure(result.status, reply);
    co_return out;
  }
  std::string url = json_string(reply, "url");
  if (url.rfind("wss://", 0) != 0 && url.rfind("ws://", 0) != 0) {
    out.error = "apps.connections.open answered without a wss:// url";
    co_return out;
  }
  out.url = std::move(url);
  co_return out;
}

asio::awaitable<void> SocketMode::keep_open(std::shared_ptr<SocketMode> self, std::size_t slot) {
  const std::string& channel = self->settings_.channel;
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer wait(executor);
  int failures = 0;
  std::string previous_end;  // why the last connection ended: the reconnect's reason
  while (!self->stopped_) {
    if (!previous_end.empty()) self->reconnects_.with({channel, previous_end}).inc();
    self->set_state(slot, "connecting");
    auto opened = co_await self->open_url();
    std::shared_ptr<net::WebSocket> socket;
    std::string error = opened.error;
    if (error.empty()) {
      net::WebSocketClientOptions options;
      options.max_message = self->settings_.max_envelope;
      options.connect_timeout = self->settings_.api_timeout;
      options.idle_timeout = self->settings_.liveness;  // a ping at half of it; silence to the end: replaced
      options.keep_alive_pings = true;
      auto connected = co_await net::connect_websocket_url(opened.url, options, self->settings_.tls);
      socket = std::move(connected.socket);
      error = std::move(connected.error);
    }
    if (self->stopped_) {
      std::string why = "stopping";  // named: GCC 12
      if (socket) co_await socket->close(1000, std::move(why));
      co_return;
    }
    if (!socket) {
      previous_end = "connect_failed";
      auto delay = self->reconnect_delay(failures++);
      if (failures == 1 || failures % 10 == 0) {
        spdlog::error("slack {}: Socket Mode connection {} cannot open: {}; retrying in {} ms", channel, slot + 1,
                      error, delay.count());
      }
      self->set_state(slot, "reconnecting", error);
      wait.expires_after(delay);
      co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    self->track(socket, true);
    self->set_state(slot, "open");
    if (failures > 0) spdlog::info("slack {}: Socket Mode connection {} open again", channel, slot + 1);
    auto opened_at = std::chrono::steady_clock::now();
    End end = co_await self->serve(socket, slot, false);
    if (end == End::replace) {
      // The old socket still delivers what it holds; its replacement opens now.
      previous_end = "refresh_requested";
      failures = 0;
      asio::co_spawn(executor, finish_replaced(self, socket),
                     observability::ReportFailure(self->metrics_, "slack_socket"));
      continue;
    }
    self->track(socket, false);
    if (end == End::stopped || self->stopped_) co_return;
    previous_end = socket->end_reason().empty() ? "error" : socket->end_reason();
    if (std::chrono::steady_clock::now() - opened_at >= self->settings_.liveness) failures = 0;
    auto delay = self->reconnect_delay(failures++);
    spdlog::warn("slack {}: Socket Mode connection {} ended ({}); reconnecting in {} ms", channel, slot + 1,
                 previous_end, delay.count());
    self->set_state(slot, "reconnecting", "ended: " + previous_end);
    wait.expires_after(delay);
    co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<void> SocketMode::finish_replaced(std::shared_ptr<SocketMode> self,
                                                  std::shared_ptr<net::WebSocket> socket) {
  auto executor = co_await asio::this_coro::executor;
  asio::co_spawn(executor, close_after(socket, kReplacedGrace), asio::detached);
  co_await self->serve(socket, kReplacedSocket, true);
  self->track(socket, false);
}

asio::awaitable<SocketMode::End> SocketMode::serve(std::shared_ptr<net::WebSocket> socket, std::size_t slot,
                                                   bool replaced) {
  const std::string& channel = settings_.channel;
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer backlog(executor);
  bool warned = false;
  for (;;) {
    auto text = co_await socket->read();
    if (!text) co_return stopped_ ? End::stopped : End::dropped;
    auto envelope = parse_envelope(*text);
    if (!envelope) {
      envelopes_.with({channel, "unreadable", "ignored"}).inc();
      if (!std::exchange(warned, true)) spdlog::warn("slack {}: a Socket Mode message is not an envelope", channel);
      continue;
    }
    if (envelope->type == "hello") {
      envelopes_.with({channel, "hello", "ok"}).inc();
      spdlog::debug("slack {}: Socket Mode connection {} says hello", channel, slot + 1);
      continue;
    }
    if (envelope->type == "disconnect") {
      envelopes_.with({channel, "disconnect", envelope->reason.empty() ? "none" : envelope->reason}).inc();
      if (replaced) continue;
      if (envelope->reason == "link_disabled") {
        spdlog::error("slack {}: Slack disabled Socket Mode for this app (link_disabled); turn it on in the app's "
                      "settings. Retrying with backoff",
                      channel);
        set_state(slot, "closing", "link_disabled");
        std::string why = "link_disabled";  // named: GCC 12
        co_await socket->close(1000, std::move(why));
        co_return End::dropped;
      }
      spdlog::info("slack {}: Slack asks connection {} to reconnect ({}); opening its replacement", channel, slot + 1,
                   envelope->reason);
      co_return End::replace;
    }
    while (in_flight_ >= kMaxInFlight) {  // back-pressure: Slack redelivers what waits too long
      backlog.expires_after(std::chrono::milliseconds(5));
      co_await backlog.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    ++in_flight_;
    asio::co_spawn(executor, dispatch(shared_from_this(), std::move(*envelope), socket),
                   observability::ReportFailure(metrics_, "slack_envelope"));
  }
}

asio::awaitable<void> SocketMode::dispatch(std::shared_ptr<SocketMode> self, Envelope envelope,
                                          std::shared_ptr<net::WebSocket> socket) {
  InFlight counted(self->in_flight_);  // serve() counted it in
  const std::string& channel = self->settings_.channel;
  std::string type = envelope.type;
  std::string id = envelope.envelope_id;
  if (id.empty()) {
    self->envelopes_.with({channel, type, "no_envelope_id"}).inc();
    co_return;
  }
  EnvelopeReply reply = co_await self->handler_(std::move(envelope));
  self->envelopes_.with({channel, type, reply.outcome}).inc();
  if (reply.acknowledge) {
    std::string ack = socket_ack(id);
    bool sent = co_await socket->write(std::move(ack));
    if (!sent) spdlog::debug("slack {}: the acknowledgement of {} was not sent (socket gone)", channel, id);
  }  // else Slack sends it again (on this socket or another)
}

}  // namespace hermes::channels::slack
