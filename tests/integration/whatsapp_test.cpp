// The WhatsApp channel against a local Graph API stand-in (tests/peers/graph_peer.mjs) that
// signs webhooks exactly as Meta does and answers /messages as Meta does: the handshake,
// each message answered exactly once in its context (retries and a kill -9 included),
// refusals, statuses, media, username-only users, and the error codes.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <thread>

#include "harness.hpp"
#include "node_peer.hpp"

namespace hermes::test {
namespace {

using nlohmann::json;
constexpr const char* kWaAppSecret = "4f8e2c1d9b7a6e5f4c3b2a1908f7e6d5";
constexpr const char* kWaToken = "EAAGm0PX4ZCpsBA-it-whatsapp-token";
constexpr const char* kWaVerifyToken = "it-verify-token";

std::string whatsapp_config(std::uint16_t peer) {
  return R"(
gateway: {instance: it-whatsapp, data_dir: "${DATA}", threads: 2}
listeners:
  - {name: local, bind: loopback, port: ${PORT0}}
channels:
  - name: wa
    type: whatsapp
    listener: local
    app_secret: "${env:IT_WA_APP_SECRET}"
    verify_token: "${env:IT_WA_VERIFY_TOKEN}"
    access_token: "${env:IT_WA_TOKEN}"
    api_url: "http://127.0.0.1:)" + std::to_string(peer) + R"("
    send_rate: 160
    recipient_interval: 200ms
  - name: wa-window
    type: whatsapp
    listener: local
    app_secret: "${env:IT_WA_APP_SECRET}"
    verify_token: "${env:IT_WA_VERIFY_TOKEN}"
    access_token: "${env:IT_WA_TOKEN}"
    api_url: "http://127.0.0.1:)" + std::to_string(peer) + R"("
    recipient_interval: 200ms
    window_template: {name: follow_up, language: en_US, hold: 1h}
  - name: wa-brief
    type: whatsapp
    listener: local
    app_secret: "${env:IT_WA_APP_SECRET}"
    verify_token: "${env:IT_WA_VERIFY_TOKEN}"
    access_token: "${env:IT_WA_TOKEN}"
    api_url: "http://127.0.0.1:)" + std::to_string(peer) + R"("
    recipient_interval: 200ms
    window_template: {name: follow_up, hold: 3s}
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

json wa_payload(json value) {
  value["messaging_product"] = "whatsapp";
  value["metadata"] = {{"display_phone_number", "15550001111"}, {"phone_number_id", "106540352242922"}};
  return {{"object", "whatsapp_business_account"},
          {"entry", json::array({{{"id", "WABA1"}, {"changes", json::array({{{"field", "messages"}, {"value", value}}})}}})}};
}

json wa_text(const std::string& from, const std::string& wamid, const std::string& text) {
  return wa_payload({{"contacts", json::array({{{"profile", {{"name", "Ana"}}}, {"wa_id", from}}})},
                  {"messages", json::array({{{"from", from}, {"id", wamid}, {"timestamp", "1765000000"},
                                             {"type", "text"}, {"text", {{"body", text}}}}})}});
}

class WhatsApp : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(peer_.start()) << peer_.error();
    daemon_ = std::make_unique<Daemon>(whatsapp_config(peer_.port()),
                                       std::map<std::string, std::string>{{"IT_WA_APP_SECRET", kWaAppSecret},
                                                                          {"IT_WA_VERIFY_TOKEN", kWaVerifyToken},
                                                                          {"IT_WA_TOKEN", kWaToken}});
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
  }

  // The text messages sent to the Graph API (read receipts left out).
  json texts(std::size_t at_least, std::chrono::milliseconds timeout = 10s) {
    json got = json::array();
    wait_until(
        [&] {
          got = json::array();
          for (auto& call : json::parse(http_get(peer_.port(), "/_sent").body)) {
            if (call["body"].is_object() && call["body"].value("type", "") == "text") got.push_back(call);
          }
          return got.size() >= at_least;
        },
        timeout);
    return got;
  }

  // The calls to the Graph API of `type` (text, template) to `to` that Meta accepted.
  json accepted(const std::string& type, const std::string& to, std::size_t at_least,
                std::chrono::milliseconds timeout = 10s) {
    json got = json::array();
    wait_until(
        [&] {
          got = json::array();
          for (auto& call : json::parse(http_get(peer_.port(), "/_sent").body)) {
            auto& body = call["body"];
            if (body.is_object() && body.value("type", "") == type && body.value("to", "") == to &&
                call.value("status", 0) == 200) {
              got.push_back(call);
            }
          }
          return got.size() >= at_least;
        },
        timeout);
    return got;
  }

  void close_window(const std::string& to) {
    http_request(peer_.port(), "POST", "/_close", {{"Content-Type", "application/json"}}, json({{"to", to}}).dump());
  }

  // Signed as Meta signs, unless `signature` is given ("": no signature header at all).
  int send(const json& body, std::optional<std::string> signature = std::nullopt, const std::string& channel = "wa") {
    json request = {{"url", "http://127.0.0.1:" + std::to_string(daemon_->port()) + "/whatsapp/" + channel + "/events"},
                    {"payload", body}};
    if (signature) request["signature"] = *signature;
    auto r = http_request(peer_.port(), "POST", "/_send", {{"Content-Type", "application/json"}}, request.dump());
    return json::parse(r.body)["status"];
  }

  // Meta's limits scaled: 200 sends a second per number, 150 ms between two to one user.
  NodePeer peer_{"tests/peers/graph_peer.mjs",
                 {"--port", "0", "--app-secret", kWaAppSecret, "--token", kWaToken, "--mps", "200", "--pair-ms", "150"}};
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(WhatsApp, TheHandshakeAnswersTheChallengeOnlyToTheVerifyToken) {
  auto ok = http_get(daemon_->port(), "/whatsapp/wa/events?hub.mode=subscribe&hub.verify_token=it-verify-token&hub.challenge=1158201444");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "1158201444");
  EXPECT_EQ(http_get(daemon_->port(), "/whatsapp/wa/events?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1").status, 403);
  EXPECT_EQ(http_get(daemon_->port(), "/whatsapp/wa/events?hub.mode=unsubscribe&hub.verify_token=it-verify-token&hub.challenge=1").status, 403);
}

TEST_F(WhatsApp, ASignedTextIsAnsweredOnceInItsContextAndRetriesStayQuiet) {
  auto message = wa_text("16505551234", "wamid.IN1", "hello there");
  ASSERT_EQ(send(message), 200);
  auto got = texts(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["path"], "/v27.0/106540352242922/messages");
  EXPECT_TRUE(got[0]["authorized"]);
  EXPECT_EQ(got[0]["body"]["to"], "16505551234");
  EXPECT_EQ(got[0]["body"]["context"]["message_id"], "wamid.IN1");
  EXPECT_NE(got[0]["body"]["text"]["body"].get<std::string>().find("hello there"), std::string::npos);
  ASSERT_EQ(send(message), 200);  // Meta's re-delivery
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(texts(1).size(), 1u);
  bool read_receipt = false;
  for (auto& call : json::parse(http_get(peer_.port(), "/_sent").body)) {
    read_receipt = read_receipt || (call["body"].value("status", "") == "read" && call["body"]["message_id"] == "wamid.IN1");
  }
  EXPECT_TRUE(read_receipt);
  auto rows = daemon_->audit_events("message.delivery", 1);
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows[0]["decision"], "delivered");
  EXPECT_EQ(rows[0]["detail"]["peer_id"].get<std::string>().rfind("wamid.OUT", 0), 0u);
}

TEST_F(WhatsApp, KillNineAfterTheAckStillEndsWithExactlyOneAnswer) {
  auto message = wa_text("16505550050", "wamid.CRASH", "answer slowly after a crash");
  ASSERT_EQ(send(message), 200);
  daemon_->signal(SIGKILL);  // the slow agent needs ~2 s: nothing was sent yet
  ASSERT_EQ(daemon_->wait_exit(), -2);
  EXPECT_EQ(texts(0, 0ms).size(), 0u);
  ASSERT_TRUE(daemon_->start()) << daemon_->log();
  auto got = texts(1, 15s);
  ASSERT_EQ(got.size(), 1u) << daemon_->log();
  EXPECT_EQ(got[0]["body"]["context"]["message_id"], "wamid.CRASH");
  EXPECT_EQ(send(message), 200);  // re-delivered after the restart
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(texts(1).size(), 1u);
}

TEST_F(WhatsApp, BadOrMissingSignaturesAre401AndAudited) {
  auto message = wa_text("16505551234", "wamid.BAD", "hi");
  EXPECT_EQ(send(message, "sha256=" + std::string(64, '0')), 401);
  EXPECT_EQ(send(message, ""), 401);
  auto rows = daemon_->audit_events("auth.reject", 2);
  ASSERT_GE(rows.size(), 2u);
  EXPECT_EQ(rows[0]["channel"], "wa");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(texts(0, 0ms).size(), 0u);
}

TEST_F(WhatsApp, MediaUsernameOnlyUsersStatusesAndErrorCodes) {
  // An image: the agent is told what arrived; the echo shows it.
  ASSERT_EQ(send(wa_payload({{"messages", json::array({{{"from", "16505552222"}, {"id", "wamid.IMG"}, {"type", "image"},
                                                     {"image", {{"id", "MEDIA1"}, {"caption", "receipt"}}}}})}})),
            200);
  // A username-only user: answered by user id.
  ASSERT_EQ(send(wa_payload({{"contacts", json::array({{{"profile", {{"name", "@bob"}}}, {"user_id", "US.13491208655302741918"}}})},
                          {"messages", json::array({{{"id", "wamid.BSUID"}, {"type", "text"}, {"text", {{"body", "hi"}}}}})}})),
            200);
  // Throughput: retried; outside the window: refused and audited.
  ASSERT_EQ(send(wa_text("15550130429", "wamid.FAST", "busy?")), 200);
  ASSERT_EQ(send(wa_text("15550131047", "wamid.LATE", "late")), 200);
  auto got = texts(5);  // image, bsuid, 130429 twice, 131047 once (permanent)
  bool image = false, bsuid = false;
  int fast = 0;
  for (auto& call : got) {
    auto& body = call["body"];
    image = image || body["text"]["body"].get<std::string>().find("cannot open") != std::string::npos;
    bsuid = bsuid || (body.value("recipient", "") == "US.13491208655302741918" && !body.contains("to"));
    fast += body.value("to", "") == "15550130429";
  }
  EXPECT_TRUE(image);
  EXPECT_TRUE(bsuid);
  EXPECT_EQ(fast, 2) << "130429 is retried";
  auto window = daemon_->audit_events("whatsapp.window_closed", 1);
  ASSERT_EQ(window.size(), 1u);
  EXPECT_EQ(window[0]["detail"]["event_id"], "wamid.LATE");
  // A later status from Meta is recorded against the peer's message id.
  ASSERT_EQ(send(wa_payload({{"statuses", json::array({{{"id", "wamid.OUT1"}, {"status", "read"}, {"recipient_id", "16505552222"}},
                                                    {{"id", "wamid.OUT2"}, {"status", "failed"}, {"recipient_id", "16505552222"},
                                                     {"errors", json::array({{{"code", 131026}, {"title", "Message undeliverable"}}})}}})}})),
            200);
  auto statuses = daemon_->audit_events("whatsapp.status", 2);
  ASSERT_EQ(statuses.size(), 2u);
  EXPECT_EQ(statuses[0]["decision"], "read");
  EXPECT_EQ(statuses[1]["status"], "whatsapp:131026");
}

// Meta accepts a message (200, a wamid) and fails it later: the ledger moves it from
// delivered to failed, and a 131047 says the window had closed.
TEST_F(WhatsApp, AFailedStatusAfterAcceptanceMovesTheAnswerToFailed) {
  ASSERT_EQ(send(wa_text("16505557777", "wamid.LATER", "hello")), 200);
  auto rows = daemon_->audit_events("message.delivery", 1);
  ASSERT_EQ(rows.size(), 1u);
  std::string peer = rows[0]["detail"]["peer_id"];
  json failed = wa_payload({{"statuses", json::array({{{"id", peer}, {"status", "failed"}, {"recipient_id", "16505557777"},
                                                       {"errors", json::array({{{"code", 131047}, {"title", "Re-engagement message"}}})}}})}});
  ASSERT_EQ(send(failed), 200);
  rows = daemon_->audit_events("message.delivery", 2);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1]["decision"], "failed_after_delivery");
  EXPECT_EQ(rows[1]["status"], "whatsapp:131047");
  EXPECT_EQ(rows[1]["detail"]["event_id"], "wamid.LATER");
  auto window = daemon_->audit_events("whatsapp.window_closed", 1);
  ASSERT_EQ(window.size(), 1u);
  EXPECT_EQ(window[0]["detail"]["peer_id"], peer);
  ASSERT_EQ(send(failed), 200);  // the same status again: nothing more moves
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(daemon_->audit_events("message.delivery", 2, 0ms).size(), 2u);
}

// Outside the 24-hour window free text is refused (131047): the window template goes out,
// the answer waits (across a restart) and is delivered once the user writes again.
TEST_F(WhatsApp, OutsideTheWindowTheTemplateGoesAndTheAnswerWaitsForTheUser) {
  const std::string user = "16505553333";
  // The slow agent answers after ~2 s; meanwhile the window closes (as if 24 hours passed).
  ASSERT_EQ(send(wa_text(user, "wamid.W1", "where is my order? answer slowly"), std::nullopt, "wa-window"), 200);
  close_window(user);
  auto templates = accepted("template", user, 1);
  ASSERT_EQ(templates.size(), 1u) << daemon_->log();
  EXPECT_EQ(templates[0]["body"]["template"]["name"], "follow_up");
  EXPECT_EQ(templates[0]["body"]["template"]["language"]["code"], "en_US");
  auto held = daemon_->audit_events("message.delivery", 1);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0]["decision"], "held");
  EXPECT_EQ(held[0]["status"], "whatsapp:131047");
  EXPECT_EQ(daemon_->audit_events("whatsapp.template", 1)[0]["decision"], "sent");
  EXPECT_TRUE(accepted("text", user, 1, 0ms).empty());

  daemon_->signal(SIGTERM);  // the hold is durable
  ASSERT_EQ(daemon_->wait_exit(), 0);
  ASSERT_TRUE(daemon_->start()) << daemon_->log();
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(accepted("text", user, 1, 0ms).empty()) << "still held after the restart";

  ASSERT_EQ(send(wa_text(user, "wamid.W2", "hello?"), std::nullopt, "wa-window"), 200);
  auto texts_sent = accepted("text", user, 2);
  ASSERT_EQ(texts_sent.size(), 2u) << daemon_->log();
  EXPECT_EQ(texts_sent[0]["body"]["context"]["message_id"], "wamid.W1") << "the held answer first";
  EXPECT_EQ(texts_sent[1]["body"]["context"]["message_id"], "wamid.W2");
  EXPECT_EQ(accepted("template", user, 1, 0ms).size(), 1u) << "one template";
}

// Meta took the answer (200) and failed it later with 131047: with a template the answer is
// sent again, as the template and then the text once the user writes.
TEST_F(WhatsApp, ALate131047SendsTheTemplateAndTheAnswerFollowsTheUsersNextMessage) {
  const std::string user = "16505554444";
  ASSERT_EQ(send(wa_text(user, "wamid.W3", "hello"), std::nullopt, "wa-window"), 200);
  auto first = accepted("text", user, 1);
  ASSERT_EQ(first.size(), 1u);
  auto rows = daemon_->audit_events("message.delivery", 1);
  ASSERT_EQ(rows.size(), 1u);
  std::string peer = rows[0]["detail"]["peer_id"];
  close_window(user);
  json failed = wa_payload({{"statuses", json::array({{{"id", peer}, {"status", "failed"}, {"recipient_id", user},
                                                       {"errors", json::array({{{"code", 131047}, {"title", "Re-engagement message"}}})}}})}});
  ASSERT_EQ(send(failed, std::nullopt, "wa-window"), 200);
  ASSERT_EQ(accepted("template", user, 1).size(), 1u) << daemon_->log();
  rows = daemon_->audit_events("message.delivery", 3, 10s);
  ASSERT_GE(rows.size(), 3u);
  EXPECT_EQ(rows[1]["decision"], "requeued_after_delivery");
  bool held = false;  // after the requeue; a retry (Meta's pair rate under load) may come first
  for (std::size_t i = 2; i < rows.size(); ++i) held = held || rows[i]["decision"] == "held";
  EXPECT_TRUE(held);
  ASSERT_EQ(send(wa_text(user, "wamid.W4", "still there?"), std::nullopt, "wa-window"), 200);
  auto texts_sent = accepted("text", user, 3);
  ASSERT_EQ(texts_sent.size(), 3u);
  EXPECT_EQ(texts_sent[1]["body"]["context"]["message_id"], "wamid.W3");
  EXPECT_EQ(texts_sent[2]["body"]["context"]["message_id"], "wamid.W4");
}

TEST_F(WhatsApp, AHeldAnswerIsGivenUpWhenItsHoldEnds) {
  const std::string user = "16505555555";
  ASSERT_EQ(send(wa_text(user, "wamid.W5", "anyone? answer slowly"), std::nullopt, "wa-brief"), 200);
  close_window(user);
  ASSERT_EQ(accepted("template", user, 1).size(), 1u);
  std::vector<json> gave_up;
  wait_until(
      [&] {
        gave_up.clear();
        for (auto& row : daemon_->audit_events("message.delivery", 1, 0ms)) {
          if (row["decision"] == "gave_up") gave_up.push_back(row);
        }
        return !gave_up.empty();
      },
      10s);
  ASSERT_EQ(gave_up.size(), 1u) << daemon_->log();
  EXPECT_EQ(gave_up[0]["status"], "hold_expired");
  EXPECT_EQ(gave_up[0]["detail"]["event_id"], "wamid.W5");
  EXPECT_TRUE(accepted("text", user, 1, 0ms).empty());
}

// Sends are paced before Meta would refuse them: 500 users writing at once, and one user
// writing three times in a row, are all answered without a 130429 or a 131056.
TEST_F(WhatsApp, ABurstIsPacedUnderMetasLimits) {
  const int users = 500;
  for (int i = 0; i < users; ++i) {
    ASSERT_EQ(send(wa_text("1555100" + std::to_string(1000 + i), "wamid.BURST" + std::to_string(i), "hi")), 200);
  }
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(send(wa_text("15552229999", "wamid.SAME" + std::to_string(i), "again")), 200);
  }
  auto got = texts(users + 3, 30s);
  EXPECT_EQ(got.size(), static_cast<std::size_t>(users + 3));
  auto limits = json::parse(http_get(peer_.port(), "/_limits").body);
  EXPECT_EQ(limits["throughput"], 0) << "130429 answers";
  EXPECT_EQ(limits["pair"], 0) << "131056 answers";
}

}  // namespace
}  // namespace hermes::test
