// The API channel's request body reader: what it takes from an OpenAI chat request and
// which bodies it refuses, with the message each refusal carries.
#include <gtest/gtest.h>

#include <string>

#include "src/channels/api/request.hpp"

namespace hermes::channels::api {
namespace {

constexpr std::string_view kNotAnObject = "the request body is not a JSON object";

ParsedRequest parsed(std::string_view body) {
  ParsedRequest out;
  auto error = parse_body(body, out);
  EXPECT_FALSE(error) << body << ": " << error->message;
  return out;
}

// The message of the 400 for `body`, or "" when it is accepted.
// The refusal of a body that is not a JSON object, without where nlohmann stopped reading.
std::string not_object_refusal(std::string_view body);

std::string refusal(std::string_view body) {
  ParsedRequest out;
  auto error = parse_body(body, out);
  if (!error) return "";
  EXPECT_EQ(error->reason, Reason::bad_request);
  return error->message;
}

std::string not_object_refusal(std::string_view body) {
  std::string message = refusal(body);
  return message.substr(0, message.find(": parse error"));
}

std::string nested(int depth, std::string_view inner) {
  return std::string(depth, '[') + std::string(inner) + std::string(depth, ']');
}

TEST(ApiRequest, ReadsTheFieldsAModelNeeds) {
  auto r = parsed(R"({"model":"gpt","stream":true,"stream_options":{"include_usage":true},"user":"ada",)"
                  R"("max_tokens":64,"temperature":0.25,"messages":[{"role":"user","content":"hello"}]})");
  EXPECT_EQ(r.message.text, "hello");
  EXPECT_TRUE(r.message.context.empty());
  EXPECT_EQ(r.message.model, "gpt");
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.message.session_hint, "ada");
  EXPECT_EQ(r.message.max_tokens, 64);
  EXPECT_EQ(r.message.temperature, 0.25);

  r = parsed(R"({"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(r.message.model, "");
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.include_usage);
  EXPECT_FALSE(r.message.max_tokens);
  EXPECT_FALSE(r.message.temperature);
}

TEST(ApiRequest, TheLastUserTurnIsTheTextAndWhatCameBeforeIsContext) {
  auto r = parsed(R"({"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"a"},)"
                  R"({"role":"assistant","content":"b"},{"role":"user","content":"c"},)"
                  R"({"role":"assistant","content":"d"}]})");
  EXPECT_EQ(r.message.text, "c");
  std::vector<ChatTurn> context{{"system", "be brief"}, {"user", "a"}, {"assistant", "b"}};
  EXPECT_EQ(r.message.context, context);
  EXPECT_EQ(refusal(R"({"messages":[{"role":"system","content":"x"}]})"), "'messages' has no user message");
}

TEST(ApiRequest, ContentIsAStringNullOrTextParts) {
  EXPECT_EQ(parsed(R"({"messages":[{"role":"user","content":null}]})").message.text, "");
  EXPECT_EQ(parsed(R"({"messages":[{"role":"user"}]})").message.text, "");
  auto r = parsed(R"({"messages":[{"role":"user","content":[{"type":"text","text":"a"},)"
                  R"({"type":"image_url","image_url":{"url":"data:,x"}},"loose",{"text":"no type"},)"
                  R"({"type":"text","text":7},{"type":"text"},{"type":"text","text":"b"}]}]})");
  EXPECT_EQ(r.message.text, "a\nb");
  // An empty first part adds no separator.
  EXPECT_EQ(parsed(R"({"messages":[{"role":"user","content":[{"type":"text","text":""},{"type":"text","text":"b"}]}]})")
                .message.text,
            "b");
  EXPECT_EQ(parsed(R"({"messages":[{"role":"user","content":[]}]})").message.text, "");
  for (auto content : {"7", "true", R"({"text":"x"})", "1.5"}) {
    EXPECT_EQ(refusal(std::string(R"({"messages":[{"role":"user","content":)") + content + "}]}"),
              "message 'content' must be a string or a list of content parts")
        << content;
  }
}

// A non-string part type is a bad request (it was a 500 with no audit row).
TEST(ApiRequest, APartWhoseTypeIsNotAStringIsRefused) {
  for (auto type : {"5", "null", "[]", "{}", "true"}) {
    std::string body = std::string(R"({"messages":[{"role":"user","content":[{"type":)") + type + R"(,"text":"x"}]}]})";
    EXPECT_EQ(refusal(body), "message 'content' must be a string or a list of content parts") << body;
  }
}

TEST(ApiRequest, RefusesBodiesThatAreNotAJsonObject) {
  const std::initializer_list<std::string> bodies{
      "", " ", "{not json", R"({"messages":[)", R"([{"role":"user","content":"x"}])", R"("text")", "null",
      R"({} {})", R"({"a":1,})", R"({"a":01})", R"({"a":.5})", R"({'a':1})", R"({"a":1e400})", R"({"a":-1e400})",
      R"({"a":tru})", "{\"a\":\"\x01\"}", "{\"a\":\"\xff\"}", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xc0\xaf\"}",
      R"({"a":"\ud800"})", R"({"a":"\udc00"})", R"({"a":"\ud800\u0041"})", R"({"a":"\x"})", R"({"a":"\u00zz"})",
      std::string("{\"a\0\":1}", 8), std::string("{\"a\":1\0}", 8), " \xEF\xBB\xBF{}", "\xEF\xBB{}", "{/*c*/}"};
  for (const std::string& body : bodies) {
    EXPECT_EQ(refusal(body).substr(0, kNotAnObject.size()), kNotAnObject) << body;
  }
  // Every field is checked, those the gateway ignores too.
  EXPECT_EQ(refusal("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"metadata\":{\"k\":\"\xfe\"}}")
                .substr(0, kNotAnObject.size()),
            kNotAnObject);
  // Invalid JSON names where (#19); valid JSON of another type says just that.
  EXPECT_EQ(refusal("{\"messages\": [1,]}"),
            std::string(kNotAnObject) + ": parse error at line 1, column 17: syntax error while parsing value - "
                                        "unexpected ']'; expected '[', '{', or a literal");
  EXPECT_EQ(refusal("[1]"), kNotAnObject);
  EXPECT_LT(refusal("\"" + std::string(100'000, 'x')).size(), 300u) << "the message stays short";
}

TEST(ApiRequest, AcceptsWhatJsonAllows) {
  // A UTF-8 byte order mark, whitespace, escapes, numbers of every shape in unknown fields.
  auto r = parsed("\xEF\xBB\xBF \t\r\n{\"messages\":[{\"role\":\"user\",\"content\":"
                  R"("Hi \u00e9 \ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t \u0000 end"}],)"
                  R"("numbers":[0,-0,1.5e3,1E-400,18446744073709551615,-9223372036854775808,99999999999999999999,)"
                  R"(-99999999999999999999,123456789012345678901234567890.5],"o":{"deep":[{"x":null}]}} )");
  EXPECT_EQ(r.message.text, std::string("Hi \xC3\xA9 \xF0\x9F\x98\x80 \"q\" \\ / \b\f\n\r\t ") + '\0' + " end");
  // Keys are compared unescaped.
  EXPECT_EQ(parsed(R"({"m\u0065ssages":[{"role":"user","content":"x"}],"mod\u0065l":"m"})").message.model, "m");
  // Nesting far deeper than any real request.
  EXPECT_EQ(parsed(R"({"messages":[{"role":"user","content":"x"}],"deep":)" + nested(5000, "1") + "}").message.text,
            "x");
  EXPECT_EQ(not_object_refusal(R"({"messages":[{"role":"user","content":"x"}],"deep":)" + nested(5000, "1") + "]}"),
            kNotAnObject);
}

// nlohmann's lexer takes a NUL byte outside a string for the end of the input.
TEST(ApiRequest, ReadsUpToTheFirstNulByte) {
  std::string body = R"({"messages":[{"role":"user","content":"x"}]})";
  EXPECT_EQ(parsed(body + '\0' + "anything \xff").message.text, "x");
  EXPECT_EQ(not_object_refusal(body.substr(0, 20) + '\0' + body.substr(20)), kNotAnObject);
}

TEST(ApiRequest, MessagesMustBeANonEmptyArrayOfObjectsWithARole) {
  for (auto body : {R"({})", R"({"messages":"nope"})", R"({"messages":[]})", R"({"messages":null})",
                    R"({"messages":{"role":"user"}})"}) {
    EXPECT_EQ(refusal(body), "'messages' must be a non-empty array") << body;
  }
  for (auto body : {R"({"messages":["x"]})", R"({"messages":[{"content":"x"}]})",
                    R"({"messages":[{"role":1,"content":"x"}]})", R"({"messages":[{"role":null,"content":"x"}]})",
                    R"({"messages":[{"role":"user","content":"x"},[]]})"}) {
    EXPECT_EQ(refusal(body), "every message needs a string 'role'") << body;
  }
  // The first failing message decides, in order.
  EXPECT_EQ(refusal(R"({"messages":[{"role":"user","content":7},{"content":"x"}]})"),
            "message 'content' must be a string or a list of content parts");
}

TEST(ApiRequest, TypesOfTheOptionalFields) {
  constexpr std::string_view kMessages = R"("messages":[{"role":"user","content":"x"}])";
  auto with = [&](std::string_view fields) { return "{" + std::string(fields) + "," + std::string(kMessages) + "}"; };
  EXPECT_EQ(refusal(with(R"("model":7)")), "'model' must be a string");
  EXPECT_EQ(refusal(with(R"("model":null)")), "'model' must be a string");
  EXPECT_EQ(refusal(with(R"("stream":"yes")")), "'stream' must be true or false");
  EXPECT_EQ(refusal(with(R"("stream":1)")), "'stream' must be true or false");
  EXPECT_FALSE(parsed(with(R"("stream":null)")).stream);
  EXPECT_FALSE(parsed(with(R"("stream":false)")).stream);
  EXPECT_EQ(refusal(with(R"("stream_options":{"include_usage":"yes"})")),
            "'stream_options.include_usage' must be true or false");
  EXPECT_FALSE(parsed(with(R"("stream_options":{"include_usage":null})")).include_usage);
  EXPECT_FALSE(parsed(with(R"("stream_options":{})")).include_usage);
  EXPECT_FALSE(parsed(with(R"("stream_options":"include_usage")")).include_usage);
  EXPECT_FALSE(parsed(with(R"("stream_options":[{"include_usage":true}])")).include_usage);
  // Messages are checked first, then model, stream and stream_options.
  EXPECT_EQ(refusal(R"({"model":7,"stream":"yes"})"), "'messages' must be a non-empty array");
  EXPECT_EQ(refusal(with(R"("stream":"yes","model":7)")), "'model' must be a string");
  EXPECT_EQ(refusal(with(R"("stream_options":{"include_usage":1},"stream":"yes")")), "'stream' must be true or false");

  // user: only a string replaces the X-Hermes-Session hint.
  ParsedRequest r;
  r.message.session_hint = "from-header";
  ASSERT_FALSE(parse_body(with(R"("user":7)"), r));
  EXPECT_EQ(r.message.session_hint, "from-header");
  ASSERT_FALSE(parse_body(with(R"("user":"bob")"), r));
  EXPECT_EQ(r.message.session_hint, "bob");
}

TEST(ApiRequest, MaxTokensIsAPositiveIntegerAndTemperatureBetween0And2) {
  constexpr std::string_view kMessages = R"("messages":[{"role":"user","content":"x"}])";
  auto with = [&](std::string_view fields) {
    return parsed("{" + std::string(fields) + "," + std::string(kMessages) + "}");
  };
  EXPECT_EQ(with(R"("max_tokens":10,"max_completion_tokens":20)").message.max_tokens, 20);
  EXPECT_EQ(with(R"("max_completion_tokens":1.5,"max_tokens":7)").message.max_tokens, 7);
  EXPECT_EQ(with(R"("max_completion_tokens":"9","max_tokens":7)").message.max_tokens, 7);
  EXPECT_FALSE(with(R"("max_tokens":100.0)").message.max_tokens);
  EXPECT_FALSE(with(R"("max_tokens":1e2)").message.max_tokens);
  EXPECT_FALSE(with(R"("max_tokens":null)").message.max_tokens);
  auto refused = [&](std::string_view fields) {
    return refusal("{" + std::string(fields) + "," + std::string(kMessages) + "}");
  };
  // Zero or negative is never forwarded upstream.
  for (auto bad : {R"("max_tokens":-0)", R"("max_tokens":-5)", R"("max_tokens":0)", R"("max_completion_tokens":-1)",
                   R"("max_tokens":18446744073709551615)"}) {  // past int64 the value wraps to -1
    EXPECT_EQ(refused(bad), "'max_tokens' and 'max_completion_tokens' must be positive") << bad;
  }
  EXPECT_EQ(with(R"("max_tokens":9223372036854775807)").message.max_tokens, INT64_MAX);
  // Past uint64 an integer is a float: not a token count, but no reason to refuse the body.
  EXPECT_FALSE(with(R"("max_tokens":18446744073709551616)").message.max_tokens);
  EXPECT_FALSE(with(R"("max_tokens":-9223372036854775809)").message.max_tokens);

  EXPECT_EQ(with(R"("temperature":1)").message.temperature, 1.0);
  EXPECT_EQ(with(R"("temperature":0.7)").message.temperature, 0.7);
  EXPECT_EQ(with(R"("temperature":2)").message.temperature, 2.0);
  EXPECT_EQ(with(R"("temperature":1e-400)").message.temperature, 0.0);
  for (auto bad : {R"("temperature":-2)", R"("temperature":2.01)", R"("temperature":18446744073709551615)",
                   R"("temperature":99999999999999999999)", R"("temperature":1e308)"}) {
    EXPECT_EQ(refused(bad), "'temperature' must be between 0 and 2") << bad;
  }
  EXPECT_FALSE(with(R"("temperature":"0.7")").message.temperature);
  EXPECT_FALSE(with(R"("temperature":null)").message.temperature);
}

// A JSON object's duplicate key: the last one counts (nlohmann's DOM kept the last).
TEST(ApiRequest, TheLastOfDuplicateKeysCounts) {
  auto r = parsed(R"({"messages":"x","model":"a","stream":"yes","model":"b","stream":true,)"
                  R"("messages":[{"role":7,"content":7,"role":"user","content":"ok"}]})");
  EXPECT_EQ(r.message.model, "b");
  EXPECT_TRUE(r.stream);
  EXPECT_EQ(r.message.text, "ok");
  EXPECT_EQ(refusal(R"({"messages":[{"role":"user","content":"x"}],"messages":[]})"),
            "'messages' must be a non-empty array");
  EXPECT_EQ(parsed(R"({"messages":[{"role":"user","content":[{"type":"image","text":"a","type":"text"}]}]})")
                .message.text,
            "a");
  EXPECT_FALSE(parsed(R"({"stream_options":{"include_usage":true,"include_usage":null},)"
                      R"("messages":[{"role":"user","content":"x"}]})")
                   .include_usage);
}

TEST(ApiRequest, LargeBodies) {
  // Past 64 KiB, past the size a thread keeps its parser for, and a long conversation.
  for (std::size_t size : {std::size_t{70'000}, std::size_t{300'000}, std::size_t{3'000'000}}) {
    std::string half(size / 2, 'x');
    std::string body = R"({"model":"m","messages":[{"role":"user","content":")" + half + "\\n" + half + R"("}]})";
    auto r = parsed(body);
    EXPECT_EQ(r.message.text, half + "\n" + half);
    EXPECT_EQ(r.message.model, "m");
    EXPECT_EQ(not_object_refusal(body.substr(0, body.size() - 1)), kNotAnObject);
    body.insert(body.size() - 4, "\xff");
    EXPECT_EQ(not_object_refusal(body), kNotAnObject);
  }
  std::string body = R"({"messages":[)";
  for (int i = 0; i < 5000; ++i) {
    body += R"({"role":"user","content":"turn )" + std::to_string(i) + R"("},)";
  }
  body += R"({"role":"user","content":"last"}]})";
  auto r = parsed(body);
  EXPECT_EQ(r.message.text, "last");
  ASSERT_EQ(r.message.context.size(), 5000u);
  EXPECT_EQ(r.message.context[4999].content, "turn 4999");
  // Small after large: the thread's parser serves both.
  EXPECT_EQ(parsed(R"({"messages":[{"role":"user","content":"small"}]})").message.text, "small");
}

TEST(ApiRequest, ToolLoopsKeepTheTurnsAfterTheUsersAndTheirCalls) {
  auto r = parsed(R"({"messages":[{"role":"user","content":"weather?"},)"
                  R"({"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",)"
                  R"("function":{"name":"get_weather","arguments":"{\"q\":\"Paris\"}"}}]},)"
                  R"({"role":"tool","tool_call_id":"c1","content":"sunny"}],)"
                  R"("tools":[{"type":"function","function":{"name":"get_weather","parameters":{}}}],)"
                  R"("tool_choice":"auto","parallel_tool_calls":false,"stop":["\n"],"seed":7,"top_p":0.5})");
  EXPECT_EQ(r.message.text, "weather?");
  ASSERT_EQ(r.message.followups.size(), 2u);
  ASSERT_EQ(r.message.followups[0].tool_calls.size(), 1u);
  EXPECT_EQ(r.message.followups[0].tool_calls[0], (ToolCall{"c1", "get_weather", R"({"q":"Paris"})"}));
  EXPECT_EQ(r.message.followups[1].role, "tool");
  EXPECT_EQ(r.message.followups[1].tool_call_id, "c1");
  EXPECT_EQ(r.message.options().tools, R"([{"type":"function","function":{"name":"get_weather","parameters":{}}}])");
  EXPECT_EQ(r.message.options().tool_choice, R"("auto")");
  EXPECT_EQ(r.message.options().parallel_tool_calls, false);
  EXPECT_EQ(r.message.options().stop, R"(["\n"])");
  EXPECT_EQ(r.message.options().seed, 7);
  EXPECT_EQ(r.message.options().top_p, 0.5);
}

TEST(ApiRequest, ImagePartsAreKeptWholeBesideTheirText) {
  auto r = parsed(R"({"messages":[{"role":"user","content":[{"type":"text","text":"what?"},)"
                  R"({"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]})");
  EXPECT_EQ(r.message.text, "what?");
  EXPECT_EQ(r.message.text_parts, R"([{"type":"text","text":"what?"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}])");
  EXPECT_TRUE(parsed(R"({"messages":[{"role":"user","content":[{"type":"text","text":"a"}]}]})").message.text_parts.empty());
}

TEST(ApiRequest, OptionsAndToolTurnsAreChecked) {
  constexpr std::string_view kMessages = R"("messages":[{"role":"user","content":"x"}])";
  auto with = [&](std::string_view fields) { return "{" + std::string(fields) + "," + std::string(kMessages) + "}"; };
  EXPECT_EQ(refusal(with(R"("tools":{})")), "'tools' must be an array");
  EXPECT_EQ(refusal(with(R"("tools":[{"type":"function"}])")), "every tool needs \"type\": \"function\" and 'function.name'");
  EXPECT_EQ(refusal(with(R"("tool_choice":"sometimes")")),
            "'tool_choice' must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", ...}");
  EXPECT_EQ(refusal(with(R"("response_format":{"type":"xml"})")),
            "'response_format.type' must be \"text\", \"json_object\" or \"json_schema\"");
  EXPECT_EQ(refusal(with(R"("stop":[1])")), "'stop' must be a string or an array of strings");
  EXPECT_EQ(refusal(with(R"("n":0)")), "'n' must be from 1 to 16");
  EXPECT_EQ(refusal(with(R"("n":17)")), "'n' must be from 1 to 16");
  EXPECT_EQ(refusal(with(R"("n":2.5)")), "'n' must be an integer");
  EXPECT_EQ(parsed(with(R"("n":3)")).message.options().choices, 3);  // the agent's max_choices decides
  EXPECT_EQ(refusal(with(R"("top_p":2)")), "'top_p' must be a number from 0 to 1");
  EXPECT_EQ(refusal(with(R"("frequency_penalty":-3)")), "'frequency_penalty' must be a number from -2 to 2");
  EXPECT_EQ(refusal(with(R"("top_logprobs":21)")), "'top_logprobs' must be from 0 to 20");
  EXPECT_TRUE(parsed(with(R"("n":1,"tools":null)")).message.options().tools.empty());
  // Other fields are kept aside for agents that opt in (agents[].passthrough), never sent by default.
  auto extra = parsed(with(R"("service_tier":"flex","store":true)")).message.options().passthrough;
  ASSERT_EQ(extra.size(), 2u);
  EXPECT_EQ(extra[0], (std::pair<std::string, std::string>{"service_tier", R"("flex")"}));
  EXPECT_EQ(refusal(R"({"messages":[{"role":"user","content":"x"},{"role":"tool","content":"r"}]})"),
            "a 'tool' message needs a string 'tool_call_id'");
  EXPECT_EQ(refusal(R"({"messages":[{"role":"user","content":"x","tool_calls":[]}]})"),
            "only assistant messages have 'tool_calls'");
  EXPECT_EQ(refusal(R"({"messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"a"}]}]})"),
            "every tool call needs 'function.name'");
}

}  // namespace
}  // namespace hermes::channels::api
