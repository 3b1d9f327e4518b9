// Slack event interpretation, signature freshness, and message splitting.
#include <gtest/gtest.h>

#include "hermes/channels/async.hpp"
#include "hermes/channels/slack.hpp"
#include "hermes/config/loader.hpp"
#include "hermes/core/json_fields.hpp"
#include "src/channels/slack/preview.hpp"
#include "src/channels/slack/socket_mode.hpp"

namespace hermes::channels {
namespace {

using nlohmann::json;
using slack::Interpreted;

slack::SlackSpec spec() {
  slack::SlackSpec s;
  s.name = "slack";
  s.type = "slack";
  return s;
}

json callback(json event) {
  return {{"type", "event_callback"}, {"team_id", "T1"}, {"event_id", "Ev1"}, {"event", std::move(event)}};
}

json dm(const std::string& text) {
  return {{"type", "message"}, {"channel", "D1"}, {"channel_type", "im"}, {"user", "U1"}, {"text", text},
          {"ts", "100.000001"}};
}

TEST(SlackEvents, ADirectMessageIsItsOwnSessionUnlessThreaded) {
  auto r = slack::interpret_event(callback(dm("hello")), spec(), "UBOT");
  ASSERT_EQ(r.action, Interpreted::Action::answer);
  EXPECT_EQ(r.message.conversation, "D1");
  EXPECT_EQ(r.message.thread, "");  // threads_only in DMs
  EXPECT_FALSE(r.message.group);
  EXPECT_EQ(r.message.sender, "U1");
  EXPECT_EQ(r.message.account, "T1");
  EXPECT_EQ(r.message.recipient, "UBOT");
  EXPECT_EQ(r.message.event_id, "D1:100.000001");
  auto threaded = dm("more");
  threaded["thread_ts"] = "99.000001";
  EXPECT_EQ(slack::interpret_event(callback(threaded), spec(), "UBOT").message.thread, "99.000001");
}

TEST(SlackEvents, ChannelMessagesAreAnsweredInAThreadPerSender) {
  json e = {{"type", "app_mention"}, {"channel", "C1"}, {"user", "U2"}, {"text", "<@UBOT> hi <@U3>"},
            {"ts", "200.000002"}};
  auto r = slack::interpret_event(callback(e), spec(), "UBOT");
  ASSERT_EQ(r.action, Interpreted::Action::answer);
  EXPECT_EQ(r.message.thread, "200.000002");  // always: a new thread under the message
  EXPECT_TRUE(r.message.group);
  EXPECT_EQ(r.message.text, "hi <@U3>");  // only the bot's own mention goes
  auto s = spec();
  s.reply_in_channels = slack::ThreadReplies::threads_only;
  EXPECT_EQ(slack::interpret_event(callback(e), s, "UBOT").message.thread, "");
  e["text"] = "<@UBOT|hermes>   ";
  EXPECT_EQ(slack::interpret_event(callback(e), spec(), "UBOT").why, "empty");
}

TEST(SlackEvents, BotsSubtypesAndOwnMessagesAreSkipped) {
  auto bot = dm("beep");
  bot["bot_id"] = "B2";
  EXPECT_EQ(slack::interpret_event(callback(bot), spec(), "UBOT").why, "bot_message");
  auto s = spec();
  s.allow_bots = true;
  EXPECT_EQ(slack::interpret_event(callback(bot), s, "UBOT").action, Interpreted::Action::answer);
  // Until auth.test told us who we are, our own posts look like any bot's: skip them all.
  EXPECT_EQ(slack::interpret_event(callback(bot), s, "").why, "identity_unknown");
  auto edit = dm("edited");
  edit["subtype"] = "message_changed";
  EXPECT_EQ(slack::interpret_event(callback(edit), s, "UBOT").why, "subtype");
  auto own = dm("my answer");
  own["user"] = "UBOT";
  EXPECT_EQ(slack::interpret_event(callback(own), s, "UBOT").why, "own_message");
  json reaction = {{"type", "reaction_added"}, {"user", "U1"}};
  EXPECT_EQ(slack::interpret_event(callback(reaction), spec(), "UBOT").why, "unsupported");
  EXPECT_EQ(slack::interpret_event(json{{"type", "event_callback"}}, spec(), "UBOT").why, "unsupported");
}

TEST(SlackEvents, AllowlistsRefuseOthers) {
  auto s = spec();
  s.allowed_users = {"U9"};
  EXPECT_EQ(slack::interpret_event(callback(dm("hi")), s, "UBOT").action, Interpreted::Action::refuse);
  s.allowed_users = {"U1"};
  s.allowed_channels = {"C7"};
  EXPECT_EQ(slack::interpret_event(callback(dm("hi")), s, "UBOT").action, Interpreted::Action::refuse);
  s.allowed_channels = {"D1"};
  EXPECT_EQ(slack::interpret_event(callback(dm("hi")), s, "UBOT").action, Interpreted::Action::answer);
  auto closed = spec();
  closed.deny_by_default = true;
  EXPECT_EQ(slack::interpret_event(callback(dm("hi")), closed, "UBOT").action, Interpreted::Action::refuse);
}

TEST(SlackSignature, TimestampsMoreThanFiveMinutesOffAreStale) {
  auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  EXPECT_TRUE(slack::timestamp_is_fresh("1700000000", now));
  EXPECT_TRUE(slack::timestamp_is_fresh("1699999701", now));
  EXPECT_FALSE(slack::timestamp_is_fresh("1699999699", now));
  EXPECT_FALSE(slack::timestamp_is_fresh("1700000301", now));
  EXPECT_FALSE(slack::timestamp_is_fresh("17000000x0", now));
  EXPECT_FALSE(slack::timestamp_is_fresh("", now));
}

TEST(SlackSignature, MatchesSlacksDocumentedExample) {
  // The example from Slack's "Verifying requests from Slack" guide.
  Secret secret("8f742231b10e8888abcd99yyyzzz85a5", "inline");
  std::string body =
      "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&"
      "channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&"
      "response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
      "trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
  std::string signed_text = "v0:1531420618:" + body;
  EXPECT_TRUE(signature_matches(secret, signed_text,
                                "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", "v0="));
  EXPECT_FALSE(signature_matches(secret, signed_text + " ",
                                 "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", "v0="));
  EXPECT_FALSE(signature_matches(secret, signed_text, "a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
                                 "v0="));
}

TEST(SplitMessage, PrefersParagraphsThenLinesThenWords) {
  EXPECT_EQ(split_message("short", 100), (std::vector<std::string>{"short"}));
  EXPECT_EQ(split_message("", 100), (std::vector<std::string>{""}));
  auto parts = split_message("first paragraph here\n\nsecond one", 25);
  EXPECT_EQ(parts, (std::vector<std::string>{"first paragraph here\n\n", "second one"}));
  parts = split_message("alpha beta gamma delta", 12);
  EXPECT_EQ(parts, (std::vector<std::string>{"alpha beta ", "gamma delta"}));
}

TEST(SplitMessage, NeverCutsAUtf8Character) {
  std::string text;
  for (int i = 0; i < 50; ++i) text += "\xC3\xA9";  // "é" x 50, no spaces
  auto parts = split_message(text, 7);
  std::string joined;
  for (const auto& p : parts) {
    EXPECT_LE(p.size(), 7u);
    EXPECT_EQ(p.size() % 2, 0u) << "cut inside a character";
    joined += p;
  }
  EXPECT_EQ(joined, text);
}

config::LoadResult load_channel(const std::string& channel_yaml) {
  config::Registries registries;
  ChannelFactories factories;
  register_builtin(registries, factories);
  config::SecretEnvironment env;
  env.getenv = [](const std::string& name) -> std::optional<std::string> {
    if (name == "SLACK_SIGNING") return std::string("signing-secret-value");
    if (name == "SLACK_APP") return std::string("xapp-1-A1-app-token-value");
    return std::nullopt;
  };
  env.base_dir = "/nonexistent";
  std::string text = "listeners:\n  - {name: local, bind: loopback, port: 8080}\nchannels:\n" + channel_yaml;
  return config::load_string(text, "hermes.yaml", env, &registries);
}

TEST(SlackConfig, KeysAreTypedAndChecked) {
  auto ok = load_channel(R"(  - name: slack
    type: slack
    listener: local
    signing_secret: "${env:SLACK_SIGNING}"
    bot_token: xoxb-inline
    api_url: http://127.0.0.1:9/api/
    reply_in_thread: {dms: always}
    allowed_users: [U1, U2]
)");
  ASSERT_TRUE(ok.ok()) << config::format_errors(ok.errors);
  const auto& spec = static_cast<const slack::SlackSpec&>(*ok.config->channels.at(0));
  EXPECT_EQ(spec.api_url, "http://127.0.0.1:9/api");
  EXPECT_EQ(spec.reply_in_dms, slack::ThreadReplies::always);
  EXPECT_EQ(spec.reply_in_channels, slack::ThreadReplies::always);
  EXPECT_EQ(spec.allowed_users, (std::vector<std::string>{"U1", "U2"}));
  EXPECT_EQ(spec.signing_secret.reveal(), "signing-secret-value");

  auto bad = load_channel(R"(  - name: slack
    type: slack
    listener: local
    mode: sockets
    signing_secret: "${env:NOT_SET}"
    api_url: slack.com/api
    reply_in_thread: {channels: sometimes, group: always}
)");
  ASSERT_FALSE(bad.ok());
  auto text = config::format_errors(bad.errors);
  EXPECT_NE(text.find("hermes.yaml:7:11: channels[0].mode: invalid value 'sockets' (expected events | socket)"), std::string::npos) << text;
  EXPECT_NE(text.find("channels[0].signing_secret"), std::string::npos) << text;
  EXPECT_EQ(text.find("NOT_SET\n"), std::string::npos);
  EXPECT_NE(text.find("channels[0].bot_token"), std::string::npos) << text;
  EXPECT_NE(text.find("channels[0].api_url"), std::string::npos) << text;
  EXPECT_NE(text.find("channels[0].reply_in_thread.channels: invalid value 'sometimes'"), std::string::npos) << text;
  EXPECT_NE(text.find("channels[0].reply_in_thread.group: unknown key"), std::string::npos) << text;
}

TEST(SlackConfig, SocketModeNeedsAnAppTokenAndNoListener) {
  auto ok = load_channel(R"(  - name: slack
    type: slack
    mode: socket
    app_token: "${env:SLACK_APP}"
    bot_token: xoxb-inline
    api_url: http://127.0.0.1:9/api
    connections: 2
    liveness: 10s
    tls: {ca_file: /etc/hostname, verify: false}
    command_response_type: in_channel
)");
  ASSERT_TRUE(ok.ok()) << config::format_errors(ok.errors);
  const auto& spec = static_cast<const slack::SlackSpec&>(*ok.config->channels.at(0));
  EXPECT_EQ(spec.mode, slack::SlackMode::socket);
  EXPECT_TRUE(spec.listener.empty());
  EXPECT_FALSE(spec.needs_listener());
  EXPECT_EQ(spec.app_token.reveal(), "xapp-1-A1-app-token-value");
  EXPECT_EQ(spec.connections, 2u);
  EXPECT_EQ(spec.liveness, std::chrono::seconds(10));
  EXPECT_FALSE(spec.tls.verify);  // allowed: api_url is on loopback
  EXPECT_EQ(spec.command_response_type, "in_channel");

  auto bad = load_channel(R"(  - name: slack
    type: slack
    mode: socket
    bot_token: xoxb-inline
    connections: 11
    liveness: 1s
    tls: {verify: false}
    command_response_type: public
)");
  ASSERT_FALSE(bad.ok());
  auto text = config::format_errors(bad.errors);
  EXPECT_NE(text.find("channels[0].app_token: missing required key 'app_token'"), std::string::npos) << text;
  EXPECT_NE(text.find("channels[0].connections: connections must be between 1 and 10"), std::string::npos) << text;
  EXPECT_NE(text.find("channels[0].liveness: liveness must be between 2s and 5m"), std::string::npos) << text;
  EXPECT_NE(text.find("channels[0].tls.verify"), std::string::npos) << text;  // slack.com is not loopback
  EXPECT_NE(text.find("channels[0].command_response_type: invalid value 'public'"), std::string::npos) << text;
  EXPECT_EQ(text.find("listener"), std::string::npos) << text;

  // Events mode still needs its listener and its signing secret, and no socket keys.
  auto events = load_channel(R"(  - name: slack
    type: slack
    bot_token: xoxb-inline
    app_token: xapp-inline
    connections: 2
)");
  ASSERT_FALSE(events.ok());
  text = config::format_errors(events.errors);
  EXPECT_NE(text.find("channels[0].listener: missing required key 'listener'"), std::string::npos) << text;
  EXPECT_NE(text.find("channels[0].signing_secret: missing required key"), std::string::npos) << text;
  EXPECT_NE(text.find("channels[0].app_token: app_token applies to mode: socket only"), std::string::npos) << text;
  EXPECT_NE(text.find("channels[0].connections: connections applies to mode: socket only"), std::string::npos) << text;
}

TEST(SlackSocketMode, EnvelopesAreReadDefensively) {
  auto events = slack::parse_envelope(
      R"({"envelope_id":"57d6a792-4d35-4d0b-b6aa-3361493e1caf","payload":{"type":"event_callback"},)"
      R"("type":"events_api","accepts_response_payload":false,"retry_attempt":2,"retry_reason":"timeout"})");
  ASSERT_TRUE(events);
  EXPECT_EQ(events->type, "events_api");
  EXPECT_EQ(events->envelope_id, "57d6a792-4d35-4d0b-b6aa-3361493e1caf");
  EXPECT_EQ(events->payload["type"], "event_callback");
  EXPECT_EQ(events->retry_attempt, 2);
  auto bye = slack::parse_envelope(R"({"type":"disconnect","reason":"refresh_requested","debug_info":{"host":"h"}})");
  ASSERT_TRUE(bye);
  EXPECT_EQ(bye->reason, "refresh_requested");
  EXPECT_TRUE(bye->envelope_id.empty());
  EXPECT_FALSE(slack::parse_envelope("[]"));
  EXPECT_FALSE(slack::parse_envelope(R"({"type":7})"));
  EXPECT_FALSE(slack::parse_envelope("not json"));
  auto odd = slack::parse_envelope(R"({"type":"x","envelope_id":5,"retry_attempt":-1,"reason":[]})");
  ASSERT_TRUE(odd);  // wrong-typed fields read as absent
  EXPECT_TRUE(odd->envelope_id.empty());
  EXPECT_EQ(odd->retry_attempt, 0);
}

TEST(SlackSocketMode, DeliveryContextsAreReadWithoutTrustingTheirTypes) {
  auto full = slack::read_delivery_context(
      R"({"response_url":"https://hooks.slack.com/commands/1/2","slack_ts":"1.2","slack_streamed":true})");
  EXPECT_EQ(full.response_url, "https://hooks.slack.com/commands/1/2");
  EXPECT_EQ(full.slack_ts, "1.2");
  EXPECT_TRUE(full.slack_streamed);
  auto odd = slack::read_delivery_context(R"({"response_url":5,"slack_ts":[],"slack_streamed":"yes"})");
  EXPECT_TRUE(odd.response_url.empty());
  EXPECT_TRUE(odd.slack_ts.empty());
  EXPECT_FALSE(odd.slack_streamed);
  EXPECT_TRUE(slack::read_delivery_context("").slack_ts.empty());
  EXPECT_TRUE(slack::read_delivery_context("not json").response_url.empty());
  EXPECT_EQ(json_bool(json::parse(R"({"ok":false})"), "ok", true), false);
  EXPECT_EQ(json_bool(json::parse(R"({"ok":"false"})"), "ok", true), true);
  EXPECT_EQ(json_bool(json::array(), "ok", false), false);
}

TEST(SlackCommands, AnAnswerPastTheResponseUrlsThirtyMinutesIsGivenUp) {
  auto now = std::chrono::system_clock::now();
  auto ms = [](std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  };
  EXPECT_FALSE(slack::response_url_expired(ms(now), now));
  EXPECT_FALSE(slack::response_url_expired(ms(now - std::chrono::minutes(29)), now));
  EXPECT_TRUE(slack::response_url_expired(ms(now - std::chrono::minutes(31)), now));
}

TEST(SlackCommands, FormAndEnvelopeCommandsBecomeRoutedMessages) {
  std::string why;
  auto form = slack::slash_command_from_form(
      "token=gIkuvaNzQIHg97ATvDxqgjtO&team_id=T0001&team_domain=example&channel_id=C2147483705"
      "&channel_name=test&user_id=U2147483697&user_name=Steve&command=%2Fweather&text=94070+and+more"
      "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1234%2F5678&trigger_id=13345224609.738474920.8088930838d88f008e0",
      why);
  ASSERT_TRUE(form) << why;
  EXPECT_EQ(form->command, "/weather");
  EXPECT_EQ(form->text, "94070 and more");
  EXPECT_EQ(form->response_url, "https://hooks.slack.com/commands/1234/5678");
  auto s = spec();
  auto m = slack::command_message(*form, s);
  EXPECT_EQ(m.text, "/weather 94070 and more");
  EXPECT_EQ(m.event_id, "command:13345224609.738474920.8088930838d88f008e0");
  EXPECT_EQ(m.conversation, "C2147483705");
  EXPECT_EQ(m.sender, "U2147483697");
  EXPECT_TRUE(m.group);
  EXPECT_EQ(json::parse(m.delivery_context)["response_url"], "https://hooks.slack.com/commands/1234/5678");

  json payload = {{"command", "/ask"}, {"text", ""}, {"channel_id", "D1"}, {"user_id", "U1"},
                  {"response_url", "http://127.0.0.1:9/r"}, {"trigger_id", "t1"}};
  auto envelope = slack::slash_command_from_json(payload, why);
  ASSERT_TRUE(envelope) << why;
  auto dm_message = slack::command_message(*envelope, s);
  EXPECT_EQ(dm_message.text, "/ask");
  EXPECT_FALSE(dm_message.group);

  payload["response_url"] = "javascript:alert(1)";
  EXPECT_FALSE(slack::slash_command_from_json(payload, why));
  EXPECT_EQ(why, "'response_url' is not an http(s) URL");
  payload.erase("response_url");
  EXPECT_FALSE(slack::slash_command_from_json(payload, why));
  EXPECT_EQ(why, "the command has no 'response_url'");
  payload["response_url"] = "http://127.0.0.1:9/r";
  payload["command"] = "ask";
  EXPECT_FALSE(slack::slash_command_from_json(payload, why));
  EXPECT_FALSE(slack::slash_command_from_form("command=%2Fask", why));
  EXPECT_FALSE(slack::slash_command_from_json(json::array(), why));
}

}  // namespace
}  // namespace hermes::channels
