// The resilience layer around every backend, through a real hermesd and the API:
// retries (Retry-After honoured) before falling back, a circuit breaker that opens,
// sheds, probes and recovers, and a concurrency cap with a bounded wait.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <thread>

#include "harness.hpp"
#include "node_peer.hpp"

namespace hermes::test {
namespace {

using nlohmann::json;

std::string resilience_config(std::uint16_t upstream) {
  std::string base = "http://127.0.0.1:" + std::to_string(upstream) + "/v1";
  return R"(
gateway: {instance: it-resilience, data_dir: "${DATA}", threads: 2}
listeners:
  - {name: local, bind: loopback, port: ${PORT0}}
channels:
  - {name: api, type: api, listener: local}
models:
  - {name: demo, type: echo}
  - {name: failing, type: openai, base_url: ")" + base + R"(", model: mock-500,
     retries: {attempts: 2, backoff: 50ms}, breaker: {failures: 0}}
  - {name: limited, type: openai, base_url: ")" + base + R"(", model: mock-429,
     retries: {attempts: 1, backoff: 50ms}, breaker: {failures: 0}}
  - {name: flip, type: openai, base_url: ")" + base + R"(", model: mock-flip,
     retries: {attempts: 0}, breaker: {failures: 3, window: 10s, cooldown: 1s}}
  - {name: slow, type: openai, base_url: ")" + base + R"(", model: mock-slow,
     max_concurrency: 1, queue_timeout: 100ms}
  - {name: hanging, type: openai, base_url: ")" + base + R"(", model: mock-hang, first_byte_timeout: 300ms, timeout: 400ms}
  - {name: garbled, type: openai, base_url: ")" + base + R"(", model: mock-garbage}
  - {name: stalled, type: openai, base_url: ")" + base + R"(", model: mock-headers-hang, first_byte_timeout: 300ms,
     timeout: 600ms, retries: {attempts: 0}}
  - {name: resetting, type: openai, base_url: ")" + base + R"(", model: mock-reset, retries: {attempts: 0}}
  - {name: trailing, type: openai, base_url: ")" + base + R"(", model: mock-trailer, retries: {attempts: 0}}
agents:
  - {name: retrying, model: failing, fallback: [demo]}
  - {name: patient, model: limited, fallback: [demo]}
  - {name: guarded, model: flip, fallback: [demo]}
  - {name: capped, model: slow, fallback: [demo]}
  - {name: waiting, model: hanging, fallback: [demo]}
  - {name: garbling, model: garbled, fallback: [demo]}
  - {name: stalling, model: stalled, fallback: [demo]}
  - {name: reset, model: resetting, fallback: [demo]}
  - {name: trailer, model: trailing, fallback: [demo]}
  - {name: reset-alone, model: resetting}
routes:
  - {name: default, agent: retrying}
)";
}

class Resilience : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(upstream_.start()) << upstream_.error();
    daemon_ = std::make_unique<Daemon>(resilience_config(upstream_.port()));
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
  }

  HttpResult ask(const std::string& agent, const std::string& text = "hello") {
    json body = {{"model", agent}, {"messages", {{{"role", "user"}, {"content", text}}}}};
    return http_request(daemon_->port(), "POST", "/v1/chat/completions", {{"Content-Type", "application/json"}},
                        body.dump());
  }
  std::string answer_of(const HttpResult& r) {
    auto j = json::parse(r.body, nullptr, false);
    return j.is_object() && j.contains("choices") ? j["choices"][0]["message"]["content"].get<std::string>() : "";
  }
  std::vector<json> upstream_calls(const std::string& model) {
    std::vector<json> out;
    for (const auto& r : json::parse(http_get(upstream_.port(), "/_requests").body)) {
      if (r["body"].is_object() && r["body"].value("model", "") == model) out.push_back(r);
    }
    return out;
  }
  double metric(const std::string& series) { return metric_value(http_get(daemon_->port(), "/metrics").body, series); }

  NodePeer upstream_{"tests/peers/openai_upstream.mjs"};
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(Resilience, ServerErrorsAreRetriedThenTheFallbackAnswers) {
  auto r = ask("retrying");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(answer_of(r).find("[echo demo] agent=retrying"), std::string::npos) << r.body;
  EXPECT_EQ(upstream_calls("mock-500").size(), 3u);  // the call and two retries
  auto rows = daemon_->audit_events("backend.call", 1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["detail"]["model"], "failing");
  EXPECT_EQ(rows[0]["detail"]["attempts"], 3);
  auto exchange = daemon_->audit_events("message.exchange", 1);
  ASSERT_EQ(exchange.size(), 1u);
  EXPECT_EQ(exchange[0]["detail"]["model"], "demo") << "the fallback answered";
  EXPECT_EQ(exchange[0]["detail"]["attempt"], 2);
  EXPECT_EQ(metric(R"(hermes_backend_retries_total{model="failing"})"), 2);
}

TEST_F(Resilience, RateLimitedCallsWaitForRetryAfter) {
  auto r = ask("patient");
  ASSERT_EQ(r.status, 200) << r.body;
  auto calls = upstream_calls("mock-429");
  ASSERT_EQ(calls.size(), 2u);
  // The backoff alone would be ~50 ms; the upstream said Retry-After: 1.
  EXPECT_GE(calls[1]["received_at"].get<std::int64_t>() - calls[0]["received_at"].get<std::int64_t>(), 950);
}

TEST_F(Resilience, TheBreakerOpensShedsProbesAndRecovers) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(ask("guarded").status, 200);  // three 500s, each answered by the fallback
  EXPECT_EQ(upstream_calls("mock-flip").size(), 3u);
  EXPECT_EQ(metric(R"(hermes_backend_breaker_state{model="flip"})"), 2);  // open
  auto shed = ask("guarded");
  ASSERT_EQ(shed.status, 200);
  EXPECT_NE(answer_of(shed).find("[echo demo]"), std::string::npos);
  EXPECT_EQ(upstream_calls("mock-flip").size(), 3u) << "an open breaker does not call the upstream";
  EXPECT_EQ(metric(R"(hermes_backend_shed_total{model="flip",reason="circuit_open"})"), 1);
  auto status = json::parse(http_get(daemon_->port(), "/status").body);
  EXPECT_FALSE(status["backends"]["flip"]["healthy"].get<bool>()) << status.dump();

  ASSERT_EQ(http_request(upstream_.port(), "PUT", "/_flip", {{"Content-Type", "application/json"}}, R"({"down":false})")
                .status,
            200);
  std::this_thread::sleep_for(1100ms);  // the cooldown passes: the next call is the probe
  auto probe = ask("guarded");
  ASSERT_EQ(probe.status, 200);
  EXPECT_EQ(answer_of(probe), "mock:hello");
  EXPECT_EQ(metric(R"(hermes_backend_breaker_state{model="flip"})"), 0);  // closed again
}

TEST_F(Resilience, TheConcurrencyCapWaitsBrieflyThenFallsBack) {
  HttpResult first, second;
  std::thread a([&] { first = ask("capped", "first"); });
  std::this_thread::sleep_for(50ms);
  std::thread b([&] { second = ask("capped", "second"); });
  a.join();
  b.join();
  EXPECT_EQ(answer_of(first), "mock:first");
  EXPECT_NE(answer_of(second).find("[echo demo] agent=capped"), std::string::npos) << second.body;
  EXPECT_EQ(metric(R"(hermes_backend_shed_total{model="slow",reason="busy"})"), 1);
  bool saw_busy = false;
  for (const auto& row : daemon_->audit_events("backend.call", 1)) saw_busy |= row["status"] == "busy";
  EXPECT_TRUE(saw_busy);
}

TEST_F(Resilience, ATimeoutFallsBack) {
  auto r = ask("waiting");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(answer_of(r).find("[echo demo] agent=waiting"), std::string::npos);
  auto rows = daemon_->audit_events("backend.call", 1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["status"], "timeout");
  EXPECT_EQ(rows[0]["detail"]["attempts"], 1) << "a timeout already spent its time: not retried";
}

TEST_F(Resilience, GarbageMidStreamEndsTheStreamWellFormedWithoutFallback) {
  RawConnection c(daemon_->port());
  std::string body =
      json{{"model", "garbling"}, {"stream", true}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}.dump();
  c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body);
  auto raw = c.read_until("data: [DONE]", 5s);
  EXPECT_NE(raw.find("\"content\":\"ok\""), std::string::npos) << raw;  // the part that arrived
  EXPECT_NE(raw.find("\"error\""), std::string::npos) << raw;             // then a clear end
  EXPECT_NE(raw.find("data: [DONE]"), std::string::npos) << raw;
  EXPECT_EQ(raw.find("[echo demo]"), std::string::npos) << "no second answer spliced in";
  auto rows = daemon_->audit_events("backend.call", 1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["status"], "protocol");
  EXPECT_EQ(rows[0]["detail"]["streamed"], true);
  auto exchange = daemon_->audit_events("message.exchange", 1);
  ASSERT_EQ(exchange.size(), 1u);
  EXPECT_EQ(exchange[0]["decision"], "failed");
  EXPECT_FALSE(exchange[0]["answer"].is_null()) << "what reached the client is on record";
}

}  // namespace

// Fault injection (docs/security.md, threat table): an upstream that stalls after its
// head, resets mid-stream, or ends with a 70,000-byte trailer (the review's C1 from the
// client side). Each answer comes from the fallback, whole or streamed, each exchange
// has its audit row, and the gateway stays up.
TEST_F(Resilience, UpstreamFaultsGetTheFallbackAndTheGatewayStaysUp) {
  auto streamed = [this](const std::string& agent) {
    RawConnection c(daemon_->port());
    std::string body =
        json{{"model", agent}, {"stream", true}, {"messages", {{{"role", "user"}, {"content", "again"}}}}}.dump();
    c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    return c.read_until("data: [DONE]", 10s);
  };
  // (A reset or garbage after the first delta is not retried, even for a buffered client:
  // see AResetWithoutAFallbackIsAClearErrorWithItsAuditRow and the streamed case below.)
  const std::vector<std::string> agents = {"stalling", "trailer"};
  for (const auto& agent : agents) {
    auto r = ask(agent, "fault " + agent);
    ASSERT_EQ(r.status, 200) << agent << ": " << r.body;
    EXPECT_NE(answer_of(r).find("[echo demo]"), std::string::npos) << agent << ": " << r.body;
    ASSERT_EQ(http_get(daemon_->port(), "/healthz").status, 200) << agent << "\n" << daemon_->log();
  }
  // Streamed, a fault before the first delta still gets the fallback's answer.
  for (const std::string agent : {"stalling", "trailer"}) {
    auto text = streamed(agent);
    EXPECT_NE(text.find("[echo demo]"), std::string::npos) << agent << ": " << text;
    EXPECT_NE(text.find("data: [DONE]"), std::string::npos) << agent << ": " << text;
  }
  auto exchanges = daemon_->audit_events("message.exchange", agents.size() + 2, 5s);
  EXPECT_EQ(exchanges.size(), agents.size() + 2);
  for (const auto& row : exchanges) EXPECT_EQ(row["status"], "ok") << row.dump();
  // After deltas reached the client nothing is retried: the stream ends with an error event.
  auto broken = streamed("reset");
  EXPECT_NE(broken.find("one "), std::string::npos) << broken;
  EXPECT_NE(broken.find("\"error\""), std::string::npos) << broken;
  EXPECT_EQ(http_get(daemon_->port(), "/healthz").status, 200) << daemon_->log();
}

// Without a fallback, a reset mid-answer is a clear error to the client and an audit
// row that says so, never a hang or a half answer passed off as whole.
TEST_F(Resilience, AResetWithoutAFallbackIsAClearErrorWithItsAuditRow) {
  auto r = ask("reset-alone");
  EXPECT_EQ(r.status, 502) << r.body;
  auto j = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object() && j.contains("error")) << r.body;
  auto exchange = daemon_->audit_events("message.exchange", 1);
  ASSERT_EQ(exchange.size(), 1u);
  EXPECT_NE(exchange[0]["status"], "ok") << exchange[0].dump();
  EXPECT_EQ(http_get(daemon_->port(), "/healthz").status, 200);
}

}  // namespace hermes::test
