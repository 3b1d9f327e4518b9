#pragma once
// The durable delivery ledger of asynchronous channels (Slack, WhatsApp, email,
// webhook). An answer is written here before anything is sent; a delivery
// records `delivered_at`, so a restart resumes what was not delivered and never
// re-sends what was. routing::IntakeStore implements it next to durable intake,
// so handing an answer to the outbox and completing the intake claim are one
// transaction.

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hermes {

// One message to send: a whole answer, or one part of an answer the channel
// split at its size limit (parts are delivered in order).
struct OutboxEntry {
  std::int64_t id = 0;  // assigned by the outbox
  std::string channel;
  std::string event_id;  // the intake event this answers
  int part = 0;
  int parts = 1;
  std::string request_id;
  std::string account;       // where to deliver, as the channel understands it
  std::string conversation;
  std::string thread;
  std::string recipient;
  std::string agent;
  std::string text;
  std::string delivery_context;  // the InboundMessage's, for the channel's deliver()
  std::string error_code;  // non-empty: the text is a notice about this failure (reason code)
  std::int64_t created_at_ms = 0;
  int attempts = 0;        // sends that ended without delivery
  bool ambiguous = false;  // a send began before a crash and its outcome is unknown
  // Held (WhatsApp's 24-hour window): not sent until its channel can send it, and given up
  // at `held_until_ms`. 0: not held. UTC ms.
  std::int64_t held_since_ms = 0;
  std::int64_t held_until_ms = 0;
};

enum class DeliveryResult {
  delivered,
  retry,   // transient: 429, 5xx, connect error, timeout
  failed,  // permanent: the peer refused it (bad channel, revoked token...)
  held,    // cannot be sent until the recipient writes again (WhatsApp's 24-hour window):
           // waits, no attempt used, until OutboxDrain::release() or the hold ends
};

struct Delivery {
  DeliveryResult result = DeliveryResult::failed;
  std::chrono::milliseconds retry_after{0};  // the peer's Retry-After; 0: use backoff
  std::string detail;                        // HTTP status or the peer's error code; never secrets
  std::string peer_id;                       // the peer's id for the delivered message (Slack ts...)
  // held: a new hold of this length begins (its notice, such as a template, was just sent);
  // zero: the entry's current hold goes on.
  std::chrono::milliseconds hold_for{0};
  bool ambiguous = false;  // failed after the whole request was sent: the peer may have taken it
};

class Outbox {
 public:
  virtual ~Outbox() = default;
  // Writes the parts of one answer and completes its intake claim in one
  // transaction. Returns the parts newly queued, with ids (none when this answer
  // was queued before), or nullopt when the store failed: the intake claim then
  // stays pending and is replayed at the next start.
  virtual boost::asio::awaitable<std::optional<std::vector<OutboxEntry>>> enqueue(std::vector<OutboxEntry> parts) = 0;
  // Recorded (committed) before each send, so a crash mid-send is known to be ambiguous.
  virtual boost::asio::awaitable<void> attempt_started(std::int64_t id) = 0;
  virtual boost::asio::awaitable<void> delivered(std::int64_t id, std::string peer_id) = 0;
  virtual boost::asio::awaitable<void> attempt_failed(std::int64_t id, std::string detail) = 0;
  virtual boost::asio::awaitable<void> gave_up(std::int64_t id, std::string detail) = 0;
  // How often one entry may be requeued after its peer failed it (failed_after_delivery):
  // then it fails for good, so a peer that keeps failing it cannot make it loop.
  static constexpr int kMaxRequeues = 3;
  // Held from `since` until `until` (UTC ms); an attempt is not used.
  virtual boost::asio::awaitable<void> hold(std::int64_t id, std::int64_t since, std::int64_t until) = 0;
  // The peer accepted an entry (it has `peer_id`) and reports later that it failed
  // (WhatsApp's `failed` status): delivered becomes failed or, with `requeue`, undelivered
  // again (to be sent another way). The entry, or nullopt when no delivered entry has that id.
  virtual boost::asio::awaitable<std::optional<OutboxEntry>> failed_after_delivery(std::string channel,
                                                                                   std::string peer_id,
                                                                                   std::string detail,
                                                                                   bool requeue) = 0;
  // Neither delivered nor given up, oldest first (start-up).
  virtual std::vector<OutboxEntry> undelivered() = 0;
};

}  // namespace hermes
