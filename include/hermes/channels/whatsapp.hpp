#pragma once
// WhatsApp (`type: whatsapp`): Business Cloud API webhooks in, the Graph API's /messages
// out, answered exactly once through durable intake and the outbox (channels/async.hpp).
//
//   GET  /whatsapp/<channel>/events?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…
//   POST /whatsapp/<channel>/events
//   X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hermes/channels/channel.hpp"
#include "hermes/core/secret.hpp"

namespace hermes::net {
struct ClientResult;
}

namespace hermes::channels::whatsapp {

// The approved template sent when an answer cannot go as free text (131047: more than 24
// hours since the user last wrote). The answer is held until the user writes again, for
// at most `hold`.
struct WindowTemplate {
  std::string name;
  std::string language = "en_US";
  std::vector<std::string> parameters;  // the body's {{1}}, {{2}}…, as text; empty: none
  Duration hold{24LL * 3'600'000};
};

struct WhatsAppSpec final : config::ChannelSpec {
  Secret app_secret;    // the Meta app's secret: X-Hub-Signature-256
  Secret verify_token;  // the GET handshake
  Secret access_token;  // Bearer for the Graph API
  std::string api_url = "https://graph.facebook.com";
  std::string api_version = "v27.0";
  std::vector<std::string> allowed_users;  // user ids (BSUID) or wa_ids; empty: everyone
  std::string refused_notice;              // told once to a refused user; empty: tell nothing
  std::optional<WindowTemplate> window_template;  // none: answers outside the window are refused
  Duration api_timeout{10'000};
  // How long an answered message id is remembered: Meta re-delivers webhooks for up to 7 days.
  Duration dedup_retention{8LL * 24 * 3'600'000};
  std::size_t max_message_bytes = 4'096;   // WhatsApp's limit for a text body
  // Sends per second from one phone number (Meta's default throughput is 80/s), and the
  // least time between two messages to one user (the pair rate limit, 131056).
  std::uint32_t send_rate = 80;
  Duration recipient_interval{6'000};
};

// Spaces sends: at most `rate` a second per key, and per other key at least `interval`
// apart. Reserves the slot it returns, so concurrent senders queue up. Thread-safe.
class Pacer {
 public:
  using Clock = std::chrono::steady_clock;
  // How long to wait before sending for `number` to `recipient`.
  Clock::duration reserve(const std::string& number, std::uint32_t rate, const std::string& recipient,
                          Clock::duration interval, Clock::time_point now);

 private:
  std::mutex mutex_;
  std::map<std::string, Clock::time_point> next_;  // key -> earliest next send
};

// One message of a webhook payload as the channel reads it.
struct InboundItem {
  InboundMessage message;  // event_id = wamid; sender = user id (BSUID) or else wa_id;
                           // conversation = where answers go (wa_id, else the user id);
                           // account = the receiving phone_number_id
  std::string wa_id;
  std::string user_id;
  std::string type;        // the message's type: text, interactive, image, reaction…
  bool answer = true;      // false: recorded, not answered (reactions, unsupported)
};

// A delivery status Meta reports for a message the gateway sent.
struct StatusItem {
  std::string message_id;  // the wamid the send's answer gave (the outbox's peer_id)
  std::string status;      // sent, delivered, read, failed
  std::string recipient;   // recipient_id
  std::string phone_number_id;
  std::string error_code;  // errors[0].code when failed
  std::string error_title;
};

struct Payload {
  std::vector<InboundItem> messages;
  std::vector<StatusItem> statuses;
  std::vector<std::string> errors;  // value.errors[]: "<code> <title>"
  std::string problem;              // set when the body is not a WhatsApp webhook payload
};

// The `whatsapp_business_account` payload: entry[].changes[].value.{messages, contacts,
// statuses, errors, metadata}. Media, locations and other non-text messages become text
// that says what arrived (the agent sees only text).
Payload read_payload(std::string_view body);

// The /messages body for one outbox part: a text reply in the context of the message it
// answers, to the wa_id (`to`) or, for a user known only by id, to the `recipient`.
std::string message_body(const OutboxEntry& entry);

// The /messages body of the window template, to the recipient of `entry`.
std::string template_body(const OutboxEntry& entry, const WindowTemplate& tmpl);

// The Graph API's answer to a send: by its error.code, not its HTTP status.
Delivery classify_send(const net::ClientResult& result);

void register_type(config::Registries& registries, ChannelFactories& factories);

}  // namespace hermes::channels::whatsapp
