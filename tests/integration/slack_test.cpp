// The Slack channel against a local Slack stand-in (tests/peers/slack_peer.mjs)
// that signs Events API requests exactly as Slack does and serves auth.test and
// chat.postMessage: each message is answered exactly once, in the right place,
// through routing; retries, restarts, rate limits and refusals included.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <thread>

#include "harness.hpp"
#include "node_peer.hpp"

namespace hermes::test {
namespace {

using nlohmann::json;
constexpr const char* kSigningSecret = "8f742231b10e8888abcd99yyyzzz85a5";
constexpr const char* kToken = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy";

std::string slack_config(std::uint16_t peer) {
  std::string api = "http://127.0.0.1:" + std::to_string(peer) + "/api";
  return R"(
gateway: {instance: it-slack, data_dir: "${DATA}", threads: 2}
listeners:
  - {name: local, bind: loopback, port: ${PORT0}}
channels:
  - name: slack
    type: slack
    listener: local
    signing_secret: "${env:IT_SLACK_SIGNING_SECRET}"
    bot_token: "${env:IT_SLACK_BOT_TOKEN}"
    api_url: ")" + api + R"("
  - name: private
    type: slack
    listener: local
    signing_secret: "${env:IT_SLACK_SIGNING_SECRET}"
    bot_token: "${env:IT_SLACK_BOT_TOKEN}"
    api_url: ")" + api + R"("
    allowed_users: [UFRIEND]
    refused_notice: "Sorry, this assistant is not available to you."
  - name: streamy
    type: slack
    listener: local
    signing_secret: "${env:IT_SLACK_SIGNING_SECRET}"
    bot_token: "${env:IT_SLACK_BOT_TOKEN}"
    api_url: ")" + api + R"("
    stream: true
models:
  - {name: demo, type: echo}
  - {name: slow, type: echo, chunks: 4, delay: 500ms}
agents:
  - {name: general, model: demo}
  - {name: billing, model: demo}
  - {name: patient, model: slow}
routes:
  - {name: invoices, match: {channel: slack, text_any: [invoice]}, agent: billing}
  - {name: slow-ones, match: {text_any: [slowly]}, agent: patient}
  - {name: default, agent: general}
outbox: {first_backoff: 100ms, max_backoff: 400ms, max_attempts: 4}
)";
}

json message_event(const std::string& channel, const std::string& ts, const std::string& text,
                   const std::string& channel_type = "im", const std::string& user = "U1") {
  return {{"type", "message"}, {"channel", channel}, {"user", user},        {"text", text},
          {"ts", ts},          {"event_ts", ts},      {"channel_type", channel_type}};
}

json callback(const json& event, const std::string& event_id) {
  return {{"token", "legacy-verification-token"},
          {"team_id", "T0001"},
          {"api_app_id", "A0001"},
          {"event", event},
          {"type", "event_callback"},
          {"event_id", event_id},
          {"event_time", 1700000000},
          {"authorizations", json::array({{{"team_id", "T0001"}, {"user_id", "UBOT"}, {"is_bot", true}}})}};
}

class Slack : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(peer_.start()) << peer_.error();
    daemon_ = std::make_unique<Daemon>(slack_config(peer_.port()),
                                       std::map<std::string, std::string>{{"IT_SLACK_SIGNING_SECRET", kSigningSecret},
                                                                          {"IT_SLACK_BOT_TOKEN", kToken}});
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
    wait_until([&] { return calls_of("auth.test") >= 3; });  // every channel knows the bot's user id
  }

  std::size_t calls_of(const std::string& method) {
    std::size_t n = 0;
    for (const auto& c : fetch("/_calls")) n += c["method"] == method;
    return n;
  }

  json fetch(const std::string& path) { return json::parse(http_get(peer_.port(), path).body); }

  json posts(std::size_t at_least, std::chrono::milliseconds timeout = 10s) {
    json got = json::array();
    wait_until([&] { return (got = fetch("/_posts")).size() >= at_least; }, timeout);
    return got;
  }

  // Has the stand-in sign and send `payload` to the channel's endpoint; returns hermesd's answer.
  HttpResult send(const json& payload, json extra = json::object(), const std::string& channel = "slack") {
    extra["url"] = "http://127.0.0.1:" + std::to_string(daemon_->port()) + "/slack/" + channel + "/events";
    extra["payload"] = payload;
    auto r = http_request(peer_.port(), "POST", "/_send", {{"Content-Type", "application/json"}}, extra.dump());
    auto reply = json::parse(r.body);
    HttpResult out;
    out.status = reply["status"];
    out.body = reply["body"];
    return out;
  }

  // A channel message to the streaming channel, answered in a thread under `ts`.
  int send_streamed(const std::string& conversation, const std::string& ts, const std::string& text,
                    const std::string& event_id) {
    return send(callback(message_event(conversation, ts, text, "channel", "U3"), event_id), json::object(), "streamy")
        .status;
  }

  void script(const json& steps) {
    ASSERT_EQ(http_request(peer_.port(), "POST", "/_script", {{"Content-Type", "application/json"}}, steps.dump())
                  .status,
              200);
  }

  NodePeer peer_{"tests/peers/slack_peer.mjs",
                 {"--port", "0", "--signing-secret", kSigningSecret, "--token", kToken}};
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(Slack, UrlVerificationIsAnsweredWithItsChallenge) {
  auto r = send({{"token", "t"}, {"challenge", "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"},
                 {"type", "url_verification"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["challenge"], "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
}

TEST_F(Slack, ADirectMessageGetsExactlyOneReplyInTheDm) {
  auto r = send(callback(message_event("D0DM", "1700000001.000100", "hello there"), "Ev01"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto got = posts(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["channel"], "D0DM");
  EXPECT_TRUE(got[0]["thread_ts"].is_null());  // DMs: threads_only, and this was not in a thread
  EXPECT_NE(got[0]["text"].get<std::string>().find("agent=general"), std::string::npos);
  EXPECT_NE(got[0]["text"].get<std::string>().find("hello there"), std::string::npos);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(fetch("/_posts").size(), 1u);
  auto calls = fetch("/_calls");
  EXPECT_EQ(calls.back()["content_type"], "application/json; charset=utf-8");
  EXPECT_TRUE(calls.back()["authorized"].get<bool>());
  // A threaded DM is answered in its thread.
  auto threaded = message_event("D0DM", "1700000002.000200", "and in a thread");
  threaded["thread_ts"] = "1700000001.000100";
  ASSERT_EQ(send(callback(threaded, "Ev02")).status, 200);
  got = posts(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1]["thread_ts"], "1700000001.000100");
}

TEST_F(Slack, AChannelMentionIsAnsweredOnceInAThreadThroughRouting) {
  // Slack sends a mention in a channel twice: as `message` and as `app_mention`.
  std::string ts = "1700000010.000100";
  auto as_message = message_event("C0GENERAL", ts, "<@UBOT> where is my invoice?", "channel", "U2");
  json as_mention = {{"type", "app_mention"}, {"channel", "C0GENERAL"}, {"user", "U2"},
                     {"text", "<@UBOT> where is my invoice?"}, {"ts", ts}, {"event_ts", ts}};
  ASSERT_EQ(send(callback(as_message, "Ev10")).status, 200);
  ASSERT_EQ(send(callback(as_mention, "Ev11")).status, 200);
  auto got = posts(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["channel"], "C0GENERAL");
  EXPECT_EQ(got[0]["thread_ts"], ts);  // channels: always in a thread
  std::string text = got[0]["text"];
  EXPECT_NE(text.find("agent=billing rule=invoices"), std::string::npos) << text;
  EXPECT_EQ(text.find("<@UBOT>"), std::string::npos) << text;  // the mention is not part of the question
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(fetch("/_posts").size(), 1u);
  auto rows = daemon_->audit_events("message.exchange", 1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["rule"], "invoices");
  EXPECT_EQ(rows[0]["channel"], "slack");
  EXPECT_EQ(rows[0]["sender"], "U2");
  EXPECT_EQ(rows[0]["conversation"], "C0GENERAL");
}

TEST_F(Slack, RetriesIncludingOneRacingTheFirstAreAnsweredOnce) {
  auto event = callback(message_event("D0RACE", "1700000020.000100", "answer slowly please"), "Ev20");
  HttpResult first, second;
  std::thread a([&] { first = send(event); });
  std::thread b([&] { second = send(event, {{"retry_num", 1}, {"retry_reason", "http_timeout"}}); });
  a.join();
  b.join();
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(send(event, {{"retry_num", 2}}).status, 200);  // while the first is still being answered
  auto got = posts(1);
  ASSERT_EQ(got.size(), 1u) << daemon_->log() << fetch("/_calls").dump();
  std::this_thread::sleep_for(2500ms);  // the slow agent takes ~2 s: any second answer would be here by now
  EXPECT_EQ(fetch("/_posts").size(), 1u);
  EXPECT_EQ(daemon_->audit_events("message.rejected", 2).size(), 2u);
}

TEST_F(Slack, BadStaleAndMissingSignaturesAre401AndAudited) {
  auto event = callback(message_event("D0BAD", "1700000030.000100", "hi"), "Ev30");
  EXPECT_EQ(send(event, {{"secret", "not-the-signing-secret"}}).status, 401);
  EXPECT_EQ(send(event, {{"ts_offset", -301}}).status, 401);
  EXPECT_EQ(send(event, {{"unsigned", true}}).status, 401);
  auto rows = daemon_->audit_events("auth.reject", 3);
  ASSERT_EQ(rows.size(), 3u);
  std::set<std::string> statuses;
  for (const auto& row : rows) statuses.insert(row["status"]);
  EXPECT_EQ(statuses, (std::set<std::string>{"bad_signature", "stale_timestamp", "unsigned"}));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(fetch("/_posts").size(), 0u);
}

TEST_F(Slack, BotEchoesEditsAndOwnPostsAreSkipped) {
  auto bot = message_event("C0GENERAL", "1700000040.000100", "I am another bot", "channel", "");
  bot.erase("user");
  bot["bot_id"] = "B0OTHER";
  auto edit = message_event("C0GENERAL", "1700000041.000100", "edited", "channel");
  edit["subtype"] = "message_changed";
  auto own = message_event("D0DM", "1700000042.000100", "[echo demo] my own answer", "im", "UBOT");
  for (const auto& e : {bot, edit, own}) EXPECT_EQ(send(callback(e, "Ev4x")).status, 200);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(fetch("/_posts").size(), 0u);
  auto metrics = http_get(daemon_->port(), "/metrics").body;
  EXPECT_NE(metrics.find(R"(hermes_slack_events_total{channel="slack",outcome="skipped_bot_message"} 1)"),
            std::string::npos);
  EXPECT_NE(metrics.find(R"(hermes_slack_events_total{channel="slack",outcome="skipped_own_message"} 1)"),
            std::string::npos);
}

TEST_F(Slack, KillNineAfterTheAckStillEndsWithExactlyOneReply) {
  auto event = callback(message_event("D0CRASH", "1700000050.000100", "reply slowly after a crash"), "Ev50");
  ASSERT_EQ(send(event).status, 200);
  daemon_->signal(SIGKILL);  // the slow agent needs ~2 s: nothing was posted yet
  ASSERT_EQ(daemon_->wait_exit(), -2);
  EXPECT_EQ(fetch("/_posts").size(), 0u);
  ASSERT_TRUE(daemon_->start()) << daemon_->log();
  auto got = posts(1, 15s);
  ASSERT_EQ(got.size(), 1u) << daemon_->log();
  EXPECT_EQ(got[0]["channel"], "D0CRASH");
  EXPECT_EQ(send(event, {{"retry_num", 3}}).status, 200);  // Slack's last retry, after the restart
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(fetch("/_posts").size(), 1u);
}

// kill -9 while chat.postMessage is in flight: Slack has the post, the outbox does not
// know. After the restart the post is found by its metadata and not sent again.
TEST_F(Slack, APostAKillInterruptedIsFoundAfterTheRestartNotSentTwice) {
  http_request(peer_.port(), "POST", "/_script", {{"Content-Type", "application/json"}}, R"([{"delay_ms": 5000}])");
  ASSERT_EQ(send(callback(message_event("D0MID", "1700000062.000100", "hello mid-send"), "Ev62")).status, 200);
  ASSERT_EQ(posts(1).size(), 1u) << daemon_->log();
  daemon_->signal(SIGKILL);  // the post is in, its answer 5 s away
  ASSERT_EQ(daemon_->wait_exit(), -2);
  ASSERT_TRUE(daemon_->start()) << daemon_->log();
  std::vector<nlohmann::json> rows;
  wait_until([&] {
    rows.clear();
    for (const auto& r : daemon_->audit_events("message.delivery", 1)) {
      if (r["status"] == "found_after_restart") rows.push_back(r);
    }
    return !rows.empty();
  });
  ASSERT_EQ(rows.size(), 1u) << daemon_->log();
  EXPECT_EQ(rows[0]["decision"], "delivered");
  auto got = fetch("/_posts");
  ASSERT_EQ(got.size(), 1u) << "posted twice:\n" << got.dump(1);
  EXPECT_EQ(rows[0]["detail"]["peer_id"], got[0]["ts"]);
  EXPECT_EQ(got[0]["metadata"]["event_type"], "hermes_answer") << got[0].dump();
  bool asked = false;
  for (const auto& c : fetch("/_calls")) {
    asked |= c["method"] == "conversations.history" && c["args"]["channel"] == "D0MID" &&
             c["args"]["include_all_metadata"] == true;
  }
  EXPECT_TRUE(asked);
}

// Without the history scopes Slack cannot say: the post is sent again (at least once) and
// the resend is audited as ambiguous, as before.
TEST_F(Slack, WithoutHistoryScopesAnInterruptedPostIsSentAgainAndAuditedAmbiguous) {
  http_request(peer_.port(), "POST", "/_scopes", {{"Content-Type", "application/json"}}, R"({"missing": true})");
  http_request(peer_.port(), "POST", "/_script", {{"Content-Type", "application/json"}}, R"([{"delay_ms": 5000}])");
  ASSERT_EQ(send(callback(message_event("D0AMB", "1700000063.000100", "hello again"), "Ev63")).status, 200);
  ASSERT_EQ(posts(1).size(), 1u) << daemon_->log();
  daemon_->signal(SIGKILL);
  ASSERT_EQ(daemon_->wait_exit(), -2);
  ASSERT_TRUE(daemon_->start()) << daemon_->log();
  EXPECT_EQ(posts(2).size(), 2u) << daemon_->log();
  bool ambiguous = false;
  for (const auto& r : daemon_->audit_events("message.delivery", 2)) ambiguous |= r["decision"] == "ambiguous";
  EXPECT_TRUE(ambiguous);
}

TEST_F(Slack, ASignedSlashCommandIsAnsweredThroughItsResponseUrl) {
  std::string response_url = "http://127.0.0.1:" + std::to_string(peer_.port()) + "/_response/events-cmd";
  json command = {{"token", "legacy"}, {"team_id", "T0001"}, {"channel_id", "C0CMD"}, {"user_id", "U2"},
                  {"command", "/ask"}, {"text", "where is my invoice?"}, {"response_url", response_url},
                  {"trigger_id", "13345224609.738474920.events"}};
  json extra = {{"form", true}, {"url", "http://127.0.0.1:" + std::to_string(daemon_->port()) + "/slack/slack/commands"},
                {"payload", command}};
  auto send_command = [&](json e) {
    auto reply = json::parse(
        http_request(peer_.port(), "POST", "/_send", {{"Content-Type", "application/json"}}, e.dump()).body);
    return std::make_pair(reply["status"].get<int>(), reply["body"].get<std::string>());
  };
  auto [status, body] = send_command(extra);
  ASSERT_EQ(status, 200) << body;
  EXPECT_EQ(body, "");  // an empty acknowledgement: Slack shows nothing until the answer
  json responses;
  wait_until([&] { return (responses = fetch("/_responses")).size() >= 1; });
  ASSERT_EQ(responses.size(), 1u) << daemon_->log();
  std::string text = responses[0]["body"]["text"];
  EXPECT_NE(text.find("agent=billing rule=invoices"), std::string::npos) << text;  // routed like a message
  EXPECT_NE(text.find("/ask where is my invoice?"), std::string::npos) << text;
  EXPECT_EQ(responses[0]["body"]["response_type"], "ephemeral");
  // Unsigned: refused and audited; missing fields: 400.
  extra["unsigned"] = true;
  EXPECT_EQ(send_command(extra).first, 401);
  extra.erase("unsigned");
  extra["payload"].erase("response_url");
  EXPECT_EQ(send_command(extra).first, 400);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(fetch("/_responses").size(), 1u);
  EXPECT_EQ(fetch("/_posts").size(), 0u);
}

// The Web API calls of one method, in order.
std::vector<json> calls_named(const json& calls, const std::string& method) {
  std::vector<json> out;
  for (const auto& c : calls) {
    if (c["method"] == method) out.push_back(c);
  }
  return out;
}

TEST_F(Slack, AStreamedAnswerGrowsInOneMessageAtMostOnceASecondAndEndsWhole) {
  std::string ts = "1700000070.000100";
  ASSERT_EQ(send_streamed("C0STREAM", ts, "<@UBOT> answer slowly please", "Ev70"), 200);
  json got;
  wait_until([&] {
    got = fetch("/_posts");
    return got.size() == 1 && got[0]["updates"] == 1;
  });
  ASSERT_EQ(got.size(), 1u) << daemon_->log();
  EXPECT_TRUE(got[0]["streamed"].get<bool>());
  EXPECT_TRUE(got[0]["stopped"].get<bool>());
  EXPECT_EQ(got[0]["thread_ts"], ts);
  std::string text = got[0]["text"];
  EXPECT_NE(text.find("agent=patient"), std::string::npos) << text;
  EXPECT_NE(text.find("answer slowly please"), std::string::npos) << text;
  EXPECT_EQ(text.find(" …"), std::string::npos) << text;  // the final text, not the preview's
  auto calls = fetch("/_calls");
  auto starts = calls_named(calls, "chat.startStream");
  auto appends = calls_named(calls, "chat.appendStream");
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0]["args"]["recipient_user_id"], "U3");
  EXPECT_EQ(starts[0]["args"]["recipient_team_id"], "T0001");
  EXPECT_GE(appends.size(), 1u) << calls.dump();  // ~2 s of answer, one call a second
  EXPECT_EQ(calls_named(calls, "chat.stopStream").size(), 1u);
  EXPECT_EQ(calls_named(calls, "chat.update").size(), 1u);
  EXPECT_EQ(calls_named(calls, "chat.postMessage").size(), 0u);
  std::int64_t previous = starts[0]["at"];
  for (const auto& a : appends) {
    EXPECT_GE(a["at"].get<std::int64_t>() - previous, 950) << calls.dump();
    previous = a["at"];
  }
}

TEST_F(Slack, OutsideAThreadOrWithoutStreamingMethodsAPlaceholderIsEdited) {
  // A top-level DM is answered outside a thread: Slack's streaming methods need one.
  ASSERT_EQ(send(callback(message_event("D0STREAM", "1700000071.000100", "answer slowly please"), "Ev71"),
                 json::object(), "streamy")
                .status,
            200);
  json got;
  wait_until([&] {
    got = fetch("/_posts");
    return !got.empty() && got[0]["text"].get<std::string>().find(" …") == std::string::npos &&
           got[0]["updates"].get<int>() >= 1;
  });
  ASSERT_EQ(got.size(), 1u) << daemon_->log();
  EXPECT_TRUE(got[0]["thread_ts"].is_null());
  EXPECT_NE(got[0]["text"].get<std::string>().find("answer slowly please"), std::string::npos);
  auto calls = fetch("/_calls");
  ASSERT_EQ(calls_named(calls, "chat.postMessage").size(), 1u);
  EXPECT_NE(calls_named(calls, "chat.postMessage")[0]["args"]["text"].get<std::string>().find(" …"), std::string::npos);
  EXPECT_EQ(calls_named(calls, "chat.startStream").size(), 0u);

  // In a thread, with chat.startStream refused: the same, in the thread.
  http_request(peer_.port(), "POST", "/_streaming", {{"Content-Type", "application/json"}}, R"({"enabled": false})");
  std::string ts = "1700000072.000100";
  ASSERT_EQ(send_streamed("C0STREAM", ts, "<@UBOT> slowly again", "Ev72"), 200);
  wait_until([&] {
    got = fetch("/_posts");
    return got.size() == 2 && got[1]["text"].get<std::string>().find(" …") == std::string::npos &&
           got[1]["updates"].get<int>() >= 1;
  });
  ASSERT_EQ(got.size(), 2u) << daemon_->log();
  EXPECT_EQ(got[1]["thread_ts"], ts);
  EXPECT_FALSE(got[1].value("streamed", false));
  EXPECT_NE(got[1]["text"].get<std::string>().find("slowly again"), std::string::npos);
}

TEST_F(Slack, AStreamedAnswerLongerThanOneMessageContinuesInTheThread) {
  std::string question(5000, 'x');
  for (std::size_t i = 60; i < question.size(); i += 61) question[i] = ' ';
  std::string ts = "1700000073.000100";
  ASSERT_EQ(send_streamed("C0STREAM", ts, "<@UBOT> " + question, "Ev73"), 200);
  auto got = posts(2);
  ASSERT_EQ(got.size(), 2u) << daemon_->log();
  wait_until([&] { return (got = fetch("/_posts"))[0]["updates"] == 1; });
  EXPECT_TRUE(got[0]["streamed"].get<bool>());
  EXPECT_LE(got[0]["text"].get<std::string>().size(), 3900u);
  EXPECT_EQ(got[1]["thread_ts"], ts);
  std::string whole = got[0]["text"].get<std::string>() + got[1]["text"].get<std::string>();
  std::size_t xs = 0;
  for (char c : whole) xs += c == 'x';
  EXPECT_GE(xs, 4900u);  // nothing lost between the parts
}

TEST_F(Slack, AKillMidStreamIsFinishedInTheSameMessageAfterTheRestart) {
  std::string ts = "1700000074.000100";
  ASSERT_EQ(send_streamed("C0STREAM", ts, "<@UBOT> reply slowly across a crash", "Ev74"), 200);
  ASSERT_EQ(posts(1).size(), 1u) << daemon_->log();  // the stream has begun
  std::this_thread::sleep_for(300ms);                 // its ts is recorded (write-behind)
  daemon_->signal(SIGKILL);
  ASSERT_EQ(daemon_->wait_exit(), -2);
  ASSERT_TRUE(daemon_->start()) << daemon_->log();
  json got;
  wait_until([&] {
    got = fetch("/_posts");
    return !got.empty() && got[0]["updates"].get<int>() >= 1 &&
           got[0]["text"].get<std::string>().find(" …") == std::string::npos;
  }, 15s);
  ASSERT_EQ(got.size(), 1u) << "a second message after the restart:\n" << got.dump(1) << daemon_->log();
  EXPECT_NE(got[0]["text"].get<std::string>().find("reply slowly across a crash"), std::string::npos);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(fetch("/_posts").size(), 1u);
}

TEST_F(Slack, RateLimitedPostsWaitForRetryAfter) {
  script({{{"status", 429}, {"retry_after", "1"}}});
  auto sent_at = std::chrono::steady_clock::now();
  ASSERT_EQ(send(callback(message_event("D0RL", "1700000060.000100", "hi"), "Ev60")).status, 200);
  auto got = posts(1);
  ASSERT_EQ(got.size(), 1u) << daemon_->log();
  EXPECT_GE(std::chrono::steady_clock::now() - sent_at, 950ms);
  EXPECT_EQ(calls_of("chat.postMessage"), 2u);
  auto decisions = daemon_->audit_events("message.delivery", 2);
  EXPECT_EQ(decisions[0]["decision"], "retry");
  EXPECT_EQ(decisions[0]["status"], "http_429");
  EXPECT_EQ(decisions[1]["decision"], "delivered");
  EXPECT_EQ(decisions[1]["detail"]["peer_id"], got[0]["ts"]);
}

TEST_F(Slack, OkFalseErrorsAreAuditedAndCounted) {
  script({{{"error", "channel_not_found"}}});
  ASSERT_EQ(send(callback(message_event("D0GONE", "1700000070.000100", "hi"), "Ev70")).status, 200);
  auto rows = daemon_->audit_events("message.delivery", 1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["decision"], "gave_up");
  EXPECT_EQ(rows[0]["status"], "slack:channel_not_found");
  auto metrics = http_get(daemon_->port(), "/metrics").body;
  EXPECT_NE(metrics.find(R"(hermes_slack_api_errors_total{channel="slack",method="chat.postMessage",)"
                         R"(error="slack:channel_not_found"} 1)"),
            std::string::npos)
      << metrics;
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(calls_of("chat.postMessage"), 1u);  // permanent: not retried
}

TEST_F(Slack, LongAnswersAreSplitAndPostedInOrder) {
  std::string words;
  for (int i = 0; i < 1500; ++i) words += "word" + std::to_string(i) + " ";  // ~10 kB
  ASSERT_EQ(send(callback(message_event("D0LONG", "1700000080.000100", words), "Ev80")).status, 200);
  auto got = posts(3);
  ASSERT_GE(got.size(), 3u) << daemon_->log() << fetch("/_calls").dump();
  std::string joined;
  for (const auto& p : got) {
    EXPECT_LE(p["text"].get<std::string>().size(), 3900u);
    joined += p["text"].get<std::string>();
  }
  EXPECT_NE(joined.find("word0 "), std::string::npos);
  EXPECT_LT(joined.find("word10 "), joined.find("word1499"));  // in order
}

TEST_F(Slack, ARefusedSenderIsAuditedAndToldOnce) {
  ASSERT_EQ(send(callback(message_event("D0STRANGER", "1700000090.000100", "hi"), "Ev90"), {}, "private").status,
            200);
  ASSERT_EQ(send(callback(message_event("D0STRANGER", "1700000091.000100", "hello?"), "Ev91"), {}, "private").status,
            200);
  ASSERT_EQ(send(callback(message_event("D0FRIEND", "1700000092.000100", "hi", "im", "UFRIEND"), "Ev92"), {},
                 "private")
                .status,
            200);
  auto got = posts(2);
  std::this_thread::sleep_for(400ms);
  got = fetch("/_posts");
  ASSERT_EQ(got.size(), 2u);
  std::map<std::string, std::string> by_channel;
  for (const auto& p : got) by_channel[p["channel"]] = p["text"];
  EXPECT_EQ(by_channel["D0STRANGER"], "Sorry, this assistant is not available to you.");
  EXPECT_NE(by_channel["D0FRIEND"].find("agent=general"), std::string::npos);
  auto rows = daemon_->audit_events("message.rejected", 2);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["status"], "not_allowed");
  EXPECT_EQ(rows[0]["sender"], "U1");
}

TEST_F(Slack, ARefusedTokenHoldsAnswersUntilItWorksAndSaysSoOnce) {
  // Slack stops accepting the configured token (revoked, rotated elsewhere).
  ASSERT_EQ(http_request(peer_.port(), "POST", "/_token", {{"Content-Type", "application/json"}},
                         R"({"token":"xoxb-1-2-rotated"})")
                .status,
            200);
  ASSERT_EQ(send(callback(message_event("D0TOKEN", "1700000100.000100", "hello"), "Ev100")).status, 200);
  auto rows = daemon_->audit_events("message.delivery", 2);
  ASSERT_EQ(rows.size(), 2u) << daemon_->log();
  EXPECT_EQ(rows[0]["decision"], "retry");
  EXPECT_EQ(rows[0]["status"], "slack:invalid_auth");
  EXPECT_EQ(rows[1]["decision"], "held");  // no attempts used while the token is refused
  EXPECT_EQ(rows[1]["status"], "slack:invalid_auth (bot token refused)");

  json slack_health = json::object();
  wait_until([&] {
    auto status = json::parse(http_get(daemon_->port(), "/status").body);
    for (const auto& c : status["channels"]) {
      if (c["name"] == "slack") slack_health = c;
    }
    return slack_health.value("healthy", true) == false;
  });
  ASSERT_EQ(slack_health.value("healthy", true), false) << slack_health;
  EXPECT_NE(slack_health["detail"].get<std::string>().find("bot token is refused (slack:invalid_auth)"),
            std::string::npos)
      << slack_health;
  wait_until([&] { return calls_of("auth.test") >= 4; });  // the probe has retried at least once
  auto log = daemon_->log();
  std::size_t said = 0;
  for (auto at = log.find("slack slack: the bot token is refused"); at != std::string::npos;
       at = log.find("slack slack: the bot token is refused", at + 1)) {
    ++said;
  }
  EXPECT_EQ(said, 1u) << log;
  EXPECT_EQ(calls_of("chat.postMessage"), 1u);  // held: not sent again with a refused token

  // The token works again: the held answer is delivered, once.
  ASSERT_EQ(http_request(peer_.port(), "POST", "/_token", {{"Content-Type", "application/json"}},
                         json{{"token", kToken}}.dump())
                .status,
            200);
  auto got = posts(1, 20s);
  ASSERT_EQ(got.size(), 1u) << daemon_->log();
  EXPECT_EQ(got[0]["channel"], "D0TOKEN");
  rows = daemon_->audit_events("message.delivery", 3);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2]["decision"], "delivered");
  EXPECT_NE(daemon_->log().find("held answers are being delivered"), std::string::npos);
}

}  // namespace
}  // namespace hermes::test
