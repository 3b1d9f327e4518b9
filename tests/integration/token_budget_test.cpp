// Token budgets (`limits: [{tokens: N/min}]`) through a real hermesd: debited by the
// usage backends report, refusing with 429 and Retry-After once exhausted.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "node_peer.hpp"

namespace hermes::test {
namespace {

using nlohmann::json;

const char* kTokenBudgetConfig = R"(
gateway: {instance: it-tokens, data_dir: "${DATA}", threads: 2}
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
  - {name: budget, key: sender, tokens: 300/min}
)";

TEST(TokenBudgetApi, ReportedUsageIsDebitedUntilTheBudgetRefuses) {
  Daemon daemon(kTokenBudgetConfig);
  ASSERT_TRUE(daemon.start()) << daemon.log();
  std::string text(400, 'a');  // ~100 prompt tokens, and the echo repeats it: ~200 tokens a call
  json body = {{"user", "alice"}, {"messages", {{{"role", "user"}, {"content", text}}}}};
  auto ask = [&] {
    return http_request(daemon.port(), "POST", "/v1/chat/completions", {{"Content-Type", "application/json"}},
                        body.dump());
  };
  auto first = ask();
  ASSERT_EQ(first.status, 200) << first.body;
  int used = json::parse(first.body)["usage"]["total_tokens"];
  ASSERT_GT(used, 150);
  ASSERT_LT(used, 300);
  EXPECT_EQ(ask().status, 200);  // tokens were left: allowed, and it runs the budget into debt
  auto refused = ask();
  ASSERT_EQ(refused.status, 429) << refused.body;
  EXPECT_GE(std::stoi(refused.headers["retry-after"]), 10);
  EXPECT_EQ(json::parse(refused.body)["error"]["code"], "rate_limit_exceeded");
  auto rows = daemon.audit_events("ratelimit.reject", 1);
  EXPECT_EQ(rows[0]["detail"]["limit"], "budget");
}

// `n` answers from an upstream that reports their tokens together, as OpenAI does: the
// budget is debited for every choice, and the audit row records how many were asked for.
TEST(TokenBudgetApi, EveryChoiceOfASeveralChoiceAnswerIsDebited) {
  NodePeer upstream("tests/peers/openai_upstream.mjs");
  ASSERT_TRUE(upstream.start()) << upstream.error();
  Daemon daemon(R"(
gateway: {instance: it-tokens, data_dir: "${DATA}", threads: 2}
listeners:
  - {name: local, bind: loopback, port: ${PORT0}}
channels:
  - {name: api, type: api, listener: local}
models:
  - {name: upstream, type: openai, base_url: "http://127.0.0.1:)" + std::to_string(upstream.port()) +
                R"(/v1", model: mock-choices}
agents:
  - {name: single, model: upstream}
  - {name: several, model: upstream, max_choices: 3}
routes:
  - {name: default, agent: single}
limits:
  - {name: budget, key: agent, tokens: 200/min}
)");
  ASSERT_TRUE(daemon.start()) << daemon.log();
  std::string text(200, 'a');  // ~50 prompt tokens; each choice "mock[i]:" + text is ~52 more
  auto ask = [&](const std::string& agent, int n) {
    json body = {{"model", agent}, {"n", n}, {"messages", {{{"role", "user"}, {"content", text}}}}};
    return http_request(daemon.port(), "POST", "/v1/chat/completions", {{"Content-Type", "application/json"}},
                        body.dump());
  };
  // One choice at a time: ~102 tokens, twice within 200.
  ASSERT_EQ(ask("single", 1).status, 200);
  ASSERT_EQ(ask("single", 1).status, 200);
  // Three choices: ~206 tokens, all of them debited, so the next message is refused.
  auto three = ask("several", 3);
  ASSERT_EQ(three.status, 200) << three.body;
  auto answer = json::parse(three.body);
  ASSERT_EQ(answer["choices"].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(answer["choices"][i]["index"], i);
    EXPECT_EQ(answer["choices"][i]["message"]["content"], "mock[" + std::to_string(i) + "]:" + text);
  }
  EXPECT_GT(answer["usage"]["completion_tokens"].get<int>(), 150);
  auto refused = ask("several", 1);
  EXPECT_EQ(refused.status, 429) << refused.body;
  auto rows = daemon.audit_events("message.exchange", 3);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2]["detail"]["choices"], 3);
  EXPECT_GT(rows[2]["tokens_out"].get<int>(), 150);
  EXPECT_FALSE(rows[0]["detail"].contains("choices"));
}

}  // namespace
}  // namespace hermes::test
