// The anthropic backend's request translation: OpenAI-shaped turns, tools and options in
// the Messages API's words.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "src/backends/anthropic/translate.hpp"

namespace hermes::backends::anthropic {
namespace {

using nlohmann::json;

ChatTurn turn(std::string role, std::string content) { return ChatTurn{std::move(role), std::move(content)}; }

CompletionRequest tool_loop() {
  CompletionRequest r;
  r.messages.push_back(turn("system", "be brief"));
  auto user = turn("user", "what is this?");
  user.parts = R"([{"type":"text","text":"what is this?"},)"
               R"({"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},)"
               R"({"type":"image_url","image_url":{"url":"https://example.com/a.png"}}])";
  r.messages.push_back(user);
  auto calls = turn("assistant", "");
  calls.tool_calls = {{"c1", "get_weather", R"({"q":"Rome"})"}, {"c2", "get_time", "not json"}};
  r.messages.push_back(calls);
  auto first = turn("tool", "sunny");
  first.tool_call_id = "c1";
  auto second = turn("tool", "noon");
  second.tool_call_id = "c2";
  r.messages.push_back(first);
  r.messages.push_back(second);
  return r;
}

TEST(AnthropicTranslate, TurnsBecomeBlocksAndToolResultsShareOneUserMessage) {
  Spec spec;
  spec.model = "claude-x";
  auto body = request_body(tool_loop(), spec);
  EXPECT_EQ(body["system"], "be brief");
  ASSERT_EQ(body["messages"].size(), 3u);
  const auto& user = body["messages"][0];
  EXPECT_EQ(user["role"], "user");
  EXPECT_EQ(user["content"][0], (json{{"type", "text"}, {"text", "what is this?"}}));
  EXPECT_EQ(user["content"][1]["source"],
            (json{{"type", "base64"}, {"media_type", "image/png"}, {"data", "iVBORw0KGgo="}}));
  EXPECT_EQ(user["content"][2]["source"], (json{{"type", "url"}, {"url", "https://example.com/a.png"}}));
  const auto& assistant = body["messages"][1];
  EXPECT_EQ(assistant["role"], "assistant");
  ASSERT_EQ(assistant["content"].size(), 2u);
  EXPECT_EQ(assistant["content"][0],
            (json{{"type", "tool_use"}, {"id", "c1"}, {"name", "get_weather"}, {"input", {{"q", "Rome"}}}}));
  EXPECT_EQ(assistant["content"][1]["input"], json::object());  // arguments that are not a JSON object
  const auto& results = body["messages"][2];
  EXPECT_EQ(results["role"], "user");
  EXPECT_EQ(results["content"],
            (json{{{"type", "tool_result"}, {"tool_use_id", "c1"}, {"content", "sunny"}},
                  {{"type", "tool_result"}, {"tool_use_id", "c2"}, {"content", "noon"}}}));
}

TEST(AnthropicTranslate, PlainTextTurnsStayStringsAndMerge) {
  CompletionRequest r;
  r.messages = {turn("assistant", "dropped: the API starts with a user turn"), turn("user", "a"), turn("user", "b"),
                turn("assistant", "c")};
  Spec spec;
  auto body = request_body(r, spec);
  EXPECT_EQ(body["messages"], (json{{{"role", "user"}, {"content", "a\n\nb"}}, {{"role", "assistant"}, {"content", "c"}}}));
  EXPECT_FALSE(body.contains("tools"));
  EXPECT_FALSE(body.contains("tool_choice"));
}

TEST(AnthropicTranslate, ToolsToolChoiceAndStop) {
  const std::string tools =
      R"([{"type":"function","function":{"name":"get_weather","description":"Weather",)"
      R"("parameters":{"type":"object","properties":{"q":{"type":"string"}}}}},)"
      R"({"type":"function","function":{"name":"get_time"}}])";
  struct Case {
    std::string tool_choice;
    std::optional<bool> parallel;
    json expected;
  };
  for (const auto& c : std::vector<Case>{
           {"", std::nullopt, json()},
           {R"("auto")", std::nullopt, {{"type", "auto"}}},
           {R"("none")", std::nullopt, {{"type", "none"}}},
           {R"("required")", std::nullopt, {{"type", "any"}}},
           {R"({"type":"function","function":{"name":"get_time"}})", std::nullopt, {{"type", "tool"}, {"name", "get_time"}}},
           {"", false, {{"type", "auto"}, {"disable_parallel_tool_use", true}}},
           {R"("required")", false, {{"type", "any"}, {"disable_parallel_tool_use", true}}},
           {R"("none")", false, {{"type", "none"}}},
       }) {
    CompletionRequest r;
    r.messages = {turn("user", "x")};
    auto options = std::make_shared<ModelOptions>();
    options->tools = tools;
    options->tool_choice = c.tool_choice;
    options->parallel_tool_calls = c.parallel;
    options->stop = R"("END")";
    r.model_options = options;
    auto body = request_body(r, Spec{});
    EXPECT_EQ(body.value("tool_choice", json()), c.expected) << c.tool_choice;
    ASSERT_EQ(body["tools"].size(), 2u);
    EXPECT_EQ(body["tools"][0], (json{{"name", "get_weather"},
                                      {"input_schema", {{"type", "object"}, {"properties", {{"q", {{"type", "string"}}}}}}},
                                      {"description", "Weather"}}));
    EXPECT_EQ(body["tools"][1]["input_schema"], (json{{"type", "object"}}));
    EXPECT_EQ(body["stop_sequences"], (json{"END"}));
  }
}

}  // namespace
}  // namespace hermes::backends::anthropic
