#pragma once
// Slack (`type: slack`): messages and slash commands in, chat.postMessage (and a
// command's response_url) out, answered exactly once through durable intake and the
// outbox (channels/async.hpp). Two ways in:
//
//   mode: events   signed webhooks on the channel's listener
//     POST /slack/<channel>/events     (Events API, JSON)
//     POST /slack/<channel>/commands   (slash commands, form-encoded)
//     X-Slack-Request-Timestamp: <unix seconds>
//     X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:<timestamp>:<raw body>")>
//   mode: socket   Socket Mode: the gateway opens WebSockets to Slack (apps.connections.open
//                  with the app-level token) and needs no inbound port; each envelope is
//                  acknowledged once its message is durably in intake (socket_mode.hpp).

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "hermes/channels/channel.hpp"
#include "hermes/core/secret.hpp"
#include "hermes/net/client_tls.hpp"

namespace hermes::channels::slack {

enum class ThreadReplies {
  always,        // answer in a thread (starting one under a top-level message)
  threads_only,  // answer in a thread only when the user wrote in one
};

enum class SlackMode { events, socket };

struct SlackSpec final : config::ChannelSpec {
  SlackMode mode = SlackMode::events;
  Secret signing_secret;  // events mode (required there)
  Secret bot_token;  // xoxb-…, sent as Bearer to the Web API
  Secret app_token;  // xapp-…, socket mode: apps.connections.open
  std::uint32_t connections = 1;  // socket mode: WebSockets kept open (Slack spreads envelopes over them)
  // Socket mode: a socket silent this long is replaced (a ping goes out at half of it).
  Duration liveness{30'000};
  net::ClientTls tls;  // socket mode: the WebSocket's certificate check (Web API calls use the system's CAs)
  std::string command_response_type = "ephemeral";  // slash command answers: ephemeral | in_channel
  // Answers shown while they are written: chat.startStream/appendStream/stopStream in threads
  // (unless stream_methods: false), else a placeholder edited with chat.update.
  bool stream = false;
  bool stream_methods = true;
  Duration stream_interval{1'000};  // at most one preview call per message this often
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

  bool needs_listener() const override { return mode == SlackMode::events; }
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

// A slash command, as Slack sends it: form fields over HTTP (events mode), the same
// fields as a JSON object in a Socket Mode envelope.
struct SlashCommand {
  std::string command;  // "/ask"
  std::string text;     // what follows the command
  std::string team_id;
  std::string channel_id;
  std::string user_id;
  std::string response_url;  // where the answer goes: valid 30 minutes, up to 5 posts
  std::string trigger_id;    // unique per invocation: the claim key
};
// nullopt with `why` set when a field the channel needs is missing or not a string.
std::optional<SlashCommand> slash_command_from_form(std::string_view body, std::string& why);
std::optional<SlashCommand> slash_command_from_json(const nlohmann::json& payload, std::string& why);
// The message a command stands for: routed like a message whose text is the command line
// ("/ask what is…"), claimed as "command:<trigger_id>", answered through its response_url
// (carried in delivery_context).
InboundMessage command_message(const SlashCommand& command, const SlackSpec& spec);
// A command answer's deadline: Slack honours a response_url for 30 minutes after the
// command; an answer queued at `queued_at_ms` (UTC ms) and not sent by then is given up.
inline constexpr std::chrono::minutes kResponseUrlLifetime{30};
bool response_url_expired(std::int64_t queued_at_ms, std::chrono::system_clock::time_point now);

// Whether `timestamp` (unix seconds, as sent) is within 5 minutes of `now`.
bool timestamp_is_fresh(std::string_view timestamp, std::chrono::system_clock::time_point now);

void register_type(config::Registries& registries, ChannelFactories& factories);

}  // namespace hermes::channels::slack
