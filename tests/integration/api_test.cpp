// The OpenAI-compatible API through the whole pipeline, against the real
// hermesd and a stand-in upstream speaking OpenAI's wire format.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <thread>

#include "harness.hpp"
#include "node_peer.hpp"

namespace hermes::test {
namespace {

using nlohmann::json;

std::string api_config(std::uint16_t upstream_port, const std::string& extra_limits = "") {
  return R"(
gateway: {instance: it-api, data_dir: "${DATA}", threads: 2, request_timeout: 5s}
listeners:
  - {name: local, bind: loopback, port: ${PORT0}}
channels:
  - name: api
    type: api
    listener: local
    keys:
      - {name: ci-bot, key: "${env:IT_KEY_CI}", agents: [general, billing, upstream, flaky, slow, long, down]}
      - {name: narrow, key: "${env:IT_KEY_NARROW}", agents: [general]}
models:
  - {name: demo, type: echo}
  - {name: mock, type: openai, base_url: "http://127.0.0.1:)" + std::to_string(upstream_port) +
         R"(/v1", model: mock-echo, api_key: "${env:IT_UPSTREAM_KEY}", first_byte_timeout: 2s}
  - {name: mock-slow, type: openai, base_url: "http://127.0.0.1:)" + std::to_string(upstream_port) +
         R"(/v1", model: mock-slow}
  - {name: mock-long, type: openai, base_url: "http://127.0.0.1:)" + std::to_string(upstream_port) +
         R"(/v1", model: mock-long}
  - {name: broken, type: openai, base_url: "http://127.0.0.1:)" + std::to_string(upstream_port) +
         R"(/v1", model: mock-500}
agents:
  - {name: general, model: demo}
  - {name: billing, model: demo, system_prompt: "You answer billing questions."}
  - {name: upstream, model: mock}
  - {name: slow, model: mock-slow}
  - {name: long, model: mock-long}
  - {name: flaky, model: broken, fallback: [demo]}
  - {name: down, model: broken}
routes:
  - {name: billing-questions, match: {text_any: [invoice, refund]}, agent: billing}
  - {name: blocked, match: {text_regex: "(?i)password"}, reject: {message: "Never send passwords here."}}
  - {name: default, agent: general}
limits:
  - {name: per-key, key: api_key, rate: 600/min, burst: 100}
)" + extra_limits;
}

std::map<std::string, std::string> keys() {
  return {{"IT_KEY_CI", "ci-secret-key"}, {"IT_KEY_NARROW", "narrow-secret-key"},
          {"IT_UPSTREAM_KEY", "upstream-secret-key"}};
}

HttpResult chat(std::uint16_t port, const json& body, const std::string& key = "ci-secret-key",
                std::map<std::string, std::string> headers = {}) {
  headers["Authorization"] = "Bearer " + key;
  headers["Content-Type"] = "application/json";
  return http_request(port, "POST", "/v1/chat/completions", headers, body.dump());
}

json user(const std::string& text, const std::string& model = "auto") {
  return {{"model", model}, {"messages", {{{"role", "user"}, {"content", text}}}}};
}

class Api : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(upstream_.start()) << "node stand-in did not start: " << upstream_.error();
    daemon_ = std::make_unique<Daemon>(api_config(upstream_.port()), keys());
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
  }
  std::uint16_t port() const { return daemon_->port(0); }
  json upstream_requests() { return json::parse(http_get(upstream_.port(), "/_requests").body); }

  NodePeer upstream_{"tests/peers/openai_upstream.mjs"};
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(Api, RoutesByRuleAndAnswersInOpenAiFormat) {
  auto r = chat(port(), user("where is my invoice?"), "ci-secret-key", {{"X-Request-Id", "it-req-1"}});
  ASSERT_EQ(r.status, 200) << r.raw;
  auto body = json::parse(r.body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["model"], "billing");
  EXPECT_EQ(body["id"], "chatcmpl-it-req-1");
  EXPECT_EQ(r.headers["x-request-id"], "it-req-1");
  auto content = body["choices"][0]["message"]["content"].get<std::string>();
  EXPECT_NE(content.find("agent=billing"), std::string::npos) << content;
  EXPECT_NE(content.find("rule=billing-questions"), std::string::npos) << content;
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  EXPECT_GT(body["usage"]["total_tokens"].get<int>(), 0);

  auto other = json::parse(chat(port(), user("hello there")).body);
  EXPECT_EQ(other["model"], "general");
}

TEST_F(Api, EveryDecisionIsAudited) {
  ASSERT_EQ(chat(port(), user("where is my invoice?"), "ci-secret-key", {{"X-Request-Id", "it-audit-1"}}).status,
            200);
  // One row per message: who asked what, the route, the agent and the answer.
  auto rows = daemon_->audit_events("message.exchange");
  ASSERT_EQ(rows.size(), 1u);
  auto row = rows[0];
  EXPECT_EQ(row["request_id"], "it-audit-1");
  EXPECT_EQ(row["channel"], "api");
  EXPECT_EQ(row["sender"], "ci-bot");
  EXPECT_EQ(row["agent"], "billing");
  EXPECT_EQ(row["rule"], "billing-questions");
  EXPECT_EQ(row["decision"], "answered");
  EXPECT_EQ(row["status"], "ok");
  EXPECT_GT(row["tokens_out"].get<int>(), 0);
  EXPECT_GE(row["latency_ms"].get<int>(), 0);
  EXPECT_EQ(row["detail"]["channel_type"], "api");
  EXPECT_EQ(row["detail"]["client"], "127.0.0.1");
  EXPECT_EQ(row["detail"]["api_key"], "ci-bot");
  EXPECT_EQ(row["detail"]["attempt"], 1);
  EXPECT_TRUE(row["detail"].contains("model")) << row.dump();
  EXPECT_TRUE(row["detail"].contains("backend_ms")) << row.dump();
  // store_text defaults to hash: neither the question nor the answer is at rest.
  EXPECT_EQ(row["text"].get<std::string>().rfind("sha256:", 0), 0u) << row.dump();
  EXPECT_EQ(row["answer"].get<std::string>().rfind("sha256:", 0), 0u) << row.dump();
  EXPECT_NE(row["text"], row["answer"]);
  for (const char* kind : {"message.inbound", "route.decision", "backend.call", "message.outbound"}) {
    EXPECT_TRUE(daemon_->audit_events(kind, 0, 0ms).empty()) << kind << ": the answered message has one row";
  }
}

TEST_F(Api, ModelSemantics) {
  auto direct = chat(port(), user("where is my invoice?", "general"));
  ASSERT_EQ(direct.status, 200);
  EXPECT_EQ(json::parse(direct.body)["model"], "general") << "a model naming an agent bypasses the rules";
  auto unknown = chat(port(), user("hi", "gpt-nope"));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(json::parse(unknown.body)["error"]["code"], "model_not_found");
}

TEST_F(Api, KeysAndScopes) {
  EXPECT_EQ(chat(port(), user("hi"), "wrong-key").status, 401);
  auto wrong = chat(port(), user("hi"), "wrong-key");
  EXPECT_EQ(json::parse(wrong.body)["error"]["code"], "invalid_api_key");
  EXPECT_EQ(json::parse(wrong.body)["error"]["message"], "Incorrect API key provided.");
  EXPECT_EQ(wrong.headers["www-authenticate"], "Bearer error=\"invalid_token\"");
  EXPECT_EQ(daemon_->audit_events("auth.reject", 2).size(), 2u);
  // A missing key is not called wrong: the client is told how to send one.
  auto missing = http_request(port(), "POST", "/v1/chat/completions", {{"Content-Type", "application/json"}},
                              user("hi").dump());
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(missing.headers["www-authenticate"], "Bearer");
  EXPECT_EQ(json::parse(missing.body)["error"]["message"],
            "No API key provided: send it as 'Authorization: Bearer <key>'.");
  auto basic = http_request(port(), "POST", "/v1/chat/completions",
                            {{"Content-Type", "application/json"}, {"Authorization", "Basic dXNlcjpwYXNz"}},
                            user("hi").dump());
  EXPECT_EQ(json::parse(basic.body)["error"]["message"], "The Authorization header must be 'Bearer <key>'.");
  auto denied = chat(port(), user("my invoice"), "narrow-secret-key");
  EXPECT_EQ(denied.status, 403) << "the narrow key may not use the billing agent";
  EXPECT_EQ(chat(port(), user("hello"), "narrow-secret-key").status, 200);
  auto models = http_get(port(), "/v1/models", {{"Authorization", "Bearer narrow-secret-key"}});
  auto ids = json::parse(models.body)["data"];
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0]["id"], "general");
}

TEST_F(Api, RejectRuleAndBadRequests) {
  auto r = chat(port(), user("my Password is hunter2"));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(json::parse(r.body)["error"]["message"], "Never send passwords here.");
  EXPECT_EQ(chat(port(), json{{"messages", "nope"}}).status, 400);
  auto garbage = http_request(port(), "POST", "/v1/chat/completions",
                              {{"Authorization", "Bearer ci-secret-key"}, {"Content-Type", "application/json"}},
                              "{not json");
  EXPECT_EQ(garbage.status, 400);
}

// A browser sends these cross-site without a CORS preflight; the API must not answer them.
TEST_F(Api, OnlyJsonBodiesAreTakenSoAWebPageCannotPostWithoutAPreflight) {
  std::string body = user("injected by a web page").dump();
  for (std::string type : {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                           "", "application/jsonx"}) {
    std::map<std::string, std::string> headers{{"Authorization", "Bearer ci-secret-key"}};
    if (!type.empty()) headers["Content-Type"] = type;
    auto r = http_request(port(), "POST", "/v1/chat/completions", headers, body);
    EXPECT_EQ(r.status, 415) << type << ": " << r.raw;
    EXPECT_EQ(json::parse(r.body)["error"]["code"], "unsupported_media_type");
  }
  for (std::string type : {"application/json", "Application/JSON; charset=utf-8", "application/json;charset=UTF-8"}) {
    auto r = http_request(port(), "POST", "/v1/chat/completions",
                          {{"Authorization", "Bearer ci-secret-key"}, {"Content-Type", type}}, body);
    EXPECT_EQ(r.status, 200) << type << ": " << r.raw;
  }
  auto refused = daemon_->audit_events("message.rejected", 5);
  ASSERT_EQ(refused.size(), 5u);
  for (const auto& row : refused) EXPECT_EQ(row["status"], "unsupported_media_type");
  EXPECT_EQ(daemon_->audit_events("message.exchange", 3).size(), 3u) << "none of the refused reached a model";
}

TEST_F(Api, UpstreamGetsTheModelsKeyNeverTheClientsAndTheRequestId) {
  auto r = chat(port(), user("ping", "upstream"), "ci-secret-key", {{"X-Request-Id", "it-up-1"},
                                                                      {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(json::parse(r.body)["choices"][0]["message"]["content"], "mock:ping");
  auto reqs = upstream_requests();
  ASSERT_EQ(reqs.size(), 1u);
  auto headers = reqs[0]["headers"];
  EXPECT_EQ(headers["authorization"], "Bearer upstream-secret-key");
  EXPECT_EQ(headers["x-request-id"], "it-up-1");
  EXPECT_EQ(headers["traceparent"], "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  EXPECT_EQ(reqs[0]["body"]["model"], "mock-echo");
  EXPECT_EQ(daemon_->log().find("ci-secret-key"), std::string::npos) << "no secret in logs";
  EXPECT_EQ(daemon_->log().find("upstream-secret-key"), std::string::npos) << "no secret in logs";
}

TEST_F(Api, StreamsChunksAsTheyArriveAndEndsWithDone) {
  RawConnection c(port());
  std::string body = json{{"model", "slow"}, {"stream", true}, {"stream_options", {{"include_usage", true}}},
                          {"messages", {{{"role", "user"}, {"content", "tick tock tick tock"}}}}}
                         .dump();
  auto started = std::chrono::steady_clock::now();
  c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ci-secret-key\r\nContent-Type: application/json\r\n"
         "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  auto head = c.read_until("\r\n\r\n", 5s);
  EXPECT_NE(head.find("200 OK"), std::string::npos) << head;
  EXPECT_NE(head.find("text/event-stream"), std::string::npos) << head;
  auto first_content = c.read_until("\"content\":\"mock", 5s);
  auto first_at = std::chrono::steady_clock::now() - started;
  auto rest = c.read_until("data: [DONE]", 10s);
  auto done_at = std::chrono::steady_clock::now() - started;
  ASSERT_NE(rest.find("[DONE]"), std::string::npos) << first_content << rest;
  EXPECT_LT(first_at + 150ms, done_at) << "the first chunk must arrive before the stream ends (no buffering)";
  EXPECT_NE(rest.find("\"usage\""), std::string::npos);
  EXPECT_NE(rest.find("\"finish_reason\":\"stop\""), std::string::npos);
}

TEST_F(Api, FallbackAnswersWhenThePrimaryFails) {
  auto r = chat(port(), user("hello", "flaky"));
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_NE(json::parse(r.body)["choices"][0]["message"]["content"].get<std::string>().find("[echo demo]"),
            std::string::npos);
  // The failed call has its own row; the fallback that answered is on the message's row.
  auto exchange = daemon_->audit_events("message.exchange", 1);
  ASSERT_EQ(exchange.size(), 1u);
  EXPECT_EQ(exchange[0]["decision"], "answered");
  EXPECT_EQ(exchange[0]["detail"]["attempt"], 2);
  auto calls = daemon_->audit_events("backend.call", 1);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0]["status"], "http_status");
  EXPECT_EQ(calls[0]["detail"]["upstream_status"], 500);
  EXPECT_EQ(calls[0]["detail"]["attempt"], 1);
  EXPECT_EQ(calls[0]["request_id"], exchange[0]["request_id"]);
}

TEST_F(Api, AStreamWhoseBackendFailsBeforeAnswering502sInsteadOfAnEmpty200) {
  auto r = chat(port(), json{{"model", "down"}, {"stream", true},
                             {"messages", {{{"role", "user"}, {"content", "hi"}}}}});
  EXPECT_EQ(r.status, 502) << r.raw;
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "backend_error");
  EXPECT_EQ(chat(port(), json{{"stream", "yes"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}).status, 400);
  auto rejected = daemon_->audit_events("message.rejected");
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0]["status"], "bad_request");
}

TEST_F(Api, AClientThatDisconnectsCancelsTheUpstreamCall) {
  {
    RawConnection c(port());
    std::string body = json{{"model", "long"}, {"stream", true},
                            {"messages", {{{"role", "user"}, {"content", "go"}}}}}
                           .dump();
    c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ci-secret-key\r\nContent-Type: application/json\r\n"
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    auto seen = c.read_until("tok1 ", 5s);
    ASSERT_NE(seen.find("tok1 "), std::string::npos) << seen;
  }  // the client goes away mid-stream
  bool aborted = false;
  for (int i = 0; i < 50 && !aborted; ++i) {
    std::this_thread::sleep_for(100ms);
    auto reqs = upstream_requests();
    aborted = !reqs.empty() && reqs.back().value("client_disconnected", false);
  }
  EXPECT_TRUE(aborted) << upstream_requests().dump();
  auto exchange = daemon_->audit_events("message.exchange", 1);
  ASSERT_EQ(exchange.size(), 1u) << "an abandoned message is still accounted for";
  EXPECT_EQ(exchange[0]["decision"], "failed");
  EXPECT_EQ(exchange[0]["status"], "cancelled");
}

TEST_F(Api, AClientThatLeavesBeforeAWholeAnswerCancelsTheUpstreamCall) {
  {
    RawConnection c(port());
    std::string body = user("take your time", "slow").dump();
    c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ci-secret-key\r\nContent-Type: application/json\r\n"
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    for (int i = 0; i < 50 && upstream_requests().empty(); ++i) std::this_thread::sleep_for(10ms);
    ASSERT_FALSE(upstream_requests().empty());
  }  // gone before the upstream answers (it waits 400 ms)
  auto exchange = daemon_->audit_events("message.exchange", 1);
  ASSERT_EQ(exchange.size(), 1u);
  EXPECT_EQ(exchange[0]["status"], "cancelled");
  EXPECT_EQ(exchange[0]["detail"]["model"], "mock-slow") << exchange[0].dump();
  EXPECT_EQ(exchange[0]["detail"]["attempt"], 1) << "the abandoned call is summed up on the message's row";
  EXPECT_TRUE(exchange[0]["detail"].contains("backend_ms"));
  EXPECT_TRUE(daemon_->audit_events("backend.call", 0, 0ms).empty()) << "the client left: no model failed";
  EXPECT_TRUE(upstream_requests().back().value("client_disconnected", false)) << upstream_requests().dump();
  auto metrics = http_get(port(), "/metrics").body;
  EXPECT_EQ(metric_value(metrics, R"(hermes_http_requests_total{listener="local",route="/v1/chat/completions",code="499"})"),
            1)
      << metrics;
}

TEST_F(Api, PipelinedRequestsAreNotMistakenForADisconnect) {
  RawConnection c(port());
  std::string body = user("one", "slow").dump();
  std::string request = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ci-secret-key\r\nContent-Type: application/json\r\n"
                        "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_TRUE(c.send(request));
  for (int i = 0; i < 50 && upstream_requests().empty(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(upstream_requests().size(), 1u);
  ASSERT_TRUE(c.send(request));  // arrives while the first waits for its upstream (400 ms)
  auto first = c.read_response(5s);
  auto second = c.read_response(5s);
  EXPECT_EQ(first.status, 200) << first.raw;
  EXPECT_EQ(second.status, 200) << second.raw;
  auto exchanges = daemon_->audit_events("message.exchange", 2);
  ASSERT_EQ(exchanges.size(), 2u);
  for (const auto& row : exchanges) EXPECT_EQ(row["status"], "ok");
}

TEST(ApiShutdown, AMessageStillRunningAtTheDrainDeadlineIsAudited) {
  NodePeer upstream("tests/peers/openai_upstream.mjs");
  ASSERT_TRUE(upstream.start()) << upstream.error();
  Daemon d(R"(
gateway: {instance: it-api, data_dir: "${DATA}", threads: 2, drain_timeout: 300ms}
listeners:
  - {name: local, bind: loopback, port: ${PORT0}}
channels:
  - {name: api, type: api, listener: local, keys: [{name: ci-bot, key: "${env:IT_KEY_CI}"}]}
)" + hanging_agent_yaml(upstream.port()), keys());
  ASSERT_TRUE(d.start()) << d.log();
  RawConnection c(d.port());
  std::string body = user("are you there?").dump();  // the upstream never answers
  c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ci-secret-key\r\nContent-Type: application/json\r\n"
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  for (int i = 0; i < 100 && json::parse(http_get(upstream.port(), "/_requests").body).empty(); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  d.signal(SIGTERM);
  ASSERT_EQ(d.wait_exit(5s), 0) << d.log();
  EXPECT_NE(d.log().find("drain deadline reached"), std::string::npos) << d.log();
  auto exchange = d.audit_events("message.exchange", 1, 0ms);
  ASSERT_EQ(exchange.size(), 1u) << "the message cut by the deadline keeps its row";
  EXPECT_EQ(exchange[0]["status"], "cancelled");
  EXPECT_EQ(exchange[0]["agent"], "stuck");
  EXPECT_TRUE(c.closed_by_peer(1s));
}

TEST(ApiSessions, ARestartKeepsServerSideHistory) {
  NodePeer upstream("tests/peers/openai_upstream.mjs");
  ASSERT_TRUE(upstream.start()) << upstream.error();
  std::string cfg = api_config(upstream.port());
  json first = {{"model", "upstream"}, {"user", "alice"}, {"messages", {{{"role", "user"}, {"content", "my name is Ada"}}}}};
  json second = {{"model", "upstream"}, {"user", "alice"}, {"messages", {{{"role", "user"}, {"content", "who am I?"}}}}};
  json stranger = {{"model", "upstream"}, {"user", "bob"}, {"messages", {{{"role", "user"}, {"content", "who am I?"}}}}};
  Daemon d(cfg, keys());
  ASSERT_TRUE(d.start()) << d.log();
  ASSERT_EQ(chat(d.port(), first).status, 200);
  d.signal(SIGTERM);
  ASSERT_EQ(d.wait_exit(), 0);
  ASSERT_TRUE(d.start()) << d.log();  // same data dir
  ASSERT_EQ(chat(d.port(), second).status, 200);
  ASSERT_EQ(chat(d.port(), stranger).status, 200);
  auto reqs = json::parse(http_get(upstream.port(), "/_requests").body);
  ASSERT_EQ(reqs.size(), 3u);
  auto messages = reqs[1]["body"]["messages"];
  ASSERT_EQ(messages.size(), 3u) << messages.dump();
  EXPECT_EQ(messages[0]["content"], "my name is Ada");
  EXPECT_EQ(messages[1]["content"], "mock:my name is Ada");
  EXPECT_EQ(messages[2]["content"], "who am I?");
  EXPECT_EQ(reqs[2]["body"]["messages"].size(), 1u) << "another user's session holds none of it";
}

TEST(ApiLimits, RateLimitedWith429AndHeaders) {
  Daemon d(R"(
gateway: {instance: it-limits, data_dir: "${DATA}", threads: 1}
listeners:
  - {name: local, bind: loopback, port: ${PORT0}}
channels:
  - {name: api, type: api, listener: local}
models:
  - {name: demo, type: echo}
agents:
  - {name: general, model: demo}
routes:
  - {name: default, agent: general}
limits:
  - {name: tight, key: api_key, rate: 2/min, burst: 2}
)");
  ASSERT_TRUE(d.start()) << d.log();
  auto first = chat(d.port(), user("one"), "");
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.headers["x-ratelimit-limit"], "2");
  EXPECT_EQ(first.headers["x-ratelimit-remaining"], "1");
  EXPECT_EQ(chat(d.port(), user("two"), "").status, 200);
  auto third = chat(d.port(), user("three"), "");
  ASSERT_EQ(third.status, 429) << third.raw;
  EXPECT_EQ(json::parse(third.body)["error"]["code"], "rate_limit_exceeded");
  EXPECT_GE(std::stoi(third.headers["retry-after"]), 29);
  EXPECT_EQ(third.headers["x-ratelimit-remaining"], "0");
  EXPECT_FALSE(third.headers["x-ratelimit-reset"].empty());
  auto rows = d.audit_events("ratelimit.reject");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["detail"]["limit"], "tight");
}

// Floods of refusals that cost the client nothing (a busy gateway, a wrong key) must not
// fill the audit queue: their rows are rate-limited (20 at once, then 1 per second per
// channel) and every refusal is either a row or counted in the next row.
TEST(ApiOverload, RefusalFloodsLeaveBoundedRowsThatCountEveryRefusal) {
  NodePeer upstream("tests/peers/openai_upstream.mjs");
  ASSERT_TRUE(upstream.start()) << upstream.error();
  Daemon d(R"(
gateway: {instance: it-flood, data_dir: "${DATA}", threads: 1, max_in_flight: 1, request_timeout: 30s}
listeners:
  - {name: local, bind: loopback, port: ${PORT0}}
channels:
  - name: api
    type: api
    listener: local
    keys: [{name: ci-bot, key: "${env:IT_KEY_CI}"}]
models:
  - {name: hang, type: openai, base_url: "http://127.0.0.1:)" + std::to_string(upstream.port()) +
               R"(/v1", model: mock-hang, first_byte_timeout: 30s, timeout: 30s}
agents:
  - {name: general, model: hang}
routes:
  - {name: default, agent: general}
)",
           keys());
  ASSERT_TRUE(d.start()) << d.log();

  // One request holds the only in-flight slot: the upstream never answers.
  RawConnection holder(d.port());
  std::string body = user("hold").dump();
  holder.send("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ci-secret-key\r\nContent-Type: application/json\r\n"
              "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  for (int i = 0; i < 100 && metric_value(http_get(d.port(), "/metrics").body, "hermes_pipeline_in_flight") != 1; ++i) {
    std::this_thread::sleep_for(20ms);
  }

  constexpr int kFlood = 60;
  const auto flood_started = std::chrono::steady_clock::now();
  for (int i = 0; i < kFlood; ++i) {
    ASSERT_EQ(chat(d.port(), user("busy?")).status, 503);
    ASSERT_EQ(chat(d.port(), user("me?"), "wrong-key").status, 401);
  }
  std::this_thread::sleep_for(1100ms);  // a token back: the next refusal of each kind is a row
  ASSERT_EQ(chat(d.port(), user("busy?")).status, 503);
  ASSERT_EQ(chat(d.port(), user("me?"), "wrong-key").status, 401);
  const auto flood_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - flood_started).count();

  auto metrics = http_get(d.port(), "/metrics").body;
  EXPECT_EQ(metric_value(metrics, R"(hermes_api_requests_total{channel="api",outcome="overloaded",stream="false"})"),
            kFlood + 1);
  EXPECT_EQ(metric_value(metrics, R"(hermes_api_requests_total{channel="api",outcome="unauthorized",stream="false"})"),
            kFlood + 1);
  for (const std::string kind : {"message.rejected", "auth.reject"}) {
    // Rows commit a few ms after the refusals: wait until they account for all of them.
    std::vector<json> rows;
    std::uint64_t counted = 0;
    for (int attempt = 0; attempt < 50 && counted < kFlood + 1u; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(100ms);
      rows = d.audit_events(kind, 21);
      counted = 0;
      for (const auto& row : rows) counted += 1 + row["detail"]["suppressed_since_last"].get<std::uint64_t>();
    }
    EXPECT_EQ(counted, kFlood + 1u) << kind << ": every refusal is a row or counted in the next one";
    // 20 at once, then at most one per second of the flood (and one for rounding).
    EXPECT_LE(rows.size(), 21u + static_cast<std::size_t>(flood_seconds)) << kind << ": not a row per refusal";
    EXPECT_GT(rows.back()["detail"]["suppressed_since_last"].get<std::uint64_t>(), 0u) << kind;
  }
}

TEST(ApiConfig, NonLoopbackListenerWithoutKeysRefusesToStart) {
  Daemon d(R"(
gateway: {instance: it-nokeys, data_dir: "${DATA}"}
listeners:
  - {name: lan, bind: lan, port: ${PORT0}}
channels:
  - {name: api, type: api, listener: lan}
models:
  - {name: demo, type: echo}
agents:
  - {name: general, model: demo}
routes:
  - {name: default, agent: general}
)");
  EXPECT_FALSE(d.start(5s));
  EXPECT_EQ(d.wait_exit(), 1);
  EXPECT_NE(d.log().find("channels[0].keys: an api channel on a non-loopback listener needs keys"), std::string::npos)
      << d.log();
}

}  // namespace
}  // namespace hermes::test

namespace hermes::test {
namespace {

// A client that takes the answer whole costs the upstream (and the gateway) one JSON
// document instead of an event stream; a streaming client still streams end to end.
TEST_F(Api, TheUpstreamStreamsOnlyWhenTheClientDoes) {
  auto whole = chat(port(), user("whole please", "upstream"));
  ASSERT_EQ(whole.status, 200) << whole.body;
  EXPECT_EQ(json::parse(whole.body)["choices"][0]["message"]["content"], "mock:whole please");
  auto sent = upstream_requests().back();
  EXPECT_EQ(sent["body"]["stream"], false);
  EXPECT_FALSE(sent["body"].contains("stream_options"));
  EXPECT_EQ(sent["headers"]["accept"], "application/json");

  json streamed = user("stream please", "upstream");
  streamed["stream"] = true;
  auto r = chat(port(), streamed);
  ASSERT_EQ(r.status, 200);
  sent = upstream_requests().back();
  EXPECT_EQ(sent["body"]["stream"], true);
  EXPECT_EQ(sent["body"]["stream_options"]["include_usage"], true);
}

}  // namespace
}  // namespace hermes::test
