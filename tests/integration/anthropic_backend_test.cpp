// The anthropic backend through a real hermesd and the API channel, against the
// Anthropic stand-in (tests/peers/anthropic_upstream.mjs, whose wire format the official
// SDK accepts: tests/e2e/anthropic_wire.test.mjs).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "node_peer.hpp"

namespace hermes::test {
namespace {

using nlohmann::json;
constexpr const char* kKey = "anthropic-upstream-key";

std::string anthropic_backend_config(std::uint16_t upstream) {
  std::string base = "http://127.0.0.1:" + std::to_string(upstream);
  return R"(
gateway: {instance: it-anthropic, data_dir: "${DATA}", threads: 2}
listeners:
  - {name: local, bind: loopback, port: ${PORT0}}
channels:
  - {name: api, type: api, listener: local}
models:
  - {name: demo, type: echo}
  - {name: claude, type: anthropic, base_url: ")" + base + R"(", model: claude-echo, api_key: "${env:IT_ANTHROPIC_KEY}"}
  - {name: flaky-claude, type: anthropic, base_url: ")" + base + R"(", model: claude-midstream,
     api_key: "${env:IT_ANTHROPIC_KEY}"}
  - {name: busy-claude, type: anthropic, base_url: ")" + base + R"(", model: claude-529,
     api_key: "${env:IT_ANTHROPIC_KEY}", retries: {attempts: 1, backoff: 20ms}}
agents:
  - {name: assistant, model: claude, system_prompt: "You are terse.", max_tokens: 77}
  - {name: interrupted, model: flaky-claude, fallback: [demo]}
  - {name: overloaded, model: busy-claude, fallback: [demo]}
routes:
  - {name: default, agent: assistant}
)";
}

class AnthropicBackend : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(upstream_.start()) << upstream_.error();
    daemon_ = std::make_unique<Daemon>(anthropic_backend_config(upstream_.port()),
                                       std::map<std::string, std::string>{{"IT_ANTHROPIC_KEY", kKey}});
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
  }
  HttpResult ask(const std::string& agent, bool stream, const std::string& text = "hello") {
    json body = {{"model", agent}, {"stream", stream}, {"messages", {{{"role", "user"}, {"content", text}}}}};
    return http_request(daemon_->port(), "POST", "/v1/chat/completions", {{"Content-Type", "application/json"}},
                        body.dump());
  }
  // A streamed answer read off the socket until its final [DONE] (chunk framing left in).
  std::string ask_streamed(const std::string& agent, const std::string& text = "hello") {
    RawConnection c(daemon_->port());
    std::string body =
        json{{"model", agent}, {"stream", true}, {"messages", {{{"role", "user"}, {"content", text}}}}}.dump();
    c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body);
    return c.read_until("data: [DONE]", 10s);
  }
  json upstream_requests() { return json::parse(http_get(upstream_.port(), "/_requests").body); }

  NodePeer upstream_{"tests/peers/anthropic_upstream.mjs", {"--port", "0", "--key", kKey}};
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(AnthropicBackend, AnswersThroughTheMessagesApiWithUsage) {
  auto r = ask("assistant", false);
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["choices"][0]["message"]["content"], "echo:hello");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  auto sent = upstream_requests().back();
  EXPECT_EQ(sent["headers"]["x-api-key"], kKey);
  EXPECT_EQ(sent["headers"]["anthropic-version"], "2023-06-01");
  EXPECT_EQ(sent["body"]["system"], "You are terse.");  // top-level, not a message
  EXPECT_EQ(sent["body"]["max_tokens"], 77);
  EXPECT_EQ(sent["body"]["messages"][0]["role"], "user");
  EXPECT_EQ(sent["body"]["stream"], true);
  auto rows = daemon_->audit_events("message.exchange", 1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["status"], "ok");
  EXPECT_GT(rows[0]["tokens_in"].get<int>(), 0);
  EXPECT_GT(rows[0]["tokens_out"].get<int>(), 0);
}

TEST_F(AnthropicBackend, StreamsDeltasInOpenAiFormat) {
  auto raw = ask_streamed("assistant", "stream me");
  ASSERT_NE(raw.find("200 OK"), std::string::npos) << raw;
  std::string text;
  for (std::size_t at = raw.find("data: {"); at != std::string::npos; at = raw.find("data: {", at + 1)) {
    auto chunk = json::parse(raw.substr(at + 6, raw.find('\n', at) - at - 6));
    if (!chunk["choices"].empty() && chunk["choices"][0]["delta"].contains("content")) {
      text += chunk["choices"][0]["delta"]["content"].get<std::string>();
    }
  }
  EXPECT_EQ(text, "echo:stream me");
  EXPECT_NE(raw.find("data: [DONE]"), std::string::npos);
}

TEST_F(AnthropicBackend, AnErrorEventMidStreamEndsTheStreamWellFormed) {
  auto raw = ask_streamed("interrupted");
  ASSERT_NE(raw.find("200 OK"), std::string::npos) << raw;  // the answer had begun
  EXPECT_NE(raw.find("\"error\""), std::string::npos) << raw;
  EXPECT_NE(raw.find("data: [DONE]"), std::string::npos) << raw;
  EXPECT_EQ(raw.find("[echo demo]"), std::string::npos) << "no fallback after the first token";
  auto rows = daemon_->audit_events("backend.call", 1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["status"], "protocol");
  EXPECT_EQ(rows[0]["detail"]["streamed"], true);
  EXPECT_NE(rows[0]["detail"]["error"].get<std::string>().find("overloaded_error"), std::string::npos);
}

TEST_F(AnthropicBackend, OverloadedIsRetriedThenTheFallbackAnswers) {
  auto r = ask("overloaded", false);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(json::parse(r.body)["choices"][0]["message"]["content"].get<std::string>().find("[echo demo]"),
            std::string::npos);
  int calls = 0;
  for (const auto& req : upstream_requests()) calls += req["body"]["model"] == "claude-529";
  EXPECT_EQ(calls, 2);  // 529 is a 5xx: one retry
}

}  // namespace
}  // namespace hermes::test
