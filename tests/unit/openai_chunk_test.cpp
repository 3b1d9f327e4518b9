// The openai backend's chunk and answer reader (SAX, no DOM).
#include <gtest/gtest.h>

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

TEST(OpenAiChunk, OnlyTheFirstChoiceAndTheRightPathsCount) {
  auto f = read(R"({"choices":[{"delta":{"content":"a"}},{"delta":{"content":"b"}}],)"
                R"("extra":{"delta":{"content":"x"},"usage":{"prompt_tokens":99}},"content":"y"})");
  EXPECT_EQ(f.content, "a");
  EXPECT_FALSE(f.prompt_tokens.has_value());
  f = read(R"({"choices":[{"delta":{"content":"a","tool_calls":[{"function":{"arguments":"{}"}}]}}]})");
  EXPECT_EQ(f.content, "a");
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

}  // namespace
}  // namespace hermes::backends::openai
