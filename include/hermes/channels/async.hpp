#pragma once
// What every asynchronous channel (webhook, Slack, WhatsApp, email) shares, so
// that a channel adds only its wire format (signature check, parsing, one
// deliver() call):
//
//   AsyncIntake  claim the event durably, acknowledge, answer in the background
//                through the pipeline, and hand the answer to the outbox;
//   OutboxDrain  deliver queued answers in order with retries, backoff and the
//                peer's Retry-After; resume after a restart; audit every outcome.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "hermes/channels/channel.hpp"
#include "hermes/core/secret.hpp"
#include "hermes/core/throttle.hpp"
#include "hermes/observability/metrics.hpp"

namespace hermes::net {
struct ClientResult;
}

namespace hermes::channels {

struct DeliveryPolicy {
  int max_attempts = 12;                            // then the entry is given up (audited)
  std::chrono::milliseconds first_backoff{1'000};   // doubled per attempt, with jitter
  std::chrono::milliseconds max_backoff{300'000};
  std::chrono::milliseconds give_up_after{86'400'000};  // 24 h after it was queued
};

class OutboxDrain {
 public:
  // The channel currently configured under a name (reloads replace channels).
  using ChannelLookup = std::function<std::shared_ptr<Channel>(const std::string& name)>;

  OutboxDrain(boost::asio::any_io_executor executor, Outbox& outbox, ChannelLookup lookup, AuditSink& audit,
              observability::MetricsRegistry& metrics, DeliveryPolicy policy = {});
  ~OutboxDrain();

  // Writes an answer's parts durably (completing its intake claim in the same
  // transaction) and starts delivering them. False when the store failed.
  boost::asio::awaitable<bool> enqueue(std::vector<OutboxEntry> parts);
  // Start-up: delivers what the outbox holds undelivered from before the last stop.
  void resume();
  // Parts queued and not yet delivered or given up.
  std::size_t pending() const;
  // Sends in flight (begun, outcome not yet recorded).
  std::size_t sending() const;
  // Shutdown: no new send begins; what is queued stays in the outbox for the next start.
  void stop();
  // Applies to the next attempt of every entry (reload).
  void set_policy(const DeliveryPolicy& policy);
  // The peer reports a failure of a message it had accepted (`peer_id`): the entry moves
  // from delivered to failed, with a `message.delivery` row (`failed_after_delivery`), or
  // with `requeue` is delivered again (`requeued_after_delivery`): the channel sends it
  // another way. False when no delivered entry of `channel` has that id.
  boost::asio::awaitable<bool> failed_after_delivery(std::string channel, std::string peer_id, std::string detail,
                                                     bool requeue = false);
  // `conversation` wrote to `channel` again: its answers held for it (Delivery::held) are
  // tried now. Any thread. How many were waiting.
  std::size_t release(const std::string& channel, const std::string& conversation);

  struct State;

 private:
  void start(std::vector<OutboxEntry> parts);
  std::shared_ptr<State> state_;
};

// Constant-time check of `provided` == `prefix` + hex HMAC-SHA256(secret, signed_text),
// the scheme of Slack (`v0=`), WhatsApp/Meta (`sha256=`) and the webhook channel.
bool signature_matches(const Secret& secret, std::string_view signed_text, std::string_view provided,
                       std::string_view prefix);
// A signed request whose body is not what the channel expects: a throttled
// message.rejected / bad_request row, detail `client` and `why`.
void audit_bad_request(AuditSink& audit, EventThrottle& throttle, const std::string& channel,
                       const IpAddress& client, std::string_view why);
// Records a refused (unsigned, mis-signed, stale) request: an `auth.reject` row, rate-limited
// by the channel's `throttle` (anyone who reaches the endpoint can send such requests).
void audit_refusal(AuditSink& audit, EventThrottle& throttle, const std::string& channel, const IpAddress& client,
                   std::string_view why);
// `text` cut into pieces of at most `max_bytes`, preferring paragraph, line and
// word boundaries, never inside a UTF-8 sequence.
std::vector<std::string> split_message(std::string_view text, std::size_t max_bytes);

// The usual HTTP mapping: 2xx delivered; 429 (with its Retry-After), 408, 5xx
// and transport errors retried; any other status refused for good.
Delivery classify_http_delivery(const net::ClientResult& result);

// The factory of an asynchronous channel: it sends through the shared HTTP client and
// serves its webhook on its listener's routes (`mount`).
template <class ChannelType, class SpecType>
std::shared_ptr<Channel> make_webhook_channel(const config::ChannelSpec& spec, ChannelContext& context) {
  if (!context.http) throw std::logic_error(spec.type + " channel needs an http client");
  auto channel = std::make_shared<ChannelType>(static_cast<const SpecType&>(spec), context);
  channel->mount(context.routes);
  return channel;
}

enum class Accepted {
  accepted,    // persisted: acknowledge; the answer follows through the outbox
  duplicate,   // a retry of an event already claimed: acknowledge, do nothing
  overloaded,  // no headroom: refuse so the sender retries later
  failed,      // the intake store failed: refuse so the sender retries later
};

class AsyncIntake {
 public:
  AsyncIntake(const std::string& channel_name, ChannelContext& context);

  // Claims `message` (which carries its event id) before the channel answers its
  // sender; when accepted, answers it in the background through `owner`.
  static boost::asio::awaitable<Accepted> accept(std::shared_ptr<AsyncIntake> self, std::shared_ptr<Channel> owner,
                                                 InboundMessage message);
  // A message the channel will not answer (an allowlist refused its sender):
  // claimed so retries stay quiet, audited (`message.rejected`, `not_allowed`),
  // and `notice` (when not empty) queued the first time this sender is refused.
  static boost::asio::awaitable<Accepted> refuse(std::shared_ptr<AsyncIntake> self, std::shared_ptr<Channel> owner,
                                                 InboundMessage message, std::string why, std::string notice);
  // A message intake held when the gateway last stopped (Channel::resume()): answered, or,
  // when its sender is no longer `allowed` (refused before the stop, or the allowlist
  // changed since), completed unanswered.
  static boost::asio::awaitable<void> replay(std::shared_ptr<AsyncIntake> self, std::shared_ptr<Channel> owner,
                                             InboundMessage message, bool allowed);
  // The pipeline, then the outbox.
  static boost::asio::awaitable<void> answer(std::shared_ptr<AsyncIntake> self, std::shared_ptr<Channel> owner,
                                             InboundMessage message);

 private:
  bool first_notice_in_window(const InboundMessage& m, std::chrono::seconds window);
  bool first_refusal(const std::string& sender);
  // A `message.rejected` row and the event counter, for duplicates and refusals.
  void record_rejection(const InboundMessage& m, const std::string& status, const std::string& why);
  static std::vector<OutboxEntry> entries_for(const Channel& owner, const InboundMessage& m, const std::string& agent,
                                              std::string text, const std::string& error_code);

  std::string channel_;
  std::shared_ptr<Ingress> ingress_;
  Intake* intake_;
  OutboxDrain* outbox_;
  AuditSink& audit_;
  observability::CounterFamily& events_;
  observability::ReportFailure report_failure_;  // what escapes an answer() coroutine
  std::mutex notices_mutex_;
  std::map<std::string, std::chrono::steady_clock::time_point> notice_until_;  // rate-limit notices sent, by sender
  std::set<std::string> refused_;  // senders told they are not allowed (bounded)
};

}  // namespace hermes::channels
