#include "hermes/routing/rules.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "hermes/config/loader.hpp"
#include "hermes/ctl/commands.hpp"

namespace hermes::routing {
namespace {

config::RouteConfig route(std::string name, std::optional<config::RouteMatch> match, std::string agent = "agent") {
  config::RouteConfig r;
  r.name = std::move(name);
  r.match = std::move(match);
  r.agent = std::move(agent);
  return r;
}

config::RouteConfig reject_route(std::string name, std::optional<config::RouteMatch> match, std::string message) {
  config::RouteConfig r = route(std::move(name), std::move(match), "");
  r.reject_message = std::move(message);
  return r;
}

RouteQuery slack(std::string sender, std::string text) {
  RouteQuery q;
  q.channel_name = "slack-main";
  q.channel_type = "slack";
  q.sender = std::move(sender);
  q.conversation = "C42";
  q.recipient = "B1";
  q.text = std::move(text);
  return q;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Whether a single-route set with this match accepts the query.
bool matches(config::RouteMatch m, const RouteQuery& q) {
  RuleSet rules({route("only", std::move(m))});
  return rules.match(q).found;
}

TEST(Glob, Wildcards) {
  EXPECT_TRUE(glob_match("U123*", "U123"));
  EXPECT_TRUE(glob_match("U123*", "U12345"));
  EXPECT_FALSE(glob_match("U123*", "U12"));
  EXPECT_TRUE(glob_match("*@example.com", "ann@example.com"));
  EXPECT_FALSE(glob_match("*@example.com", "ann@example.com.evil"));
  EXPECT_TRUE(glob_match("a?c", "abc"));
  EXPECT_FALSE(glob_match("a?c", "ac"));
  EXPECT_TRUE(glob_match("a*b*c", "aXXbYYc"));
  EXPECT_TRUE(glob_match("*aab", "aaaab"));  // needs backtracking
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("**", "x"));
  EXPECT_TRUE(glob_match("", ""));
  EXPECT_FALSE(glob_match("", "x"));
  EXPECT_TRUE(glob_match("exact", "exact"));
  EXPECT_FALSE(glob_match("exact", "exactly"));
}

TEST(Glob, CaseSensitive) {
  EXPECT_FALSE(glob_match("u123*", "U123"));
  EXPECT_FALSE(glob_match("*@Example.com", "ann@example.com"));
}

TEST(Glob, QuestionMarkIsOneUtf8Character) {
  EXPECT_TRUE(glob_match("j?rg", "j\xC3\xB6rg"));  // jörg
  EXPECT_TRUE(glob_match("?", "\xE2\x82\xAC"));     // €
  EXPECT_FALSE(glob_match("??", "\xE2\x82\xAC"));
}

TEST(ContainsIgnoreCase, AsciiFolding) {
  EXPECT_TRUE(contains_ignore_case("Please send the INVOICE", "invoice"));
  EXPECT_TRUE(contains_ignore_case("abc", ""));
  EXPECT_FALSE(contains_ignore_case("inv oice", "invoice"));
}

TEST(RuleMatch, ChannelByNameOrType) {
  EXPECT_TRUE(matches({.channels = {"slack-main"}}, slack("U1", "hi")));
  EXPECT_TRUE(matches({.channels = {"slack"}}, slack("U1", "hi")));
  EXPECT_TRUE(matches({.channels = {"api", "slack"}}, slack("U1", "hi")));  // OR within the list
  EXPECT_FALSE(matches({.channels = {"api", "web"}}, slack("U1", "hi")));
}

TEST(RuleMatch, SenderGlobs) {
  EXPECT_TRUE(matches({.senders = {"U1*"}}, slack("U123", "hi")));
  EXPECT_TRUE(matches({.senders = {"X*", "*3"}}, slack("U123", "hi")));
  EXPECT_FALSE(matches({.senders = {"U2*"}}, slack("U123", "hi")));
}

TEST(RuleMatch, ConversationAndRecipientGlobs) {
  EXPECT_TRUE(matches({.conversations = {"C4?"}}, slack("U1", "hi")));
  EXPECT_FALSE(matches({.conversations = {"D*"}}, slack("U1", "hi")));
  EXPECT_TRUE(matches({.recipients = {"B1"}}, slack("U1", "hi")));
  EXPECT_FALSE(matches({.recipients = {"B2"}}, slack("U1", "hi")));
}

TEST(RuleMatch, TextAnyIsCaseInsensitive) {
  config::RouteMatch m{.text_any = {"Invoice", "refund"}};
  EXPECT_TRUE(matches(m, slack("U1", "where is my INVOICE?")));
  EXPECT_TRUE(matches(m, slack("U1", "I want a Refund")));
  EXPECT_FALSE(matches(m, slack("U1", "hello")));
}

TEST(RuleMatch, TextAllNeedsEveryKeyword) {
  config::RouteMatch m{.text_all = {"reset", "PASSWORD"}};
  EXPECT_TRUE(matches(m, slack("U1", "Please RESET my password")));
  EXPECT_FALSE(matches(m, slack("U1", "reset my account")));
}

TEST(RuleMatch, TextRegexPartialMatch) {
  EXPECT_TRUE(matches({.text_regex = R"(INC-\d{4})"}, slack("U1", "status of INC-1234 please")));
  EXPECT_FALSE(matches({.text_regex = R"(INC-\d{4})"}, slack("U1", "status of inc-1234 please")));
  EXPECT_TRUE(matches({.text_regex = R"((?i)inc-\d{4})"}, slack("U1", "status of INC-1234")));
  EXPECT_FALSE(matches({.text_regex = R"(^INC)"}, slack("U1", "about INC-1")));
}

TEST(RuleMatch, ModelsClaimApiModelNames) {
  RouteQuery q = slack("U1", "hi");
  q.model = "fast";
  EXPECT_TRUE(matches({.models = {"fast", "cheap"}}, q));
  q.model = "slow";
  EXPECT_FALSE(matches({.models = {"fast"}}, q));
  q.model = "";
  EXPECT_FALSE(matches({.models = {"fast"}}, q));
}

TEST(RuleMatch, EveryListMustHold) {
  config::RouteMatch m{.channels = {"slack"}, .senders = {"U1*"}, .text_any = {"invoice"}};
  EXPECT_TRUE(matches(m, slack("U100", "invoice please")));
  EXPECT_FALSE(matches(m, slack("U200", "invoice please")));
  EXPECT_FALSE(matches(m, slack("U100", "hello")));
  RouteQuery api = slack("U100", "invoice please");
  api.channel_name = "api";
  api.channel_type = "api";
  EXPECT_FALSE(matches(m, api));
}

TEST(RuleSetMatch, FirstMatchWins) {
  RuleSet rules({route("billing", config::RouteMatch{.text_any = {"invoice"}}, "billing"),
                 route("also-billing", config::RouteMatch{.text_any = {"invoice"}}, "other"),
                 route("default", std::nullopt, "general")});
  auto d = rules.match(slack("U1", "my invoice"));
  EXPECT_TRUE(d.found);
  EXPECT_EQ(d.rule, "billing");
  EXPECT_EQ(d.index, 0u);
  EXPECT_EQ(d.agent, "billing");
  EXPECT_FALSE(d.rejected());
  auto fallback = rules.match(slack("U1", "hello"));
  EXPECT_EQ(fallback.rule, "default");
  EXPECT_EQ(fallback.index, 2u);
  EXPECT_EQ(fallback.agent, "general");
}

TEST(RuleSetMatch, CatchAllWithoutOrWithEmptyMatch) {
  EXPECT_TRUE(RuleSet({route("a", std::nullopt)}).match(slack("U1", "x")).found);
  auto d = RuleSet({route("b", config::RouteMatch{})}).match(slack("U1", "x"));
  EXPECT_TRUE(d.found);
  EXPECT_EQ(d.why, "matched routes[0] b: catch-all (no match conditions)");
}

TEST(RuleSetMatch, NoRouteMatched) {
  RuleSet rules({route("only-api", config::RouteMatch{.channels = {"api"}})});
  auto d = rules.match(slack("U1", "x"));
  EXPECT_FALSE(d.found);
  EXPECT_FALSE(d.rejected());
  EXPECT_EQ(d.why, "no route matched");
  EXPECT_EQ(RuleSet(std::vector<config::RouteConfig>{}).match(slack("U1", "x")).why, "no routes configured");
}

TEST(RuleSetMatch, RejectingRoute) {
  RuleSet rules({reject_route("outsiders", config::RouteMatch{.senders = {"*@evil.test"}}, "Not here."),
                 route("default", std::nullopt)});
  auto d = rules.match(slack("mal@evil.test", "hi"));
  EXPECT_TRUE(d.found);
  EXPECT_TRUE(d.rejected());
  EXPECT_EQ(*d.reject_message, "Not here.");
  EXPECT_TRUE(d.agent.empty());
  EXPECT_FALSE(rules.match(slack("ann@good.test", "hi")).rejected());
}

TEST(RuleSetExplain, DecisionNamesTheRuleAndItsConditions) {
  RuleSet rules({route("slack-only", config::RouteMatch{.channels = {"slack"}}),
                 route("billing-questions", config::RouteMatch{.text_any = {"refund", "invoice"}}, "billing")});
  RouteQuery q = slack("U1", "an Invoice");
  q.channel_name = "api";
  q.channel_type = "api";
  EXPECT_EQ(rules.match(q).why, "matched routes[1] billing-questions: text contains 'invoice'");
  EXPECT_EQ(rules.match(q, Explain::every_rule).why,
            "routes[0] slack-only: not matched: channel 'api' (type 'api') is not in ['slack']\n"
            "matched routes[1] billing-questions: text contains 'invoice'");
}

TEST(RuleSetExplain, EveryConditionOfTheWinner) {
  RuleSet rules({route("r", config::RouteMatch{.channels = {"slack"},
                                               .senders = {"U*"},
                                               .conversations = {"C42"},
                                               .recipients = {"B?"},
                                               .text_all = {"a", "b"},
                                               .text_regex = "b$",
                                               .models = {"m"}})});
  RouteQuery q = slack("U7", "a b");
  q.model = "m";
  EXPECT_EQ(rules.match(q).why,
            "matched routes[0] r: channel 'slack-main' (type 'slack') matches 'slack'; sender 'U7' matches 'U*'; "
            "conversation 'C42' matches 'C42'; recipient 'B1' matches 'B?'; text contains all of ['a', 'b']; "
            "text matches /b$/; model 'm' is claimed by this route");
}

TEST(RuleSetExplain, EachKindOfFailure) {
  RuleSet rules({route("s", config::RouteMatch{.senders = {"X*"}}),
                 route("any", config::RouteMatch{.text_any = {"foo", "bar"}}),
                 route("all", config::RouteMatch{.text_all = {"hello", "world"}}),
                 route("re", config::RouteMatch{.text_regex = "^\\d+$"}),
                 route("model", config::RouteMatch{.models = {"fast"}}),
                 route("conv", config::RouteMatch{.conversations = {"D*"}})});
  auto why = rules.match(slack("U1", "hello there"), Explain::every_rule).why;
  EXPECT_TRUE(contains(why, "routes[0] s: not matched: sender 'U1' matches none of ['X*']\n")) << why;
  EXPECT_TRUE(contains(why, "routes[1] any: not matched: text contains none of ['foo', 'bar']\n")) << why;
  EXPECT_TRUE(contains(why, "routes[2] all: not matched: text lacks 'world'")) << why;
  EXPECT_TRUE(contains(why, "routes[3] re: not matched: text does not match /^\\d+$/\n")) << why;
  EXPECT_TRUE(contains(why, "routes[4] model: not matched: no model requested; route claims ['fast']\n")) << why;
  EXPECT_TRUE(contains(why, "routes[5] conv: not matched: conversation 'C42' matches none of ['D*']\n")) << why;
  EXPECT_TRUE(why.ends_with("no route matched")) << why;
}

TEST(RuleSetExplain, SenderControlCharactersAreEscaped) {
  RuleSet rules({route("s", config::RouteMatch{.senders = {"X*"}})});
  auto why = rules.match(slack("evil\nmatched routes[9]", "x"), Explain::every_rule).why;
  EXPECT_TRUE(contains(why, "'evil\\x0amatched routes[9]'")) << why;
  EXPECT_EQ(std::count(why.begin(), why.end(), '\n'), 1);
}

TEST(RuleSetExplain, LongValuesAreShortenedOnACharacterBoundary) {
  RuleSet rules({route("s", config::RouteMatch{.senders = {"X*"}})});
  std::string sender = std::string(79, 'a') + "\xc3\xa9" + "tail";
  auto why = rules.match(slack(sender, "x"), Explain::every_rule).why;
  EXPECT_TRUE(contains(why, "'" + std::string(79, 'a') + "...'")) << why;
  EXPECT_TRUE(contains(rules.match(slack(std::string(78, 'a') + "\xc3\xa9tail", "x"), Explain::every_rule).why,
                       "'" + std::string(78, 'a') + "\xc3\xa9...'"));
}

TEST(RuleSetCompile, InvalidRegexThrowsNamingTheRoute) {
  try {
    RuleSet rules({route("bad", config::RouteMatch{.text_regex = "a(b"})});
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(contains(e.what(), "routes[0] bad: invalid text_regex: missing )")) << e.what();
  }
  EXPECT_TRUE(contains(compile_error("a(b"), "missing )"));
  EXPECT_EQ(compile_error(R"(INC-\d+)"), "");
}

TEST(RuleSetCompile, RuleSetsMove) {
  RuleSet a({route("re", config::RouteMatch{.text_regex = "x"})});
  RuleSet b = std::move(a);
  EXPECT_TRUE(b.match(slack("U1", "x")).found);
  EXPECT_EQ(b.size(), 1u);
}

TEST(MakeRouteQuery, CopiesTheMatchingFacts) {
  InboundMessage m;
  m.channel = "api";
  m.channel_type = "api";
  m.sender = "ci-bot";
  m.conversation = "conv";
  m.recipient = "rcpt";
  m.text = "hello";
  m.model = "auto";
  RouteQuery q = make_route_query(m);
  EXPECT_EQ(q.channel_name, "api");
  EXPECT_EQ(q.channel_type, "api");
  EXPECT_EQ(q.sender, "ci-bot");
  EXPECT_EQ(q.conversation, "conv");
  EXPECT_EQ(q.recipient, "rcpt");
  EXPECT_EQ(q.text, "hello");
  EXPECT_EQ(q.model, "auto");
}

class ResolveModel : public ::testing::Test {
 protected:
  ResolveModel() {
    agents_.push_back(config::AgentConfig{.name = "billing"});
    agents_.push_back(config::AgentConfig{.name = "general"});
  }
  std::vector<config::AgentConfig> agents_;
  RuleSet rules_{{route("fast-route", config::RouteMatch{.models = {"fast", "billing"}}, "general"),
                  route("default", std::nullopt, "general")}};
};

TEST_F(ResolveModel, NoModelOrAutoUsesTheRules) {
  EXPECT_EQ(resolve_model("", agents_, rules_).kind, ModelKind::use_rules);
  EXPECT_EQ(resolve_model("auto", agents_, rules_).kind, ModelKind::use_rules);
}

TEST_F(ResolveModel, AnAgentNameGoesToThatAgent) {
  auto r = resolve_model("general", agents_, rules_);
  EXPECT_EQ(r.kind, ModelKind::agent_direct);
  EXPECT_EQ(r.agent, "general");
}

TEST_F(ResolveModel, AnAgentNameWinsOverAClaimingRoute) {
  auto r = resolve_model("billing", agents_, rules_);
  EXPECT_EQ(r.kind, ModelKind::agent_direct);
  EXPECT_EQ(r.agent, "billing");
}

TEST_F(ResolveModel, AClaimedNameUsesTheRulesAndTheClaimingRouteMatches) {
  EXPECT_EQ(resolve_model("fast", agents_, rules_).kind, ModelKind::use_rules);
  EXPECT_TRUE(rules_.claims_model("fast"));
  RouteQuery q = slack("U1", "x");
  q.model = "fast";
  EXPECT_EQ(rules_.match(q).rule, "fast-route");
}

TEST_F(ResolveModel, AnyOtherNameIsModelNotFound) {
  auto r = resolve_model("gpt-9", agents_, rules_);
  EXPECT_EQ(r.kind, ModelKind::not_found);
  EXPECT_EQ(r.message, "The model `gpt-9` does not exist or you do not have access to it.");
  EXPECT_FALSE(rules_.claims_model("gpt-9"));
  EXPECT_FALSE(rules_.claims_model("Fast"));  // model names are case-sensitive
}

// The loader rejects a regex RE2 cannot compile, at the value's place.
TEST(RouteConfigRegex, InvalidRegexIsAConfigError) {
  config::SecretEnvironment env;
  env.getenv = [](const std::string&) { return std::optional<std::string>(); };
  auto result = config::load_string(
      "listeners:\n"
      "  - {name: a, port: 8080}\n"
      "routes:\n"
      "  - name: bad\n"
      "    match:\n"
      "      text_regex: \"a(b\"\n"
      "    reject: {message: no}\n",
      "hermes.yaml", env);
  ASSERT_FALSE(result.ok());
  ASSERT_EQ(result.errors.size(), 1u) << config::format_errors(result.errors);
  const auto& e = result.errors[0];
  EXPECT_EQ(e.line, 6);
  EXPECT_EQ(e.column, 19);
  EXPECT_EQ(e.path, "routes[0].match.text_regex");
  EXPECT_TRUE(contains(e.message, "invalid regular expression: missing )")) << e.to_string();
}

TEST(AgentConfig, MaxChoicesIsFromOneToTheGatewaysCap) {
  config::SecretEnvironment env;
  env.getenv = [](const std::string&) { return std::optional<std::string>(); };
  auto load = [&](const std::string& agent) {
    return config::load_string("listeners:\n  - {name: a, port: 8080}\nmodels:\n  - {name: demo, type: echo}\n"
                               "agents:\n  - " + agent + "\n", "hermes.yaml", env);
  };
  // Without registries `echo` is an unknown type: only the max_choices errors count here.
  auto choice_errors = [](const config::LoadResult& r) {
    std::vector<std::string> out;
    for (const auto& e : r.errors) {
      if (e.path == "agents[0].max_choices") out.push_back(e.message);
    }
    return out;
  };
  EXPECT_TRUE(choice_errors(load("{name: several, model: demo, max_choices: 16}")).empty());
  EXPECT_TRUE(choice_errors(load("{name: one, model: demo}")).empty());
  for (const char* bad : {"0", "17"}) {
    EXPECT_EQ(choice_errors(load(std::string("{name: x, model: demo, max_choices: ") + bad + "}")),
              std::vector<std::string>{"max_choices must be from 1 to 16"}) << bad;
  }
}

// hermesctl routes test, end to end on a file, through the built-in registries.
class RoutesTestCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("hermes-routes-test-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".yaml");
    std::ofstream(path_) << R"(listeners:
  - {name: lan, port: 8080}
channels:
  - {name: ci, type: api, listener: lan}
models:
  - {name: demo, type: echo}
agents:
  - {name: billing, model: demo}
  - {name: general, model: demo}
routes:
  - {name: vip, match: {sender: "boss*"}, agent: general}
  - {name: billing-questions, match: {text_any: [invoice, refund]}, agent: billing}
  - {name: fast, match: {model: fast}, agent: general}
  - {name: blocked, match: {text_regex: "(?i)password"}, reject: {message: "Never send passwords."}}
  - {name: default, match: {channel: api}, agent: general}
)";
  }
  void TearDown() override { std::filesystem::remove(path_); }

  // Runs the command; returns the exit code and keeps its standard output.
  int run(std::vector<std::string> args) {
    args.insert(args.begin(), {"test", "--config", path_.string()});
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    int code = ctl::routes_test(args);
    out_ = ::testing::internal::GetCapturedStdout();
    err_ = ::testing::internal::GetCapturedStderr();
    return code;
  }

  std::filesystem::path path_;
  std::string out_;
  std::string err_;
};

TEST_F(RoutesTestCommand, NamesTheRouteAgentAndWhy) {
  ASSERT_EQ(run({"--channel", "ci", "--sender", "ann", "--text", "my Invoice"}), 0) << out_ << err_;
  EXPECT_TRUE(contains(out_, "channel: ci (type api)")) << out_;
  EXPECT_TRUE(contains(out_, "routes[0] vip: not matched: sender 'ann' matches none of ['boss*']")) << out_;
  EXPECT_TRUE(contains(out_, "matched routes[1] billing-questions: text contains 'invoice'")) << out_;
  EXPECT_TRUE(contains(out_, "=> agent billing (route billing-questions)")) << out_;
}

TEST_F(RoutesTestCommand, ChannelByType) {
  ASSERT_EQ(run({"--channel", "api", "--text", "hello"}), 0) << out_ << err_;
  EXPECT_TRUE(contains(out_, "channel: ci (type api, the only channel of that type)")) << out_;
  EXPECT_TRUE(contains(out_, "=> agent general (route default)")) << out_;
}

TEST_F(RoutesTestCommand, Rejection) {
  EXPECT_EQ(run({"--channel", "api", "--text", "my PASSWORD is"}), 1) << out_ << err_;
  EXPECT_TRUE(contains(out_, "=> rejected by route blocked: \"Never send passwords.\"")) << out_;
}

TEST_F(RoutesTestCommand, ModelNamingAnAgent) {
  EXPECT_EQ(run({"--channel", "api", "--model", "billing"}), 0) << out_ << err_;
  EXPECT_TRUE(contains(out_, "=> agent billing")) << out_;
}

TEST_F(RoutesTestCommand, ModelClaimedByARoute) {
  EXPECT_EQ(run({"--channel", "api", "--model", "fast", "--text", "hi"}), 0) << out_ << err_;
  EXPECT_TRUE(contains(out_, "=> agent general (route fast)")) << out_;
}

TEST_F(RoutesTestCommand, UnknownModelIs404) {
  EXPECT_EQ(run({"--channel", "api", "--model", "gpt-9"}), 1) << out_ << err_;
  EXPECT_TRUE(contains(out_, "404 model_not_found")) << out_;
}

TEST_F(RoutesTestCommand, UsageErrors) {
  EXPECT_EQ(run({"--channel"}), 2);
  EXPECT_EQ(run({"--bogus", "x"}), 2);
  EXPECT_EQ(run({"--channel", "slack"}), 2);
  EXPECT_TRUE(contains(err_, "no channel named or of type 'slack' (configured: ci (api))")) << err_;
  EXPECT_EQ(run({"--sender", "x"}), 2);
  EXPECT_TRUE(contains(err_, "--config and --channel are required")) << err_;
}

}  // namespace
}  // namespace hermes::routing
