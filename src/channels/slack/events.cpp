// Reading Slack's payloads: which events are answered, and how a Slack message or
// slash command maps onto an InboundMessage (conversation, thread, session).
#include <algorithm>
#include <charconv>

#include "hermes/channels/slack.hpp"
#include "hermes/core/json_fields.hpp"
#include "hermes/net/client.hpp"
#include "hermes/net/http.hpp"

namespace hermes::channels::slack {
namespace {

bool contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// Removes the bot's own mention ("<@U123>" or "<@U123|name>") and trims.
std::string without_mention(std::string text, const std::string& bot_user_id) {
  if (!bot_user_id.empty()) {
    const std::string open = "<@" + bot_user_id;
    for (auto at = text.find(open); at != std::string::npos; at = text.find(open, at)) {
      auto end = text.find('>', at);
      char next = at + open.size() < text.size() ? text[at + open.size()] : '\0';
      if (end == std::string::npos || (next != '>' && next != '|')) {
        at += open.size();
        continue;
      }
      text.erase(at, end - at + 1);
    }
  }
  auto first = text.find_first_not_of(" \t\n");
  if (first == std::string::npos) return {};
  auto last = text.find_last_not_of(" \t\n");
  return text.substr(first, last - first + 1);
}

}  // namespace

bool admitted(const SlackSpec& spec, const std::string& user, const std::string& conversation) {
  if (spec.allowed_users.empty() && spec.allowed_channels.empty()) return !spec.deny_by_default;
  if (!spec.allowed_users.empty() && !contains(spec.allowed_users, user)) return false;
  if (!spec.allowed_channels.empty() && !contains(spec.allowed_channels, conversation)) return false;
  return true;
}

Interpreted interpret_event(const nlohmann::json& callback, const SlackSpec& spec, const std::string& bot_user_id) {
  Interpreted out;
  auto event = callback.find("event");
  if (event == callback.end() || !event->is_object()) {
    out.why = "unsupported";
    return out;
  }
  const auto& e = *event;
  std::string type = json_string(e, "type");
  if (type != "message" && type != "app_mention") {
    out.why = "unsupported";
    return out;
  }
  std::string user = json_string(e, "user");
  std::string subtype = json_string(e, "subtype");
  bool from_bot = e.contains("bot_id") || subtype == "bot_message";
  if (!bot_user_id.empty() && user == bot_user_id) {
    out.why = "own_message";  // never answer ourselves, not even with allow_bots
    return out;
  }
  if (!subtype.empty() && subtype != "bot_message") {
    out.why = "subtype";  // edits, deletes, joins…: not new messages
    return out;
  }
  if (from_bot && !spec.allow_bots) {
    out.why = "bot_message";
    return out;
  }
  if (from_bot && bot_user_id.empty()) {
    out.why = "identity_unknown";  // until auth.test answers, our own posts cannot be told apart
    return out;
  }
  std::string conversation = json_string(e, "channel");
  std::string ts = json_string(e, "ts");
  std::string text = without_mention(json_string(e, "text"), bot_user_id);
  if (conversation.empty() || ts.empty() || text.empty()) {
    out.why = "empty";
    return out;
  }
  std::string channel_type = json_string(e, "channel_type");
  bool direct = channel_type == "im" || (channel_type.empty() && conversation.front() == 'D');
  std::string thread_ts = json_string(e, "thread_ts");
  auto replies = direct ? spec.reply_in_dms : spec.reply_in_channels;

  InboundMessage& m = out.message;
  m.channel = spec.name;
  m.channel_type = "slack";
  m.account = json_string(callback, "team_id");
  m.conversation = conversation;
  // The answer goes where the session is: a thread is its own session; a
  // top-level message answered in a new thread starts that thread's session.
  m.thread = !thread_ts.empty() ? thread_ts : (replies == ThreadReplies::always ? ts : std::string());
  m.sender = user.empty() ? json_string(e, "bot_id") : user;
  m.recipient = bot_user_id;
  m.group = !direct;
  m.text = std::move(text);
  // The message's identity, not the event's: Slack sends a mention in a channel
  // both as `message` and as `app_mention`, with different event ids.
  m.event_id = conversation + ":" + ts;
  if (!admitted(spec, user, conversation)) {
    out.action = Interpreted::Action::refuse;
    out.why = "not_allowed";
    return out;
  }
  out.action = Interpreted::Action::answer;
  return out;
}

namespace {

// The fields a command needs, by name; `get(name)` is nullopt when absent or not text.
template <class Get>
std::optional<SlashCommand> read_command(Get get, std::string& why) {
  SlashCommand c;
  struct Field {
    const char* name;
    std::string SlashCommand::*into;
    bool required;
  };
  static const Field kFields[] = {{"command", &SlashCommand::command, true},
                                  {"text", &SlashCommand::text, false},
                                  {"team_id", &SlashCommand::team_id, false},
                                  {"channel_id", &SlashCommand::channel_id, true},
                                  {"user_id", &SlashCommand::user_id, true},
                                  {"response_url", &SlashCommand::response_url, true},
                                  {"trigger_id", &SlashCommand::trigger_id, true}};
  for (const auto& f : kFields) {
    auto value = get(f.name);
    if (value && !value->empty()) {
      c.*(f.into) = std::move(*value);
    } else if (f.required) {
      why = std::string("the command has no '") + f.name + "'";
      return std::nullopt;
    }
  }
  if (c.command.front() != '/') {
    why = "'command' does not start with '/'";
    return std::nullopt;
  }
  std::string url_error;
  if (!net::parse_http_url(c.response_url, url_error)) {
    why = "'response_url' is not an http(s) URL";
    return std::nullopt;
  }
  return c;
}

}  // namespace

std::optional<SlashCommand> slash_command_from_form(std::string_view body, std::string& why) {
  return read_command([body](const char* name) { return net::query_value(body, name, true); }, why);
}

std::optional<SlashCommand> slash_command_from_json(const nlohmann::json& payload, std::string& why) {
  if (!payload.is_object()) {
    why = "the command is not a JSON object";
    return std::nullopt;
  }
  return read_command([&payload](const char* name) { return std::optional<std::string>(json_string(payload, name)); },
                      why);
}

InboundMessage command_message(const SlashCommand& command, const SlackSpec& spec) {
  InboundMessage m;
  m.channel = spec.name;
  m.channel_type = "slack";
  m.account = command.team_id;
  m.conversation = command.channel_id;
  m.sender = command.user_id;
  m.group = command.channel_id.empty() || command.channel_id.front() != 'D';
  std::string args = without_mention(command.text, "");
  m.text = args.empty() ? command.command : command.command + " " + args;
  m.event_id = "command:" + command.trigger_id;
  m.delivery_context = nlohmann::json{{"response_url", command.response_url}}.dump();
  return m;
}

bool response_url_expired(std::int64_t queued_at_ms, std::chrono::system_clock::time_point now) {
  auto queued = std::chrono::system_clock::time_point(std::chrono::milliseconds(queued_at_ms));
  return now - queued > kResponseUrlLifetime;
}

bool timestamp_is_fresh(std::string_view timestamp, std::chrono::system_clock::time_point now) {
  std::int64_t seconds = 0;
  auto [end, ec] = std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), seconds);
  if (ec != std::errc() || end != timestamp.data() + timestamp.size()) return false;
  auto now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  return seconds > now_s - 300 && seconds < now_s + 300;
}

}  // namespace hermes::channels::slack
