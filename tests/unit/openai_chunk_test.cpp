// The openai backend's chunk and answer reader.
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include <nlohmann/json.hpp>

#include "src/backends/openai/chunk.hpp"

namespace hermes::backends::openai {
namespace {

ChunkFields read(std::string_view data) {
  ChunkFields f;
  EXPECT_TRUE(read_chunk(data, f)) << data;
  return f;
}

TEST(OpenAiChunk, ReadsContentFinishReasonAndUsage) {
  auto f = read(R"({"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel\"lo"},"finish_reason":null}]})");
  EXPECT_EQ(f.content, "Hel\"lo");
  EXPECT_EQ(f.finish_reason, "");
  EXPECT_FALSE(f.has_error);
  f = read(R"({"choices":[{"index":0,"delta":{},"finish_reason":"length"}]})");
  EXPECT_EQ(f.content, "");
  EXPECT_EQ(f.finish_reason, "length");
  f = read(R"({"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}})");
  EXPECT_EQ(f.prompt_tokens, 12);
  EXPECT_EQ(f.completion_tokens, 8);
}

TEST(OpenAiChunk, ChoiceZeroIsTheAnswerAndOnlyTheRightPathsCount) {
  auto f = read(R"({"choices":[{"delta":{"content":"a"}},{"delta":{"content":"b"}}],)"
                R"("extra":{"delta":{"content":"x"},"usage":{"prompt_tokens":99}},"content":"y"})");
  EXPECT_EQ(f.content, "a");
  ASSERT_EQ(f.other_choices.size(), 1u);  // without "index", a choice's position is its index
  EXPECT_EQ(f.other_choices[0].index, 1);
  EXPECT_EQ(f.other_choices[0].content, "b");
  EXPECT_FALSE(f.prompt_tokens.has_value());
  f = read(R"({"choices":[{"delta":{"content":"a","tool_calls":[{"function":{"arguments":"{}"}}]}}]})");
  EXPECT_EQ(f.content, "a");
}

// With `n`, OpenAI streams one choice per chunk, each with its index, and answers whole
// with all of them.
TEST(OpenAiChunk, SeveralChoicesAreReadByTheirIndex) {
  auto f = read(R"({"choices":[{"index":2,"delta":{"content":"c"},"finish_reason":null}]})");
  EXPECT_FALSE(f.content.size());
  EXPECT_TRUE(f.has_choice);
  ASSERT_EQ(f.other_choices.size(), 1u);
  EXPECT_EQ(f.other_choices[0].index, 2);
  EXPECT_EQ(f.other_choices[0].content, "c");
  f = read(R"({"choices":[{"index":1,"delta":{"tool_calls":[{"index":0,"id":"t","function":{"name":"f","arguments":""}}]},)"
           R"("finish_reason":"tool_calls"}]})");
  ASSERT_EQ(f.other_choices.size(), 1u);
  ASSERT_EQ(f.other_choices[0].tool_calls.size(), 1u);
  EXPECT_EQ(f.other_choices[0].tool_calls[0].name, "f");
  EXPECT_EQ(f.other_choices[0].finish_reason, "tool_calls");
  EXPECT_EQ(f.finish_reason, "");  // choice 0's is not touched
  f = read(R"({"choices":[{"index":1,"message":{"content":"b"},"finish_reason":"length"},)"
           R"({"index":0,"message":{"content":"a"},"finish_reason":"stop"}]})");
  EXPECT_EQ(f.content, "a");
  EXPECT_EQ(f.finish_reason, "stop");
  ASSERT_EQ(f.other_choices.size(), 1u);
  EXPECT_EQ(f.other_choices[0].content, "b");
  EXPECT_EQ(f.other_choices[0].finish_reason, "length");
  // An index that is not a small non-negative integer counts as the choice's position.
  f = read(R"({"choices":[{"index":-1,"delta":{"content":"a"}},{"index":"1","delta":{"content":"b"}}]})");
  EXPECT_EQ(f.content, "a");
  ASSERT_EQ(f.other_choices.size(), 1u);
  EXPECT_EQ(f.other_choices[0].index, 1);
}

TEST(OpenAiChunk, ReadsAWholeAnswer) {
  auto f = read(R"({"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant",)"
                R"("content":"Hi \u00e9"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2}})");
  EXPECT_TRUE(f.has_choice);
  EXPECT_EQ(f.content, "Hi \xC3\xA9");
  EXPECT_EQ(f.finish_reason, "stop");
  EXPECT_EQ(f.prompt_tokens, 3);
  EXPECT_EQ(f.completion_tokens, 2);
  EXPECT_FALSE(read(R"({"choices":[]})").has_choice);
  EXPECT_FALSE(read(R"({"choices":["text"]})").has_choice);
  EXPECT_FALSE(read(R"({"choice":[{"message":{"content":"x"}}]})").has_choice);
  EXPECT_EQ(read(R"({"choices":[{"message":{"content":"a"}},{"message":{"content":"b"}}]})").content, "a");
}

TEST(OpenAiChunk, ErrorsInAnyShape) {
  auto f = read(R"({"error":{"message":"Overloaded","type":"server_error"}})");
  EXPECT_TRUE(f.has_error);
  EXPECT_EQ(f.error_message, "Overloaded");
  EXPECT_TRUE(read(R"({"error":"boom"})").has_error);
  EXPECT_EQ(read(R"({"error":"boom"})").error_message, "boom");
  EXPECT_TRUE(read(R"({"error":{}})").has_error);
  EXPECT_TRUE(read(R"({"error":500})").has_error);
  EXPECT_FALSE(read(R"({"error":null,"choices":[]})").has_error);
}

TEST(OpenAiChunk, MalformedIsRefused) {
  ChunkFields f;
  EXPECT_FALSE(read_chunk(R"({"choices":[)", f));
  EXPECT_FALSE(read_chunk(R"([1,2])", f));
  EXPECT_FALSE(read_chunk(R"("text")", f));
  EXPECT_FALSE(read_chunk(R"({} {})", f));
  EXPECT_FALSE(read_chunk("", f));
}

TEST(OpenAiChunk, ContentIsDecoded) {
  auto f = read(R"({"choices":[{"delta":{"content":"\u00e9\ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t \u0000."}}]})");
  EXPECT_EQ(f.content, std::string("\xC3\xA9\xF0\x9F\x98\x80 \"q\" \\ / \b\f\n\r\t ") + '\0' + ".");
  // Keys are compared unescaped.
  EXPECT_EQ(read(R"({"ch\u006fices":[{"delta":{"c\u006fntent":"k"}}]})").content, "k");
}

TEST(OpenAiChunk, OnlyStringsAndIntegersOfTheRightShapeCount) {
  auto f = read(R"({"choices":[{"delta":{"content":7},"finish_reason":null}],"usage":{"prompt_tokens":12.0,)"
                R"("completion_tokens":"8"}})");
  EXPECT_EQ(f.content, "");
  EXPECT_EQ(f.finish_reason, "");
  EXPECT_TRUE(f.has_choice);
  EXPECT_FALSE(f.prompt_tokens.has_value());
  EXPECT_FALSE(f.completion_tokens.has_value());
  EXPECT_EQ(read(R"({"choices":[{"delta":{"content":{"text":"x"}},"finish_reason":1}]})").content, "");
  EXPECT_EQ(read(R"({"choices":[{"delta":[{"content":"x"}]}]})").content, "");
  EXPECT_EQ(read(R"({"choices":[{"message":{"content":null}}]})").content, "");
  EXPECT_EQ(read(R"({"choices":{"0":{"delta":{"content":"x"}}}})").content, "");
  EXPECT_FALSE(read(R"({"choices":{"0":{"delta":{"content":"x"}}}})").has_choice);
  EXPECT_EQ(read(R"({"choices":[null,{"delta":{"content":"x"}}]})").content, "");
  EXPECT_EQ(read(R"({"choices":[{"delta":{"deeper":{"content":"x"}}}]})").content, "");
  EXPECT_EQ(read(R"({"usage":{"prompt_tokens":-3,"completion_tokens":0}})").prompt_tokens, -3);
  // Past int64 the count wraps, as before; past uint64 it is a float, ignored, and the chunk still reads.
  EXPECT_EQ(read(R"({"usage":{"prompt_tokens":18446744073709551615}})").prompt_tokens, -1);
  f = read(R"({"usage":{"prompt_tokens":18446744073709551616,"completion_tokens":-9223372036854775809},)"
           R"("choices":[{"delta":{"content":"still here"}}],"seed":123456789012345678901234567890})");
  EXPECT_FALSE(f.prompt_tokens.has_value());
  EXPECT_FALSE(f.completion_tokens.has_value());
  EXPECT_EQ(f.content, "still here");
  EXPECT_EQ(read(R"({"usage":{"prompt_tokens":1e2,"total":1e-400}})").prompt_tokens, std::nullopt);
}

TEST(OpenAiChunk, ErrorShapesAndTheirMessages) {
  EXPECT_TRUE(read(R"({"error":false})").has_error);
  EXPECT_TRUE(read(R"({"error":1.5})").has_error);
  EXPECT_TRUE(read(R"({"error":99999999999999999999})").has_error);
  EXPECT_FALSE(read(R"({"error":["boom"]})").has_error);
  auto f = read(R"({"error":{"message":42,"inner":{"message":"deep"}}})");
  EXPECT_TRUE(f.has_error);
  EXPECT_EQ(f.error_message, "");
  EXPECT_FALSE(read(R"({"data":{"error":"nested"}})").has_error);
  EXPECT_FALSE(read(R"({"choices":[{"error":"in a choice"}]})").has_error);
}

// A duplicate key is read in order, each occurrence in turn (the last value of a field wins,
// and an empty later "choices" does not undo an earlier one).
TEST(OpenAiChunk, DuplicateKeysAreReadInOrder) {
  EXPECT_EQ(read(R"({"choices":[{"delta":{"content":"a","content":"b"}}]})").content, "b");
  EXPECT_EQ(read(R"({"choices":[{"delta":{"content":"a"},"message":{"content":"m"}}]})").content, "m");
  auto f = read(R"({"choices":[{"delta":{"content":"a"},"finish_reason":"stop"}],"choices":[]})");
  EXPECT_EQ(f.content, "a");
  EXPECT_EQ(f.finish_reason, "stop");
  EXPECT_TRUE(f.has_choice);
  f = read(R"({"error":"first","error":null})");
  EXPECT_TRUE(f.has_error);
  EXPECT_EQ(f.error_message, "first");
}

TEST(OpenAiChunk, InvalidTextAnywhereIsRefused) {
  ChunkFields f;
  const std::initializer_list<std::string> chunks{
      "{\"choices\":[{\"delta\":{\"content\":\"\xff\"}}]}", "{\"ignored\":\"\xc0\xaf\"}",
      "{\"ignored\":\"\xed\xa0\x80\"}", "{\"ignored\":\"a\x01\"}", R"({"ignored":"\ud800"})",
      R"({"ignored":"\udc00x"})", R"({"ignored":"\q"})", R"({"a":1e400})", R"({"a":01})", R"({"a":1,})",
      R"({"a":nul})", std::string("{\"a\":1\0}", 8), std::string("{\"a\0\":1}", 8), "\xEF\xBB\xBF{}",
      "{\"choices\":[{\"delta\":{\"content\":\"x\"}}]"};
  for (const std::string& data : chunks) {
    EXPECT_FALSE(read_chunk(data, f)) << data;
  }
  EXPECT_TRUE(read_chunk(" \r\n\t{} \n", f));
  // nlohmann's lexer takes a NUL byte outside a string for the end of the input.
  EXPECT_EQ(read(std::string(R"({"choices":[{"delta":{"content":"x"}}]})") + '\0' + "} \xff").content, "x");
}

TEST(OpenAiChunk, DeepAndLargeDocuments) {
  std::string deep = std::string(5000, '[') + std::string(5000, ']');
  auto f = read(R"({"skip":)" + deep + R"(,"choices":[{"delta":{"content":"x"}}]})");
  EXPECT_EQ(f.content, "x");
  ChunkFields g;
  EXPECT_FALSE(read_chunk(R"({"skip":)" + deep + "]}", g));
  for (std::size_t size : {std::size_t{70'000}, std::size_t{300'000}, std::size_t{3'000'000}}) {
    std::string text(size, 'y');
    std::string answer = R"({"choices":[{"message":{"content":")" + text + R"("},"finish_reason":"stop"}]})";
    f = read(answer);
    EXPECT_EQ(f.content, text);
    EXPECT_EQ(f.finish_reason, "stop");
    EXPECT_FALSE(read_chunk(answer.substr(0, answer.size() - 2), g));
  }
  EXPECT_EQ(read(R"({"choices":[{"delta":{"content":"small again"}}]})").content, "small again");
}

TEST(OpenAiChunk, ToolCallDeltasAndWholeCalls) {
  auto f = read(R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_1","type":"function",)"
                R"("function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]})");
  ASSERT_EQ(f.tool_calls.size(), 1u);
  EXPECT_EQ(f.tool_calls[0].index, 1);
  EXPECT_EQ(f.tool_calls[0].id, "call_1");
  EXPECT_EQ(f.tool_calls[0].name, "get_weather");
  f = read(R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"q\":"}}]}}]})");
  ASSERT_EQ(f.tool_calls.size(), 1u);
  EXPECT_EQ(f.tool_calls[0].index, 1);
  EXPECT_TRUE(f.tool_calls[0].id.empty());
  EXPECT_EQ(f.tool_calls[0].arguments, "{\"q\":");
  // A whole answer: calls without an index are numbered by position.
  f = read(R"({"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[)"
           R"({"id":"a","type":"function","function":{"name":"x","arguments":"{}"}},)"
           R"({"id":"b","type":"function","function":{"name":"y","arguments":"[1]"}}]},"finish_reason":"tool_calls"}]})");
  ASSERT_EQ(f.tool_calls.size(), 2u);
  EXPECT_EQ(f.tool_calls[1].index, 1);
  EXPECT_EQ(f.tool_calls[1].name, "y");
  EXPECT_EQ(f.tool_calls[1].arguments, "[1]");
  EXPECT_EQ(f.finish_reason, "tool_calls");
  EXPECT_TRUE(f.content.empty());
}

TEST(OpenAiChunk, ArgumentsSplitAtEveryByteReassemble) {
  const std::string arguments = R"({"city":"Zürich","days":[1,2],"note":"a \"quoted\" \\ value"})";
  for (std::size_t cut = 0; cut <= arguments.size(); ++cut) {
    std::string joined;
    for (auto piece : {arguments.substr(0, cut), arguments.substr(cut)}) {
      std::string escaped = nlohmann::json(piece).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      auto f = read(R"({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":)" + escaped + "}}]}}]}");
      ASSERT_EQ(f.tool_calls.size(), 1u);
      joined += f.tool_calls[0].arguments;
    }
    // A cut inside a UTF-8 sequence is the upstream's bug, replaced on the way: only whole cuts compare.
    bool whole = cut == arguments.size() || (static_cast<unsigned char>(arguments[cut]) & 0xC0) != 0x80;
    if (whole) {
      EXPECT_EQ(joined, arguments) << cut;
    }
  }
}

TEST(OpenAiChunk, CachedPromptTokensAreReadWhenReported) {
  auto f = read(R"({"choices":[],"usage":{"prompt_tokens":2006,"completion_tokens":300,)"
                R"("prompt_tokens_details":{"cached_tokens":1920,"audio_tokens":0}}})");
  EXPECT_EQ(f.prompt_tokens, 2006);
  EXPECT_EQ(f.cached_tokens, 1920);
  EXPECT_FALSE(read(R"({"choices":[],"usage":{"prompt_tokens":1,"prompt_tokens_details":null}})").cached_tokens);
}

}  // namespace
}  // namespace hermes::backends::openai
