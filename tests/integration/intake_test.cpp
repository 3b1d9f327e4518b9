// Durable intake through the signed webhook channel: acknowledged only once
// persisted, retries answered once, and a kill -9 between the acknowledgement
// and the answer still ends in exactly one answer after a restart.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <thread>

#include "harness.hpp"
#include "hermes/audit/record.hpp"
#include "hermes/core/standard_webhooks.hpp"
#include "node_peer.hpp"

namespace hermes::test {
namespace {

using nlohmann::json;
constexpr const char* kIntakeSecret = "webhook-test-secret";

std::string intake_config(std::uint16_t sink_port) {
  return R"(
gateway: {instance: it-intake, data_dir: "${DATA}", threads: 2}
listeners:
  - {name: local, bind: loopback, port: ${PORT0}}
channels:
  - {name: hooks, type: webhook, listener: local, secret: "${env:IT_HOOK_SECRET}",
     deliver_url: "http://127.0.0.1:)" + std::to_string(sink_port) + R"(/deliver"}
models:
  - {name: demo, type: echo}
  - {name: slow, type: echo, chunks: 4, delay: 500ms}
agents:
  - {name: general, model: demo}
  - {name: patient, model: slow}
routes:
  - {name: slow-ones, match: {text_any: [slowly]}, agent: patient}
  - {name: default, agent: general}
)";
}

HttpResult post_event(std::uint16_t port, const json& event, const std::string& secret = kIntakeSecret) {
  std::string body = event.dump();
  return http_request(port, "POST", "/webhook/hooks/events",
                      {{"Content-Type", "application/json"},
                       {"X-Hermes-Signature", "sha256=" + audit::hmac_sha256_hex(secret, body)}},
                      body);
}

json deliveries(std::uint16_t sink) { return json::parse(http_get(sink, "/_requests").body); }

json wait_for_deliveries(std::uint16_t sink, std::size_t n, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  json got = json::array();
  while (std::chrono::steady_clock::now() < deadline) {
    got = deliveries(sink);
    if (got.size() >= n) break;
    std::this_thread::sleep_for(50ms);
  }
  return got;
}

class Intake : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(sink_.start()) << sink_.error();
    daemon_ = std::make_unique<Daemon>(intake_config(sink_.port()), std::map<std::string, std::string>{{"IT_HOOK_SECRET", kIntakeSecret}});
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
  }
  NodePeer sink_{"tests/peers/webhook_sink.mjs"};
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(Intake, ASignedEventIsAcknowledgedAndAnsweredOnce) {
  auto r = post_event(daemon_->port(), {{"event_id", "ev-1"}, {"sender", "u1"}, {"conversation", "dm-1"},
                                         {"text", "hello hooks"}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(json::parse(r.body)["status"], "accepted");
  auto got = wait_for_deliveries(sink_.port(), 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["body"]["event_id"], "ev-1");
  EXPECT_EQ(got[0]["body"]["conversation"], "dm-1");
  EXPECT_EQ(got[0]["body"]["agent"], "general");
  EXPECT_NE(got[0]["body"]["text"].get<std::string>().find("hello hooks"), std::string::npos);
  // The delivery is signed with the same secret, so the receiver can trust it.
  EXPECT_EQ(got[0]["headers"]["x-hermes-signature"],
            "sha256=" + audit::hmac_sha256_hex(kIntakeSecret, got[0]["raw"].get<std::string>()));
}

TEST_F(Intake, RetriesIncludingOneRacingTheFirstAreAnsweredOnce) {
  json event = {{"event_id", "ev-race"}, {"sender", "u2"}, {"conversation", "dm-2"}, {"text", "slowly please"}};
  HttpResult a, b;
  std::thread first([&] { a = post_event(daemon_->port(), event); });
  std::thread second([&] { b = post_event(daemon_->port(), event); });
  first.join();
  second.join();
  ASSERT_EQ(a.status, 200);
  ASSERT_EQ(b.status, 200);
  std::set<std::string> statuses = {json::parse(a.body)["status"], json::parse(b.body)["status"]};
  EXPECT_EQ(statuses, (std::set<std::string>{"accepted", "duplicate"}));
  auto later = post_event(daemon_->port(), event);  // a retry while the first is still being answered
  EXPECT_EQ(json::parse(later.body)["status"], "duplicate");
  wait_for_deliveries(sink_.port(), 1);
  std::this_thread::sleep_for(700ms);
  EXPECT_EQ(deliveries(sink_.port()).size(), 1u);
  EXPECT_EQ(daemon_->audit_events("message.rejected", 2).size(), 2u);
}

TEST_F(Intake, BadSignaturesAreRefusedAndAudited) {
  EXPECT_EQ(post_event(daemon_->port(), {{"event_id", "ev-x"}, {"text", "hi"}}, "wrong-secret").status, 401);
  auto unsigned_post = http_request(daemon_->port(), "POST", "/webhook/hooks/events", {}, R"({"event_id":"e","text":"t"})");
  EXPECT_EQ(unsigned_post.status, 401);
  EXPECT_EQ(daemon_->audit_events("auth.reject", 2).size(), 2u);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(deliveries(sink_.port()).size(), 0u);
}

TEST_F(Intake, KillNineAfterTheAckStillEndsWithExactlyOneAnswer) {
  auto r = post_event(daemon_->port(), {{"event_id", "ev-crash"}, {"sender", "u3"}, {"conversation", "dm-3"},
                                         {"text", "answer me slowly"}});
  ASSERT_EQ(json::parse(r.body)["status"], "accepted");
  daemon_->signal(SIGKILL);  // the answer takes ~2 s: it cannot have been delivered
  EXPECT_EQ(daemon_->wait_exit(), -2);
  EXPECT_EQ(deliveries(sink_.port()).size(), 0u);
  ASSERT_TRUE(daemon_->start()) << daemon_->log();
  auto got = wait_for_deliveries(sink_.port(), 1, 15s);
  ASSERT_EQ(got.size(), 1u) << daemon_->log();
  EXPECT_EQ(got[0]["body"]["event_id"], "ev-crash");
  EXPECT_EQ(got[0]["body"]["agent"], "patient");
  // A retry of the same event after the restart is still a duplicate.
  EXPECT_EQ(json::parse(post_event(daemon_->port(), {{"event_id", "ev-crash"}, {"text", "x"}}).body)["status"],
            "duplicate");
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(deliveries(sink_.port()).size(), 1u);
}

}  // namespace
}  // namespace hermes::test

namespace hermes::test {
namespace {

// Standard Webhooks (#18, review L7): a signed timestamp bounds replays to five minutes,
// far inside the 24 hours for which event ids are remembered; deliveries are signed the
// same way.
TEST(IntakeStandardWebhooks, SignedRequestsAreTakenAndReplaysOutsideTheWindowRefused) {
  constexpr const char* kWhsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  NodePeer sink("tests/peers/webhook_sink.mjs");
  ASSERT_TRUE(sink.start()) << sink.error();
  Daemon d(R"(
gateway: {instance: it-standard, data_dir: "${DATA}", threads: 2}
listeners:
  - {name: local, bind: loopback, port: ${PORT0}}
channels:
  - {name: hooks, type: webhook, listener: local, secret: "${env:IT_HOOK_SECRET}", signature: standard,
     deliver_url: "http://127.0.0.1:)" + std::to_string(sink.port()) + R"(/deliver"}
models:
  - {name: demo, type: echo}
agents:
  - {name: general, model: demo}
routes:
  - {name: default, agent: general}
)",
           {{"IT_HOOK_SECRET", kWhsec}});
  ASSERT_TRUE(d.start()) << d.log();
  auto send = [&](const std::string& id, std::chrono::system_clock::time_point when, const std::string& body) {
    auto headers = standard_webhooks::signature_headers(standard_webhooks::Scheme::standard, kWhsec, id, body, when);
    std::map<std::string, std::string> h{{"Content-Type", "application/json"}};
    for (auto& [k, v] : headers) h[k] = v;
    return http_request(d.port(), "POST", "/webhook/hooks/events", h, body);
  };
  std::string body = json{{"event_id", "ev-std"}, {"sender", "u1"}, {"conversation", "c1"}, {"text", "hi"}}.dump();
  auto now = std::chrono::system_clock::now();
  auto r = send("msg_1", now, body);
  ASSERT_EQ(r.status, 200) << r.raw;
  // Captured and replayed ten minutes later: refused before the body is read.
  EXPECT_EQ(send("msg_1", now - std::chrono::minutes(10), body).status, 401);
  // Hermes' own scheme is not accepted on a standard channel.
  auto legacy = http_request(d.port(), "POST", "/webhook/hooks/events",
                             {{"Content-Type", "application/json"},
                              {"X-Hermes-Signature", "sha256=" + audit::hmac_sha256_hex(kWhsec, body)}},
                             body);
  EXPECT_EQ(legacy.status, 401);
  auto refused = d.audit_events("auth.reject", 2);
  ASSERT_EQ(refused.size(), 2u);
  EXPECT_EQ(refused[0]["status"], "stale_timestamp");
  EXPECT_EQ(refused[1]["status"], "bad_signature");
  // The answer is delivered signed the same way.
  auto got = wait_for_deliveries(sink.port(), 1);
  ASSERT_EQ(got.size(), 1u);
  const auto& h = got[0]["headers"];
  EXPECT_EQ(standard_webhooks::verify(standard_webhooks::signing_key(kWhsec), h.value("webhook-id", ""),
                                      h.value("webhook-timestamp", ""), h.value("webhook-signature", ""),
                                      got[0]["raw"].get<std::string>(), std::chrono::system_clock::now()),
            standard_webhooks::Verdict::ok)
      << h.dump();
  EXPECT_EQ(h.value("webhook-id", ""), h.value("x-hermes-delivery-id", ""));
}

}  // namespace
}  // namespace hermes::test
