#pragma once
// The Channel extension point. Each channel type lives in src/channels/<type>/
// with a factory that validates its own YAML block; the YAML `type:` picks it.

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hermes/config/config.hpp"
#include "hermes/core/audit_sink.hpp"
#include "hermes/core/ingress.hpp"
#include "hermes/core/intake.hpp"
#include "hermes/core/outbox.hpp"
#include "hermes/net/http.hpp"

namespace hermes::observability {
class MetricsRegistry;
}
namespace hermes::net {
class HttpClient;
class LmtpRoutes;
}
namespace boost::asio {
class io_context;
}

namespace hermes::channels {

class OutboxDrain;
class AnswerPreview;  // below

// What a channel may use; nothing else.
struct ChannelContext {
  std::shared_ptr<Ingress> ingress;  // shared: requests in flight keep the pipeline they started with
  std::shared_ptr<const config::Config> config;  // the snapshot this channel is built from
  net::HttpRoutes& routes;  // the routes of the listener the channel names
  const config::ListenerConfig& listener;
  observability::MetricsRegistry& metrics;
  AuditSink& audit;
  Intake* intake = nullptr;        // durable intake for asynchronous channels
  OutboxDrain* outbox = nullptr;   // durable delivery for asynchronous channels
  net::HttpClient* http = nullptr;  // outbound calls (delivery)
  net::LmtpRoutes* mailboxes = nullptr;  // lmtp listeners: the addresses the channel takes
  boost::asio::io_context* io = nullptr;  // outbound connections of their own (SMTP)
};

struct ChannelHealth {
  bool healthy = true;
  std::string detail;
  std::vector<std::string> connections;  // outbound connections' states, one line each (Socket Mode)
};

class Channel {
 public:
  virtual ~Channel() = default;
  // Outbound connections (Socket Mode, IMAP), if any. The default has none.
  virtual boost::asio::awaitable<void> run();
  virtual ChannelHealth health() const { return {}; }
  // Processes a message durable intake held when the gateway last stopped.
  virtual boost::asio::awaitable<void> resume(InboundMessage message);
  // Asynchronous channels: sends one outbox entry to the peer (the drain retries).
  virtual boost::asio::awaitable<Delivery> deliver(OutboxEntry entry);
  // Asynchronous channels: an answer cut into parts that fit the peer's message limit.
  virtual std::vector<std::string> split_for_delivery(std::string text) const;
  // Asynchronous channels: why nothing can be sent now (its credentials do not work), or
  // empty. The drain holds answers meanwhile without using attempts, until give_up_after.
  virtual std::string delivery_hold() const { return {}; }
  // Asynchronous channels: an entry whose send a crash interrupted (OutboxEntry::ambiguous)
  // — the peer's id of that message when the peer shows it did arrive, so it is not sent
  // twice; nullopt when it did not or the channel cannot tell (it is then sent again).
  virtual boost::asio::awaitable<std::optional<std::string>> find_delivered(OutboxEntry entry);
  // Asynchronous channels that show answers as they are written: a preview for the answer
  // to `message`, or null (the default) to send it whole.
  virtual std::shared_ptr<AnswerPreview> preview(const InboundMessage& message);
};

// An answer shown while it is written (Slack's `stream: true`). Best effort: the answer
// itself still goes through the outbox, whose first part replaces what the preview showed.
class AnswerPreview {
 public:
  virtual ~AnswerPreview() = default;
  // The answer so far grew by `delta`. Must not wait for the peer: the model is streaming.
  virtual boost::asio::awaitable<void> append(std::string delta) = 0;
  // The answer is complete (or failed): what the first outbox part's delivery_context must
  // say so that it lands in the previewed message; empty when nothing was shown.
  virtual boost::asio::awaitable<std::string> finish() = 0;
};

// Shared: route handlers hold their channel, so a reload never frees one mid-request.
using ChannelFactory = std::function<std::shared_ptr<Channel>(const config::ChannelSpec&, ChannelContext&)>;

class ChannelFactories {
 public:
  void add(const std::string& type, ChannelFactory factory);  // duplicate: std::logic_error
  std::shared_ptr<Channel> create(const config::ChannelSpec& spec, ChannelContext& context) const;

 private:
  std::map<std::string, ChannelFactory> factories_;
};

// Registers every built-in channel type's YAML parser and factory.
void register_builtin(config::Registries& registries, ChannelFactories& factories);

}  // namespace hermes::channels
