// The outbox of asynchronous channels, driven through the signed webhook
// channel against a receiver that can be told to fail: transient failures are
// retried with backoff and the peer's Retry-After, permanent ones given up and
// audited, and a restart resumes undelivered answers without re-sending
// delivered ones or answering twice.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <thread>

#include "harness.hpp"
#include "hermes/audit/record.hpp"
#include "node_peer.hpp"

namespace hermes::test {
namespace {

using nlohmann::json;
constexpr const char* kOutboxSecret = "outbox-test-secret";

std::string outbox_config(std::uint16_t sink_port, const std::string& channel_extra = "") {
  return R"(
gateway: {instance: it-outbox, data_dir: "${DATA}", threads: 2}
listeners:
  - {name: local, bind: loopback, port: ${PORT0}}
channels:
  - {name: hooks, type: webhook, listener: local, secret: "${env:IT_HOOK_SECRET}",
     deliver_url: "http://127.0.0.1:)" + std::to_string(sink_port) + R"(/deliver")" + channel_extra + R"(}
models:
  - {name: demo, type: echo}
agents:
  - {name: general, model: demo}
routes:
  - {name: default, agent: general}
outbox: {first_backoff: 100ms, max_backoff: 400ms, max_attempts: 4}
)";
}

class OutboxDelivery : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(sink_.start()) << sink_.error();
    daemon_ = std::make_unique<Daemon>(outbox_config(sink_.port()),
                                       std::map<std::string, std::string>{{"IT_HOOK_SECRET", kOutboxSecret}});
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
  }

  void script(const json& steps) {
    ASSERT_EQ(http_request(sink_.port(), "POST", "/_script", {{"Content-Type", "application/json"}}, steps.dump())
                  .status,
              200);
  }

  std::string post_event(const std::string& event_id, const std::string& text = "hello outbox") {
    std::string body = json{{"event_id", event_id}, {"sender", "u1"}, {"conversation", "c1"}, {"text", text}}.dump();
    auto r = http_request(daemon_->port(), "POST", "/webhook/hooks/events",
                          {{"Content-Type", "application/json"},
                           {"X-Hermes-Signature", "sha256=" + audit::hmac_sha256_hex(kOutboxSecret, body)}},
                          body);
    return r.status == 200 ? json::parse(r.body).value("status", "") : "http " + std::to_string(r.status);
  }

  json fetch(const std::string& path) { return json::parse(http_get(sink_.port(), path).body); }

  // Waits until the sink has seen `n` attempts (or delivered requests).
  json wait_for(const std::string& path, std::size_t n, std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    json got = json::array();
    while (std::chrono::steady_clock::now() < deadline) {
      got = fetch(path);
      if (got.size() >= n) break;
      std::this_thread::sleep_for(25ms);
    }
    return got;
  }

  std::vector<std::string> delivery_decisions(std::size_t at_least) {
    std::vector<std::string> out;
    for (const auto& row : daemon_->audit_events("message.delivery", at_least)) out.push_back(row["decision"]);
    return out;
  }

  NodePeer sink_{"tests/peers/webhook_sink.mjs"};
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(OutboxDelivery, TransientFailuresAreRetriedUntilDeliveredOnce) {
  script({{{"status", 503}}, {{"status", 500}}});
  ASSERT_EQ(post_event("ev-1"), "accepted");
  auto attempts = wait_for("/_attempts", 3);
  ASSERT_EQ(attempts.size(), 3u);
  EXPECT_EQ(attempts[0]["status"], 503);
  EXPECT_EQ(attempts[1]["status"], 500);
  EXPECT_EQ(attempts[2]["status"], 200);
  // Backoff between attempts (first_backoff 100ms, jittered down to half).
  EXPECT_GE(attempts[1]["at"].get<std::int64_t>() - attempts[0]["at"].get<std::int64_t>(), 45);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(fetch("/_requests").size(), 1u);
  EXPECT_EQ(delivery_decisions(3), (std::vector<std::string>{"retry", "retry", "delivered"}));
  auto rows = daemon_->audit_events("message.delivery", 3);
  EXPECT_EQ(rows[0]["status"], "http_503");
  EXPECT_EQ(rows[2]["channel"], "hooks");
  EXPECT_EQ(rows[2]["agent"], "general");
  EXPECT_FALSE(rows[2]["request_id"].get<std::string>().empty());
}

TEST_F(OutboxDelivery, RetryAfterFromThePeerIsHonoured) {
  script({{{"status", 429}, {"retry_after", "1"}}});
  ASSERT_EQ(post_event("ev-429"), "accepted");
  auto attempts = wait_for("/_attempts", 2);
  ASSERT_EQ(attempts.size(), 2u);
  // Backoff alone would retry after ~100 ms; the peer asked for 1 s.
  EXPECT_GE(attempts[1]["at"].get<std::int64_t>() - attempts[0]["at"].get<std::int64_t>(), 950);
  EXPECT_EQ(attempts[1]["status"], 200);
}

TEST_F(OutboxDelivery, APermanentRefusalIsGivenUpAtOnceAndAudited) {
  script({{{"status", 400}}});
  ASSERT_EQ(post_event("ev-400"), "accepted");
  auto rows = daemon_->audit_events("message.delivery", 1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["decision"], "gave_up");
  EXPECT_EQ(rows[0]["status"], "http_400");
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(fetch("/_attempts").size(), 1u);
  auto metrics = http_get(daemon_->port(), "/metrics").body;
  EXPECT_NE(metrics.find("hermes_outbox_deliveries_total{channel=\"hooks\",result=\"gave_up\"} 1"), std::string::npos)
      << metrics;
}

TEST_F(OutboxDelivery, AttemptsAreBoundedByMaxAttempts) {
  script(json::array({{{"status", 503}}, {{"status", 503}}, {{"status", 503}}, {{"status", 503}},
                      {{"status", 503}}, {{"status", 503}}}));
  ASSERT_EQ(post_event("ev-down"), "accepted");
  auto decisions = delivery_decisions(4);
  EXPECT_EQ(decisions, (std::vector<std::string>{"retry", "retry", "retry", "gave_up"}));
  std::this_thread::sleep_for(600ms);
  EXPECT_EQ(fetch("/_attempts").size(), 4u);
  EXPECT_EQ(fetch("/_requests").size(), 0u);
}

TEST_F(OutboxDelivery, ARestartResumesUndeliveredAnswersWithoutAnsweringTwice) {
  json failing = json::array();
  for (int i = 0; i < 50; ++i) failing.push_back({{"status", 503}});
  script(failing);
  ASSERT_EQ(post_event("ev-resume"), "accepted");
  wait_for("/_attempts", 2);  // queued in the outbox and failing
  daemon_->signal(SIGKILL);
  ASSERT_EQ(daemon_->wait_exit(), -2);
  script(json::array());  // the receiver is back
  ASSERT_TRUE(daemon_->start()) << daemon_->log();
  auto delivered = wait_for("/_requests", 1);
  ASSERT_EQ(delivered.size(), 1u) << daemon_->log();
  EXPECT_EQ(delivered[0]["body"]["event_id"], "ev-resume");

  // A delivered answer is never sent again, not even after another restart.
  daemon_->signal(SIGTERM);
  ASSERT_EQ(daemon_->wait_exit(), 0);
  ASSERT_TRUE(daemon_->start()) << daemon_->log();
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(fetch("/_requests").size(), 1u);
  // The answer came from the outbox: the pipeline never ran the message again.
  auto exchanges = daemon_->audit_events("message.exchange", 1);
  EXPECT_EQ(exchanges.size(), 1u) << json(exchanges).dump(1);
}

TEST_F(OutboxDelivery, ACrashMidSendIsResentOnceAndAuditedAsAmbiguous) {
  script({{{"status", 200}, {"delay_ms", 5000}}});  // the receiver has it but has not answered yet
  ASSERT_EQ(post_event("ev-ambiguous"), "accepted");
  wait_for("/_requests", 1);
  daemon_->signal(SIGKILL);
  ASSERT_EQ(daemon_->wait_exit(), -2);
  ASSERT_TRUE(daemon_->start()) << daemon_->log();
  auto delivered = wait_for("/_requests", 2);
  ASSERT_EQ(delivered.size(), 2u) << daemon_->log();
  // Both carry the same delivery id, so a receiver can drop the second.
  EXPECT_EQ(delivered[0]["headers"]["x-hermes-delivery-id"], delivered[1]["headers"]["x-hermes-delivery-id"]);
  auto decisions = delivery_decisions(2);
  EXPECT_EQ(decisions, (std::vector<std::string>{"ambiguous", "delivered"}));
}

// Review L8: an attempt that timed out after the whole request was sent may still have been
// processed; the retry can deliver twice, and the row says so beforehand.
TEST_F(OutboxDelivery, ATimeoutAfterTheRequestWasSentIsAuditedAsAmbiguous) {
  daemon_.reset();
  daemon_ = std::make_unique<Daemon>(outbox_config(sink_.port(), ", deliver_timeout: 600ms"),
                                     std::map<std::string, std::string>{{"IT_HOOK_SECRET", kOutboxSecret}});
  ASSERT_TRUE(daemon_->start()) << daemon_->log();
  script({{{"status", 200}, {"delay_ms", 1500}}});  // the receiver takes it, and answers too late
  ASSERT_EQ(post_event("ev-late"), "accepted");
  auto delivered = wait_for("/_requests", 2);
  ASSERT_EQ(delivered.size(), 2u) << daemon_->log();
  EXPECT_EQ(delivered[0]["headers"]["x-hermes-delivery-id"], delivered[1]["headers"]["x-hermes-delivery-id"]);
  auto rows = daemon_->audit_events("message.delivery", 2);
  ASSERT_GE(rows.size(), 2u);
  EXPECT_EQ(rows[0]["decision"], "ambiguous") << json(rows).dump(1);
  EXPECT_EQ(rows[0]["status"], "timeout");
  EXPECT_EQ(rows[0]["detail"]["may_have_arrived"], true);
  EXPECT_EQ(rows[1]["decision"], "delivered");
}

}  // namespace
}  // namespace hermes::test
