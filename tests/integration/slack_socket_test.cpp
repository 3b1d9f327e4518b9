// Slack in Socket Mode against the local Slack stand-in (tests/peers/slack_peer.mjs), which
// issues tickets from apps.connections.open and serves the sockets over TLS with a test
// certificate that hermesd trusts through `tls.ca_file`. No message is lost or answered twice
// across a disconnect, a dropped connection, a silent socket and a kill -9 after the ack.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdlib>
#include <thread>

#include "harness.hpp"
#include "node_peer.hpp"

namespace hermes::test {
namespace {

using nlohmann::json;
constexpr const char* kSocketBotToken = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy";
constexpr const char* kAppToken = "xapp-1-A0001-17653672481-3f0a9e2c5d7b4c1e8a6f";

std::string socket_config(std::uint16_t peer, const std::string& ca_file, const std::string& app_token_env) {
  std::string api = "http://127.0.0.1:" + std::to_string(peer) + "/api";
  return R"(
gateway: {instance: it-slack-socket, data_dir: "${DATA}", threads: 2}
listeners:
  - {name: local, bind: loopback, port: ${PORT0}}
channels:
  - name: slack
    type: slack
    mode: socket
    app_token: "${env:)" + app_token_env + R"(}"
    bot_token: "${env:IT_SLACK_BOT_TOKEN}"
    api_url: ")" + api + R"("
    connections: 2
    liveness: 2s
    tls: {ca_file: ")" + ca_file + R"("}
    allowed_users: [U1, U2]
    refused_notice: "Sorry, this assistant is not available to you."
models:
  - {name: demo, type: echo}
  - {name: slow, type: echo, chunks: 4, delay: 500ms}
agents:
  - {name: general, model: demo}
  - {name: patient, model: slow}
routes:
  - {name: slow-ones, match: {text_any: [slowly]}, agent: patient}
  - {name: default, agent: general}
outbox: {first_backoff: 100ms, max_backoff: 400ms, max_attempts: 4}
)";
}

json socket_message(const std::string& channel, const std::string& ts, const std::string& text,
                    const std::string& user = "U1") {
  json event = {{"type", "message"}, {"channel", channel}, {"user", user}, {"text", text},
                {"ts", ts},          {"event_ts", ts},      {"channel_type", "im"}};
  return {{"token", "legacy"}, {"team_id", "T0001"}, {"api_app_id", "A0001"}, {"event", event},
          {"type", "event_callback"}, {"event_id", "Ev" + ts}, {"event_time", 1700000000}};
}

class SlackSocket : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cert = (dir_.path() / "cert.pem").string();
    auto key = (dir_.path() / "key.pem").string();
    ASSERT_EQ(std::system(("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -addext "
                           "subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " + key + " -out " + cert +
                           " >/dev/null 2>&1").c_str()),
              0);
    peer_ = std::make_unique<NodePeer>(
        "tests/peers/slack_peer.mjs",
        std::vector<std::string>{"--port", "0", "--signing-secret", "unused", "--token", kSocketBotToken,
                                 "--app-token", kAppToken, "--tls-cert", cert, "--tls-key", key});
    ASSERT_TRUE(peer_->start()) << peer_->error();
    ca_file_ = cert;
  }

  void start_daemon(const std::string& app_token = kAppToken) {
    daemon_ = std::make_unique<Daemon>(socket_config(peer_->port(), ca_file_, "IT_SLACK_APP_TOKEN"),
                                       std::map<std::string, std::string>{{"IT_SLACK_APP_TOKEN", app_token},
                                                                          {"IT_SLACK_BOT_TOKEN", kSocketBotToken}});
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
  }

  json fetch(const std::string& path) { return json::parse(http_get(peer_->port(), path).body); }

  std::size_t open_sockets() {
    std::size_t n = 0;
    for (const auto& s : fetch("/_sockets")) n += s["open"].get<bool>() && !s["silenced"].get<bool>();
    return n;
  }

  json posts(std::size_t at_least, std::chrono::milliseconds timeout = 10s) {
    json got = json::array();
    wait_until([&] { return (got = fetch("/_posts")).size() >= at_least; }, timeout);
    return got;
  }

  std::size_t acks_of(const std::string& envelope_id) {
    std::size_t n = 0;
    for (const auto& a : fetch("/_acks")) n += a["envelope_id"] == envelope_id;
    return n;
  }

  json control(const std::string& path, const json& body) {
    auto r = http_request(peer_->port(), "POST", path, {{"Content-Type", "application/json"}}, body.dump());
    return json::parse(r.body.empty() ? "{}" : r.body);
  }

  // Sends an events_api envelope; returns its id.
  std::string send_event(const json& callback, json extra = json::object()) {
    extra["type"] = "events_api";
    extra["payload"] = callback;
    return control("/_envelope", extra)["envelope_id"];
  }

  json status() { return json::parse(http_get(daemon_->port(), "/status").body); }

  TempDir dir_;
  std::string ca_file_;
  std::unique_ptr<NodePeer> peer_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(SlackSocket, OpensTheConfiguredSocketsAndAnswersAnEventOnceAfterAcknowledgingIt) {
  start_daemon();
  wait_until([&] { return open_sockets() == 2; });
  ASSERT_EQ(open_sockets(), 2u) << daemon_->log();
  auto id = send_event(socket_message("D0S1", "1700000101.000100", "hello over a socket"));
  wait_until([&] { return acks_of(id) == 1; });
  EXPECT_EQ(acks_of(id), 1u);
  auto got = posts(1);
  ASSERT_EQ(got.size(), 1u) << daemon_->log();
  EXPECT_EQ(got[0]["channel"], "D0S1");
  EXPECT_NE(got[0]["text"].get<std::string>().find("hello over a socket"), std::string::npos);
  // The same message delivered again on the other socket (a new envelope): acknowledged, not answered.
  auto sockets = fetch("/_sockets");
  auto again = send_event(socket_message("D0S1", "1700000101.000100", "hello over a socket"),
                          {{"socket", sockets[0]["id"]}});
  wait_until([&] { return acks_of(again) == 1; });
  EXPECT_EQ(acks_of(again), 1u);
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(fetch("/_posts").size(), 1u);
  // Health names each socket; the metric counts them.
  auto channel = status()["channels"][0];
  EXPECT_TRUE(channel["healthy"].get<bool>()) << channel.dump();
  EXPECT_NE(channel["detail"].get<std::string>().find("2 of 2 connection(s) open"), std::string::npos)
      << channel.dump();
  ASSERT_EQ(channel["connections"].size(), 2u);
  EXPECT_EQ(channel["connections"][0].get<std::string>().rfind("1: open", 0), 0u) << channel.dump();
  auto metrics = http_get(daemon_->port(), "/metrics").body;
  EXPECT_EQ(metric_value(metrics, R"(hermes_slack_socket_connections{channel="slack"})"), 2);
  EXPECT_EQ(metric_value(metrics, R"(hermes_slack_envelopes_total{channel="slack",type="events_api",outcome="duplicate"})"),
            1);
  // The app token never reaches the log.
  EXPECT_EQ(daemon_->log().find(kAppToken), std::string::npos);
}

TEST_F(SlackSocket, ADisconnectOpensTheReplacementBeforeTheOldSocketCloses) {
  start_daemon();
  wait_until([&] { return open_sockets() == 2; });
  ASSERT_EQ(open_sockets(), 2u) << daemon_->log();
  int old_id = fetch("/_sockets")[0]["id"];
  control("/_disconnect", {{"socket", old_id}, {"reason", "refresh_requested"}, {"close_after_ms", 1500}});
  wait_until([&] { return fetch("/_sockets").size() == 3; });
  auto sockets = fetch("/_sockets");
  ASSERT_EQ(sockets.size(), 3u) << daemon_->log();
  EXPECT_TRUE(sockets[0]["open"].get<bool>()) << "the replacement came only after the old socket closed";
  // The old socket still delivers during its grace; what it delivers is answered.
  auto id = send_event(socket_message("D0S2", "1700000102.000100", "sent on the leaving socket"),
                       {{"socket", old_id}});
  wait_until([&] { return acks_of(id) == 1; });
  EXPECT_EQ(acks_of(id), 1u);
  EXPECT_EQ(posts(1).size(), 1u);
  wait_until([&] { return !fetch("/_sockets")[0]["open"].get<bool>(); });
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(open_sockets(), 2u);  // the replacement, and the other one: not a reconnect storm
  EXPECT_EQ(fetch("/_sockets").size(), 3u);
  auto metrics = http_get(daemon_->port(), "/metrics").body;
  EXPECT_EQ(metric_value(metrics, R"(hermes_slack_socket_reconnects_total{channel="slack",reason="refresh_requested"})"),
            1);
}

TEST_F(SlackSocket, AnEnvelopeOnADroppedConnectionIsRedeliveredAndAnsweredOnce) {
  start_daemon();
  wait_until([&] { return open_sockets() == 2; });
  ASSERT_EQ(open_sockets(), 2u) << daemon_->log();
  int victim = fetch("/_sockets")[1]["id"];
  // Sent, then the connection is cut at once: the ack may or may not have made it. Slack
  // sends unacknowledged envelopes again on another socket.
  auto id = send_event(socket_message("D0S3", "1700000103.000100", "cut mid-stream"),
                       {{"socket", victim}, {"redeliver_ms", 1000}});
  control("/_drop", {{"socket", victim}});
  auto got = posts(1);
  ASSERT_EQ(got.size(), 1u) << daemon_->log();
  wait_until([&] { return acks_of(id) >= 1; });
  EXPECT_GE(acks_of(id), 1u);
  wait_until([&] { return open_sockets() == 2; });  // the dropped one is replaced
  EXPECT_EQ(open_sockets(), 2u);
  std::this_thread::sleep_for(1500ms);  // a redelivery would have come and been answered by now
  EXPECT_EQ(fetch("/_posts").size(), 1u);
}

TEST_F(SlackSocket, ASilentSocketIsReplacedWithinItsLiveness) {
  start_daemon();
  wait_until([&] { return open_sockets() == 2; });
  ASSERT_EQ(open_sockets(), 2u) << daemon_->log();
  int silent = fetch("/_sockets")[0]["id"];
  control("/_silence", {{"socket", silent}});
  auto silenced_at = std::chrono::steady_clock::now();
  // liveness 2 s, then a first backoff of at most 1 s.
  wait_until([&] { return open_sockets() == 2; }, 8s);
  ASSERT_EQ(open_sockets(), 2u) << daemon_->log();
  EXPECT_LT(std::chrono::steady_clock::now() - silenced_at, 5s);
  auto metrics = http_get(daemon_->port(), "/metrics").body;
  EXPECT_EQ(metric_value(metrics, R"(hermes_slack_socket_reconnects_total{channel="slack",reason="timeout"})"), 1)
      << metrics;
  auto id = send_event(socket_message("D0S4", "1700000104.000100", "after the replacement"));
  wait_until([&] { return acks_of(id) == 1; });
  EXPECT_EQ(posts(1).size(), 1u);
}

TEST_F(SlackSocket, KillNineAfterTheAckLosesNothing) {
  start_daemon();
  wait_until([&] { return open_sockets() == 2; });
  auto id = send_event(socket_message("D0S5", "1700000105.000100", "reply slowly after a crash"));
  wait_until([&] { return acks_of(id) == 1; });
  ASSERT_EQ(acks_of(id), 1u) << daemon_->log();
  daemon_->signal(SIGKILL);  // the slow agent needs ~2 s: nothing was posted yet
  ASSERT_EQ(daemon_->wait_exit(), -2);
  EXPECT_EQ(fetch("/_posts").size(), 0u);
  ASSERT_TRUE(daemon_->start()) << daemon_->log();
  auto got = posts(1, 15s);
  ASSERT_EQ(got.size(), 1u) << daemon_->log();
  EXPECT_EQ(got[0]["channel"], "D0S5");
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(fetch("/_posts").size(), 1u);
}

TEST_F(SlackSocket, ASlashCommandIsAnsweredThroughItsResponseUrl) {
  start_daemon();
  wait_until([&] { return open_sockets() == 2; });
  std::string response_url = "http://127.0.0.1:" + std::to_string(peer_->port()) + "/_response/cmd1";
  json command = {{"token", "legacy"}, {"team_id", "T0001"}, {"team_domain", "hermes-test"},
                  {"channel_id", "C0CMD"}, {"channel_name", "general"}, {"user_id", "U2"},
                  {"user_name", "ada"}, {"command", "/ask"}, {"text", "what is a gateway?"},
                  {"api_app_id", "A0001"}, {"response_url", response_url}, {"trigger_id", "13345224609.738474920.8088930838d88f008e0"}};
  auto id = control("/_envelope", {{"type", "slash_commands"}, {"payload", command}})["envelope_id"];
  wait_until([&] { return acks_of(id) == 1; });
  EXPECT_EQ(acks_of(id), 1u);
  json responses;
  wait_until([&] { return (responses = fetch("/_responses")).size() >= 1; });
  ASSERT_EQ(responses.size(), 1u) << daemon_->log();
  EXPECT_EQ(responses[0]["path"], "/_response/cmd1");
  EXPECT_EQ(responses[0]["body"]["response_type"], "ephemeral");
  std::string text = responses[0]["body"]["text"];
  EXPECT_NE(text.find("/ask what is a gateway?"), std::string::npos) << text;
  EXPECT_EQ(fetch("/_posts").size(), 0u);  // not chat.postMessage
  // The same invocation again (Slack's retry of an unacknowledged envelope): not answered twice.
  auto again = control("/_envelope", {{"type", "slash_commands"}, {"payload", command}})["envelope_id"];
  wait_until([&] { return acks_of(again) == 1; });
  EXPECT_EQ(acks_of(again), 1u) << daemon_->log() << fetch("/_sockets").dump();
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(fetch("/_responses").size(), 1u);
  // A user the allowlist refuses gets the notice, once, the same way.
  command["user_id"] = "U9";
  command["trigger_id"] = "13345224609.738474920.refused";
  control("/_envelope", {{"type", "slash_commands"}, {"payload", command}});
  wait_until([&] { return fetch("/_responses").size() >= 2; });
  auto all = fetch("/_responses");
  ASSERT_EQ(all.size(), 2u) << daemon_->log() << fetch("/_posts").dump() << fetch("/_acks").dump();
  EXPECT_EQ(all[1]["body"]["text"], "Sorry, this assistant is not available to you.");
}

TEST_F(SlackSocket, AReloadReplacesTheSocketsWithoutLeavingTheOldOnesOpen) {
  start_daemon();
  wait_until([&] { return open_sockets() == 2; });
  ASSERT_EQ(open_sockets(), 2u) << daemon_->log();
  std::string changed = socket_config(peer_->port(), ca_file_, "IT_SLACK_APP_TOKEN");
  changed.replace(changed.find("connections: 2"), 14, "connections: 1");
  daemon_->rewrite_config(changed);
  daemon_->signal(SIGHUP);
  // The new channel opens its one socket; the old channel's two close.
  wait_until([&] {
    auto sockets = fetch("/_sockets");
    return sockets.size() == 3 && open_sockets() == 1;
  });
  auto sockets = fetch("/_sockets");
  ASSERT_EQ(sockets.size(), 3u) << daemon_->log();
  EXPECT_EQ(open_sockets(), 1u) << sockets.dump();
  EXPECT_TRUE(sockets[2]["open"].get<bool>());
  auto id = send_event(socket_message("D0S6", "1700000106.000100", "after the reload"));
  wait_until([&] { return acks_of(id) == 1; });
  EXPECT_EQ(posts(1).size(), 1u);
  auto metrics = http_get(daemon_->port(), "/metrics").body;
  EXPECT_EQ(metric_value(metrics, R"(hermes_slack_socket_connections{channel="slack"})"), 1);
  std::this_thread::sleep_for(1500ms);  // no reconnect attempts from the replaced channel
  EXPECT_EQ(fetch("/_sockets").size(), 3u);
}

// Socket Mode with streamed answers; a model that breaks off after two chunks.
TEST_F(SlackSocket, AStreamedAnswerThatBreaksOffEndsWithAClearNoticeInTheSameMessage) {
  NodePeer upstream("tests/peers/openai_upstream.mjs");
  ASSERT_TRUE(upstream.start()) << upstream.error();
  std::string config = socket_config(peer_->port(), ca_file_, "IT_SLACK_APP_TOKEN");
  config.replace(config.find("    liveness: 2s\n"), 0, "    stream: true\n");
  std::string base = "http://127.0.0.1:" + std::to_string(upstream.port()) + "/v1";
  config.replace(config.find("  - {name: slow, type: echo"), 0,
                 "  - {name: breaking, type: openai, base_url: \"" + base +
                     "\", model: mock-reset, retries: {attempts: 0}}\n");
  config.replace(config.find("  - {name: patient, model: slow}"), 0, "  - {name: fragile, model: breaking}\n");
  config.replace(config.find("  - {name: slow-ones"), 0,
                 "  - {name: breaks, match: {text_any: [break]}, agent: fragile}\n");
  daemon_ = std::make_unique<Daemon>(config, std::map<std::string, std::string>{{"IT_SLACK_APP_TOKEN", kAppToken},
                                                                                {"IT_SLACK_BOT_TOKEN", kSocketBotToken}});
  ASSERT_TRUE(daemon_->start()) << daemon_->log();
  wait_until([&] { return open_sockets() == 2; });
  auto message = socket_message("C0BRK", "1700000107.000100", "<@UBOT> please break off");
  message["event"]["channel_type"] = "channel";
  message["event"]["user"] = "U2";
  auto id = send_event(message);
  wait_until([&] { return acks_of(id) == 1; });
  json got;
  wait_until([&] {
    got = fetch("/_posts");
    return got.size() == 1 && got[0]["updates"].get<int>() >= 1;
  });
  ASSERT_EQ(got.size(), 1u) << daemon_->log() << fetch("/_calls").dump();
  std::string text = got[0]["text"];
  EXPECT_EQ(text.find(" …"), std::string::npos) << text;
  EXPECT_EQ(text.find("mock:"), std::string::npos) << text;  // not the half answer
  EXPECT_FALSE(text.empty());
  std::size_t starts = 0, updates = 0;
  for (const auto& c : fetch("/_calls")) {
    starts += c["method"] == "chat.startStream";
    updates += c["method"] == "chat.update";
  }
  EXPECT_EQ(starts, 1u);   // the half answer was being shown…
  EXPECT_EQ(updates, 1u);  // …and the notice was written over it
  auto rows = daemon_->audit_events("message.delivery", 1);
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.back()["decision"], "delivered");
}

TEST_F(SlackSocket, ABotTokenInPlaceOfTheAppTokenIsNamedInHealth) {
  start_daemon(kSocketBotToken);
  json channel;
  wait_until([&] {
    channel = status()["channels"][0];
    return channel["detail"].get<std::string>().find("not_allowed_token_type") != std::string::npos;
  });
  EXPECT_FALSE(channel["healthy"].get<bool>()) << channel.dump();
  EXPECT_NE(channel["detail"].get<std::string>().find("xapp"), std::string::npos) << channel.dump();
  EXPECT_EQ(open_sockets(), 0u);
}

}  // namespace
}  // namespace hermes::test
