#pragma once
// Internal to the Slack channel: Socket Mode's connections (https://api.slack.com/apis/socket-mode).
//
//   POST <api_url>/apps.connections.open (Bearer xapp-…)  -> {"ok":true,"url":"wss://…?ticket=…"}
//   wss  <- {"type":"hello","num_connections":N,…}
//        <- {"envelope_id":"…","type":"events_api"|"slash_commands"|"interactive","payload":{…},
//            "retry_attempt":0,"accepts_response_payload":bool}
//        -> {"envelope_id":"…"[,"payload":{…}]}             the acknowledgement
//        <- {"type":"disconnect","reason":"warning"|"refresh_requested"|"link_disabled"}
//
// SocketMode keeps `connections` sockets open, each with its own ticket. An envelope is
// acknowledged only when the channel's handler says so (after durable intake): one it
// does not acknowledge is sent again by Slack, perhaps on another socket. A `disconnect`
// opens the replacement at once while the old socket is read until it closes. Any other
// end (a drop, a close, a socket silent for `liveness` with its ping unanswered) is
// followed by a new connection after a jittered backoff.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hermes/core/secret.hpp"
#include "hermes/core/units.hpp"
#include "hermes/net/client_tls.hpp"
#include "hermes/observability/metrics.hpp"

namespace hermes::net {
class HttpClient;
class WebSocket;
}  // namespace hermes::net

namespace hermes::channels::slack {

struct Envelope {
  std::string type;         // hello, disconnect, events_api, slash_commands, interactive, …
  std::string envelope_id;  // empty for hello and disconnect
  nlohmann::json payload;   // null when absent
  std::string reason;       // disconnect's
  int retry_attempt = 0;
  bool accepts_response_payload = false;
};
// nullopt: not a JSON object with a string `type`.
std::optional<Envelope> parse_envelope(std::string_view text);

// What the channel did with an envelope.
struct EnvelopeReply {
  bool acknowledge = false;  // false: Slack sends it again later
  std::string outcome;       // for the metric: accepted, duplicate, skipped, ignored, overloaded, failed…
};

struct SocketModeSettings {
  std::string channel;  // the channel's name, for logs and metrics
  std::string api_url;  // https://slack.com/api
  Secret app_token;     // xapp-…
  std::uint32_t connections = 1;
  Duration liveness{30'000};
  Duration api_timeout{10'000};
  net::ClientTls tls;
  std::size_t max_envelope = 4 * 1024 * 1024;  // a larger message closes that socket (1009)
  std::chrono::milliseconds first_backoff{1'000};
  std::chrono::milliseconds max_backoff{60'000};
};

class SocketMode : public std::enable_shared_from_this<SocketMode> {
 public:
  using Handler = std::function<boost::asio::awaitable<EnvelopeReply>(Envelope)>;

  SocketMode(SocketModeSettings settings, net::HttpClient& http, observability::MetricsRegistry& metrics,
             Handler handler);
  ~SocketMode();

  // Opens the sockets and keeps them open until stop(); returns when stopped. Run it on
  // a strand: every socket is read, written and closed there.
  static boost::asio::awaitable<void> run(std::shared_ptr<SocketMode> self);
  // Any thread: no new connection; open sockets are closed (1000).
  void stop();

  std::size_t open_sockets() const;
  std::uint32_t wanted_sockets() const { return settings_.connections; }
  // One line per socket for /status ("1: open since 12:00:03Z", "2: reconnecting in 4 s: timeout").
  std::vector<std::string> describe() const;
  std::string last_error() const;

 private:
  struct Slot;
  struct OpenResult {
    std::string url;    // wss://…; empty on failure
    std::string error;  // why, for logs (never the URL: its query carries a ticket)
  };
  enum class End { dropped, replace, stopped };

  static boost::asio::awaitable<void> keep_open(std::shared_ptr<SocketMode> self, std::size_t slot);
  static boost::asio::awaitable<void> finish_replaced(std::shared_ptr<SocketMode> self,
                                                      std::shared_ptr<net::WebSocket> socket);
  boost::asio::awaitable<OpenResult> open_url();
  // Reads envelopes until the socket ends; `replaced`: a disconnect was already seen.
  boost::asio::awaitable<End> serve(std::shared_ptr<net::WebSocket> socket, std::size_t slot, bool replaced);
  // One envelope: the channel's handler, then the acknowledgement. Several run at once per
  // socket (up to kMaxInFlight), so that one slow intake commit does not hold the others
  // past Slack's 3 s and the socket keeps being read (pings answered) meanwhile.
  static boost::asio::awaitable<void> dispatch(std::shared_ptr<SocketMode> self, Envelope envelope,
                                               std::shared_ptr<net::WebSocket> socket);
  static constexpr int kMaxInFlight = 64;  // per SocketMode; the next read waits below it
  int in_flight_ = 0;                      // run()'s strand only
  void set_state(std::size_t slot, std::string state, std::string error = {});
  void track(const std::shared_ptr<net::WebSocket>& socket, bool add);
  std::chrono::milliseconds reconnect_delay(int failures) const;

  SocketModeSettings settings_;
  net::HttpClient& http_;
  observability::MetricsRegistry& metrics_;
  Handler handler_;
  observability::GaugeFamily& open_gauge_;
  observability::CounterFamily& reconnects_;
  observability::CounterFamily& envelopes_;
  std::atomic<bool> stopped_{false};
  mutable std::mutex mutex_;
  std::vector<Slot> slots_;
  std::vector<std::weak_ptr<net::WebSocket>> sockets_;  // every socket open, replaced ones included
  std::string last_error_;
  boost::asio::any_io_executor executor_;  // run()'s, where stop() closes the sockets
};

}  // namespace hermes::channels::slack
