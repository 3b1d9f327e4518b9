// The webhook agent backend through a real hermesd: the agent gets the normalized
// message and history, signed so it can check where it came from, and answers in
// JSON or as an event stream; the client's credentials never reach it.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "node_peer.hpp"

namespace hermes::test {
namespace {

using nlohmann::json;
constexpr const char* kWebhookAgentSecret = "agent-shared-secret";

std::string webhook_agent_config(std::uint16_t agent) {
  return R"(
gateway: {instance: it-agent, data_dir: "${DATA}", threads: 2}
listeners:
  - {name: local, bind: loopback, port: ${PORT0}}
channels:
  - name: api
    type: api
    listener: local
    keys: [{name: client-app, key: "${env:IT_CLIENT_KEY}"}]
models:
  - {name: demo, type: echo}
  - {name: helpdesk, type: webhook, url: "http://127.0.0.1:)" + std::to_string(agent) +
         R"(/answer", secret: "${env:IT_AGENT_SECRET}", retries: {attempts: 0}}
agents:
  - {name: support, model: helpdesk, fallback: [demo], system_prompt: "Be kind."}
routes:
  - {name: default, agent: support}
)";
}

class WebhookAgent : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(agent_.start()) << agent_.error();
    daemon_ = std::make_unique<Daemon>(webhook_agent_config(agent_.port()),
                                       std::map<std::string, std::string>{{"IT_AGENT_SECRET", kWebhookAgentSecret},
                                                                          {"IT_CLIENT_KEY", "client-secret-key"}});
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
  }
  HttpResult ask(const std::string& text, bool stream = false) {
    json body = {{"stream", stream}, {"user", "dana"}, {"messages", {{{"role", "user"}, {"content", text}}}}};
    return http_request(daemon_->port(), "POST", "/v1/chat/completions",
                        {{"Content-Type", "application/json"}, {"Authorization", "Bearer client-secret-key"}},
                        body.dump());
  }
  json received() { return json::parse(http_get(agent_.port(), "/_requests").body); }

  NodePeer agent_{"tests/peers/webhook_agent.mjs", {"--port", "0", "--secret", kWebhookAgentSecret}};
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(WebhookAgent, GetsTheSignedNormalizedMessageAndAnswersInJson) {
  auto r = ask("my printer is on fire");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["choices"][0]["message"]["content"], "agent saw: my printer is on fire (1 earlier turns)");
  auto got = received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0]["signature_ok"].get<bool>()) << "the agent can verify the body came from the gateway";
  const auto& body = got[0]["body"];
  EXPECT_EQ(body["agent"], "support");
  EXPECT_EQ(body["message"]["channel"], "api");
  EXPECT_EQ(body["message"]["sender"], "client-app");
  EXPECT_EQ(body["message"]["text"], "my printer is on fire");
  EXPECT_FALSE(body["message"]["session_id"].get<std::string>().empty());
  EXPECT_EQ(body["messages"][0]["role"], "system");
  EXPECT_FALSE(body["request_id"].get<std::string>().empty());
  EXPECT_EQ(got[0]["headers"]["x-request-id"], body["request_id"]);
  // The client's credentials stay with the gateway.
  EXPECT_FALSE(got[0]["headers"].contains("authorization"));
  EXPECT_EQ(got[0].dump().find("client-secret-key"), std::string::npos);
  auto rows = daemon_->audit_events("message.exchange", 1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["tokens_in"], 7);
  EXPECT_EQ(rows[0]["tokens_out"], 9);
}

TEST_F(WebhookAgent, AnEventStreamIsPassedOnAsItArrives) {
  auto r = ask("please stream", false);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["choices"][0]["message"]["content"], "streamed by the agent");
  EXPECT_EQ(json::parse(r.body)["usage"]["completion_tokens"], 5);
}

TEST_F(WebhookAgent, AFailingAgentFallsBack) {
  auto r = ask("fail please");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(json::parse(r.body)["choices"][0]["message"]["content"].get<std::string>().find("[echo demo]"),
            std::string::npos);
  auto rows = daemon_->audit_events("backend.call", 1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["status"], "http_status");
  EXPECT_EQ(rows[0]["detail"]["upstream_status"], 500);
}

}  // namespace
}  // namespace hermes::test
