#pragma once
// Private to src/cdp: one configured browser as the relay serves it (BrowserRelay), the
// state it keeps across reloads (BrowserShared), and one-shot browser-level connections
// for the relay's own commands (Control).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "hermes/cdp/relay.hpp"
#include "hermes/core/throttle.hpp"
#include "hermes/net/client.hpp"
#include "hermes/net/websocket.hpp"
#include "hermes/observability/metrics.hpp"
#include "src/cdp/policy.hpp"

namespace hermes::cdp {

using Clock = std::chrono::steady_clock;

// Per browser (by name and endpoint), for the life of the process.
struct BrowserShared {
  struct Ticket {
    std::string key;   // the key name it stands for
    std::string path;  // the one WebSocket path it opens
    Clock::time_point expires;
  };
  std::mutex mutex;
  std::map<std::string, std::string> contexts;  // key name -> its browser context id
  std::map<std::string, Ticket> tickets;        // single use, short-lived
  std::atomic<int> sessions{0};
  std::atomic<bool> healthy{false};
  std::string health_detail = "not probed yet";  // under mutex
};

// The outcome of a relay command: its result, or why there is none.
struct CallResult {
  std::optional<nlohmann::json> result;
  std::string error;
};

class BrowserRelay;

// A browser-level connection for a few sequential commands of the relay's own (context
// creation, target lookups for the json/* endpoints), closed after use.
class Control {
 public:
  explicit Control(std::shared_ptr<net::WebSocket> socket) : socket_(std::move(socket)) {}
  boost::asio::awaitable<CallResult> call(std::string method, nlohmann::json params);
  boost::asio::awaitable<void> close();

 private:
  std::shared_ptr<net::WebSocket> socket_;
  std::int64_t next_id_ = kRelayIdBase;
};

// A value or why there is none. `error` is for logs: it may name the browser's address,
// so clients get a generic message.
struct TextResult {
  std::string value;
  std::string error;
};

struct ControlOpen {
  std::unique_ptr<Control> control;
  std::string path;     // the browser-level WebSocket path it connected to
  std::string context;  // open_control_for(): the key's browser context; empty on failure
  std::string error;
};

struct RelayMetrics {
  observability::GaugeFamily& sessions;
  observability::CounterFamily& sessions_total;
  observability::CounterFamily& commands;
  observability::CounterFamily& refused;
  observability::CounterFamily& bytes;
  observability::GaugeFamily& up;
  explicit RelayMetrics(observability::MetricsRegistry& m);
};

class BrowserRelay : public std::enable_shared_from_this<BrowserRelay> {
 public:
  BrowserRelay(config::BrowserConfig config, std::shared_ptr<BrowserShared> shared, RelayDeps deps);

  const config::BrowserConfig& config() const { return config_; }
  BrowserShared& shared() { return *shared_; }
  const MethodPolicy& methods() const { return methods_; }
  RelayMetrics& metrics() { return metrics_; }
  std::string prefix() const { return "/cdp/" + config_.name + "/"; }
  net::WebSocketClientOptions upstream_options() const;

  void mount(net::HttpRoutes& routes);
  boost::asio::awaitable<void> probe_loop(std::weak_ptr<BrowserRelay> self);
  // The navigation guard (src/cdp/guard.cpp): the relay's own browser-level session that
  // auto-attaches to every page, holds it until its Fetch interception is on, and fails
  // each document request outside allow_urls, whoever or whatever started it. Runs until
  // stop_guard(); reconnects after a drop.
  boost::asio::awaitable<void> guard_loop(std::weak_ptr<BrowserRelay> self);
  void start_guard(boost::asio::any_io_executor strand);
  void stop_guard();
  bool guard_ready() const { return guard_ready_.load(); }

  // The path of the browser-level DevTools WebSocket ("/devtools/browser/<id>"), from
  // the browser's /json/version; `value` empty and `error` set when it cannot be read.
  boost::asio::awaitable<TextResult> browser_socket_path();
  boost::asio::awaitable<ControlOpen> open_control();
  // open_control(), and the key's context found (or made) on it; on failure `error` says
  // why and `control`, when set, is still to be closed.
  boost::asio::awaitable<ControlOpen> open_control_for(std::string key);
  // Whether `target` is in `context` (another key's target, or none, is not).
  boost::asio::awaitable<bool> in_context(Control* control, std::string target, std::string context);
  // The browser context `key` works in, created on first use (downloads denied) and
  // re-created when the browser no longer has it (a restart).
  boost::asio::awaitable<TextResult> context_for(Control* control, std::string key);

  std::string issue_ticket(const std::string& key, const std::string& path);
  std::optional<std::string> peek_ticket(const std::string& ticket, const std::string& path);
  std::optional<std::string> redeem_ticket(const std::string& ticket, const std::string& path);

  void count_refusal(std::string_view reason);
  // Metric updates, outside coroutine bodies (GCC 12: no braced lists there).
  void count_bytes(std::string_view direction, std::size_t n) { metrics_.bytes.with({config_.name, direction}).inc(n); }
  void count_command() { metrics_.commands.with({config_.name}).inc(); }
  void count_session() { metrics_.sessions_total.with({config_.name}).inc(); }
  void set_up(bool up) { metrics_.up.with({config_.name}).set(up ? 1 : 0); }
  // A refusal anyone can repeat (bad key, foreign Origin, max_sessions): audited throttled.
  void audit_refusal(const net::HttpRequest& request, const std::string& status, const std::string& message);
  void audit_navigation(const std::string& key, const std::string& client, const std::string& url, bool allowed,
                        const std::string& via, const std::string& reason, const std::string& target);
  void audit_session(AuditEvent event);

  boost::asio::awaitable<net::HttpResponse> handle_http(net::HttpRequest request);
  std::optional<net::HttpResponse> admit_websocket(const net::HttpRequest& request);
  void release_session();
  boost::asio::awaitable<void> serve_websocket(net::HttpRequest request, std::shared_ptr<net::WebSocket> client);

 private:
  boost::asio::awaitable<net::HttpResponse> json_version(net::HttpRequest request, std::string key);
  boost::asio::awaitable<net::HttpResponse> json_list(net::HttpRequest request, std::string key);
  boost::asio::awaitable<net::HttpResponse> json_new(net::HttpRequest request, std::string key);
  boost::asio::awaitable<net::HttpResponse> json_target_action(net::HttpRequest request, std::string key,
                                                               std::string action, std::string target);
  boost::asio::awaitable<net::HttpResponse> json_protocol();
  std::optional<net::HttpResponse> admit(const net::HttpRequest& request, std::string& key, bool websocket);
  std::optional<std::string> session_key(const net::HttpRequest& request);
  nlohmann::json target_entry(const net::HttpRequest& request, const std::string& key, const nlohmann::json& info);
  std::string socket_url(const net::HttpRequest& request, const std::string& path, const std::string& ticket) const;

  boost::asio::awaitable<void> guard_session();
  net::HttpResponse unavailable(const std::string& detail) const;
  net::ClientRequest upstream_get(const std::string& path, std::uint64_t body_limit) const;
  std::string key_of_context(const std::string& context);

  config::BrowserConfig config_;
  std::shared_ptr<BrowserShared> shared_;
  std::atomic<bool> guard_ready_{false};
  std::atomic<bool> guard_stopping_{false};
  std::mutex guard_mutex_;
  std::shared_ptr<net::WebSocket> guard_socket_;  // under guard_mutex_
  boost::asio::any_io_executor guard_executor_;   // a strand: the guard's socket lives there
  KeyedEventThrottle navigation_throttle_{1024, 100, 10};  // cdp.navigation rows, per key
  RelayDeps deps_;
  MethodPolicy methods_;
  RelayMetrics metrics_;
  EventThrottle refusal_throttle_;
};

// Runs one relay WebSocket session to its end (src/cdp/session.cpp). `page_target`: the
// page a /devtools/page/<id> connection drives; empty for a browser-level connection.
boost::asio::awaitable<void> run_session(std::shared_ptr<BrowserRelay> browser, net::HttpRequest request,
                                         std::shared_ptr<net::WebSocket> client, std::string key,
                                         std::string context, std::string upstream_path, std::string page_target);

// {"id", "method", "params", "sessionId"?} as sent to the browser.
std::string command_text(std::int64_t id, const std::string& method, nlohmann::json params,
                         const std::string& session_id);


}  // namespace hermes::cdp
