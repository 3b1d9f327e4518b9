#pragma once
// Slack (`type: slack`, `mode: events`): signed Events API webhooks in,
// chat.postMessage out, answered exactly once through durable intake and the
// outbox (channels/async.hpp).
//
//   POST /slack/<channel>/events
//   X-Slack-Request-Timestamp: <unix seconds>
//   X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:<timestamp>:<raw body>")>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "hermes/channels/channel.hpp"
#include "hermes/core/secret.hpp"

namespace hermes::channels::slack {

enum class ThreadReplies {
  always,        // answer in a thread (starting one under a top-level message)
  threads_only,  // answer in a thread only when the user wrote in one
};

struct SlackSpec final : config::ChannelSpec {
  Secret signing_secret;
  Secret bot_token;  // xoxb-…, sent as Bearer to the Web API
  std::string api_url = "https://slack.com/api";
  ThreadReplies reply_in_channels = ThreadReplies::always;
  ThreadReplies reply_in_dms = ThreadReplies::threads_only;
  bool allow_bots = false;
  std::vector<std::string> allowed_users;     // user ids; empty: everyone (unless deny_by_default)
  std::vector<std::string> allowed_channels;  // conversation ids; DMs count as their D… id
  bool deny_by_default = false;               // empty lists admit nobody
  std::string refused_notice;                 // told once to a refused user; empty: tell nothing
  Duration api_timeout{10'000};
  std::size_t max_message_bytes = 3'900;  // Slack advises 4,000 characters per message
};

// What to do with one `event_callback` body.
struct Interpreted {
  enum class Action { answer, refuse, skip } action = Action::skip;
  std::string why;  // skip/refuse reason: "bot_message", "subtype", "own_message", "not_allowed", "unsupported"
  InboundMessage message;  // for answer/refuse: channel fields, text without the bot's mention
};
Interpreted interpret_event(const nlohmann::json& callback, const SlackSpec& spec, const std::string& bot_user_id);

// The allowlists: whether `user` may be answered in `conversation`.
bool admitted(const SlackSpec& spec, const std::string& user, const std::string& conversation);

// Whether `timestamp` (unix seconds, as sent) is within 5 minutes of `now`.
bool timestamp_is_fresh(std::string_view timestamp, std::chrono::system_clock::time_point now);

void register_type(config::Registries& registries, ChannelFactories& factories);

}  // namespace hermes::channels::slack
