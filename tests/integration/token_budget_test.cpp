// Token budgets (`limits: [{tokens: N/min}]`) through a real hermesd: debited by the
// usage backends report, refusing with 429 and Retry-After once exhausted.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness.hpp"

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

}  // namespace
}  // namespace hermes::test
