// The Server-Sent Events parser against the WHATWG rules, fed whole, split at
// every byte position and one byte at a time.
#include <gtest/gtest.h>

#include <random>

#include "hermes/net/sse.hpp"

namespace hermes::net {
namespace {

std::vector<SseEvent> parse_whole(std::string_view text, SseStatus* status = nullptr) {
  SseParser parser;
  std::vector<SseEvent> out;
  auto s = parser.feed(text, out);
  if (status) *status = s;
  return out;
}

std::vector<SseEvent> parse_split(std::string_view text, std::size_t at) {
  SseParser parser;
  std::vector<SseEvent> out;
  EXPECT_EQ(parser.feed(text.substr(0, at), out), SseStatus::ok);
  EXPECT_EQ(parser.feed(text.substr(at), out), SseStatus::ok);
  return out;
}

std::vector<SseEvent> parse_bytewise(std::string_view text) {
  SseParser parser;
  std::vector<SseEvent> out;
  for (char c : text) {
    EXPECT_EQ(parser.feed(std::string_view(&c, 1), out), SseStatus::ok);
  }
  return out;
}

std::string describe(const std::vector<SseEvent>& events) {
  std::string out;
  for (const auto& e : events) out += "[" + e.type + "|" + e.data + "|" + e.id + "]";
  return out;
}

// Every split position and byte-at-a-time give the same events as the whole text.
void expect_split_invariant(std::string_view text) {
  auto whole = describe(parse_whole(text));
  for (std::size_t at = 0; at <= text.size(); ++at) {
    ASSERT_EQ(describe(parse_split(text, at)), whole) << "split at " << at;
  }
  EXPECT_EQ(describe(parse_bytewise(text)), whole);
}

TEST(Sse, OneEvent) {
  auto events = parse_whole("data: hello\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "message");
  EXPECT_EQ(events[0].data, "hello");
  EXPECT_EQ(events[0].id, "");
}

TEST(Sse, NothingIsDispatchedBeforeTheBlankLine) {
  SseParser parser;
  std::vector<SseEvent> out;
  parser.feed("data: a\n", out);
  EXPECT_TRUE(out.empty());
  parser.feed("\n", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data, "a");
}

TEST(Sse, MultiLineDataIsJoinedWithNewlines) {
  auto events = parse_whole("data: first\ndata: second\ndata:\ndata: fourth\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "first\nsecond\n\nfourth");
}

TEST(Sse, OnlyOneLeadingSpaceIsRemoved) {
  auto events = parse_whole("data:no-space\n\ndata:  two spaces\n\ndata:\ttab\n\n");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].data, "no-space");
  EXPECT_EQ(events[1].data, " two spaces");
  EXPECT_EQ(events[2].data, "\ttab");
}

TEST(Sse, EventTypeIdAndRetry) {
  SseParser parser;
  std::vector<SseEvent> out;
  parser.feed("event: ping\nid: 7\nretry: 2500\ndata: x\n\ndata: y\n\n", out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].type, "ping");
  EXPECT_EQ(out[0].id, "7");
  // The type resets after each event; the id persists.
  EXPECT_EQ(out[1].type, "message");
  EXPECT_EQ(out[1].id, "7");
  EXPECT_EQ(parser.retry(), 2500);
  EXPECT_EQ(parser.last_event_id(), "7");
}

TEST(Sse, InvalidRetryAndIdWithNulAreIgnored) {
  SseParser parser;
  std::vector<SseEvent> out;
  parser.feed("retry: 12a\nretry: -5\nid: good\ndata: x\n\n", out);
  parser.feed(std::string_view("id: b\0d\ndata: y\n\n", 17), out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(parser.retry().has_value());
  EXPECT_EQ(out[1].id, "good");
}

TEST(Sse, CommentsAndUnknownFieldsAreIgnored) {
  auto events = parse_whole(": keep-alive\n:\nfoo: bar\ndata: real\n: in between\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "real");
}

TEST(Sse, EventsWithoutDataAreNotDispatched) {
  auto events = parse_whole("event: lonely\n\n\n\ndata: x\n\n");
  ASSERT_EQ(events.size(), 1u);
  // The type of the event without data did not leak into the next one.
  EXPECT_EQ(events[0].type, "message");
}

TEST(Sse, FieldWithoutColonHasAnEmptyValue) {
  auto events = parse_whole("data\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "");
}

TEST(Sse, AllThreeLineEndings) {
  auto lf = describe(parse_whole("event: a\ndata: 1\n\ndata: 2\n\n"));
  EXPECT_EQ(describe(parse_whole("event: a\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n")), lf);
  EXPECT_EQ(describe(parse_whole("event: a\rdata: 1\r\rdata: 2\r\r")), lf);
  EXPECT_EQ(describe(parse_whole("event: a\r\ndata: 1\r\rdata: 2\n\r\n")), lf);
}

TEST(Sse, CrLfSplitBetweenPiecesIsOneLineEnding) {
  SseParser parser;
  std::vector<SseEvent> out;
  parser.feed("data: a\r", out);
  parser.feed("\ndata: b\r", out);
  parser.feed("\n\r", out);
  parser.feed("\n", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data, "a\nb");
}

TEST(Sse, DoneSentinelIsPlainData) {
  auto events = parse_whole("data: {\"x\":1}\n\ndata: [DONE]\n\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].data, "[DONE]");
}

TEST(Sse, ByteOrderMarkIsSkippedOnlyAtTheStart) {
  auto events = parse_whole("\xEF\xBB\xBF" "data: a\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "a");
  expect_split_invariant("\xEF\xBB\xBF" "data: a\n\n");
  // A stream that merely starts like a BOM is not eaten.
  auto not_bom = parse_whole("\xEF" "data: a\n\n");
  EXPECT_TRUE(not_bom.empty());  // the first line's field name is "\xEF" "data"
  auto later = parse_whole("data: a\n\n\xEF\xBB\xBF" "data: b\n\n");
  ASSERT_EQ(later.size(), 1u);
}

TEST(Sse, OpenAiStreamSplitAtEveryPosition) {
  const std::string stream =
      "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\r\n\r\n"
      ": OPENROUTER PROCESSING\r\n\r\n"
      "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n"
      "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo \\u00e9\"}}]}\r\r"
      "event: message\nid: 42\n"
      "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":3}}\n\n"
      "data: [DONE]\r\n\r\n";
  auto events = parse_whole(stream);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[4].data, "[DONE]");
  EXPECT_EQ(events[3].id, "42");
  expect_split_invariant(stream);
}

TEST(Sse, MixedFeaturesSplitAtEveryPosition) {
  expect_split_invariant("event: a\rid: 1\r\ndata: x\ndata:y\r\r: c\r\n\ndata\n\nretry: 10\ndata:  z\r\n\r\n");
}

TEST(Sse, LineOverTheLimitIsAnError) {
  SseParser parser(64);
  std::vector<SseEvent> out;
  EXPECT_EQ(parser.feed("data: " + std::string(40, 'a'), out), SseStatus::ok);
  EXPECT_EQ(parser.feed(std::string(40, 'a'), out), SseStatus::line_too_long);
  // The parser stays failed.
  EXPECT_EQ(parser.feed("\n\ndata: x\n\n", out), SseStatus::line_too_long);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(parser.finish().has_value());
}

TEST(Sse, CompleteLineOverTheLimitIsAnError) {
  SseParser parser(16);
  std::vector<SseEvent> out;
  EXPECT_EQ(parser.feed("data: 0123456789abcdef\n\n", out), SseStatus::line_too_long);
}

TEST(Sse, EventDataOverTheLimitIsAnError) {
  SseParser parser(64);
  std::vector<SseEvent> out;
  SseStatus status = SseStatus::ok;
  for (int i = 0; i < 10 && status == SseStatus::ok; ++i) {
    status = parser.feed("data: 0123456789\n", out);
  }
  EXPECT_EQ(status, SseStatus::event_too_large);
}

TEST(Sse, FinishReturnsAnUnterminatedEvent) {
  SseParser parser;
  std::vector<SseEvent> out;
  parser.feed("data: one\n\ndata: [DONE]", out);
  ASSERT_EQ(out.size(), 1u);
  auto tail = parser.finish();
  ASSERT_TRUE(tail.has_value());
  EXPECT_EQ(tail->data, "[DONE]");

  SseParser clean;
  clean.feed("data: one\n\n", out);
  EXPECT_FALSE(clean.finish().has_value());
}

TEST(Sse, GarbageNeverCrashesAndStaysBounded) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 200; ++round) {
    SseParser parser(256);
    std::vector<SseEvent> out;
    std::string junk;
    for (int i = 0; i < 512; ++i) junk += static_cast<char>(byte(rng));
    std::size_t pos = 0;
    while (pos < junk.size()) {
      std::size_t n = 1 + static_cast<std::size_t>(byte(rng)) % 40;
      parser.feed(std::string_view(junk).substr(pos, n), out);
      pos += n;
    }
    parser.finish();
    for (const auto& e : out) {
      EXPECT_LE(e.data.size(), 256u);
    }
  }
}

TEST(Sse, NonSseTextYieldsNoEvents) {
  auto events = parse_whole("<html><body>502 Bad Gateway</body></html>\n\n");
  EXPECT_TRUE(events.empty());
}

}  // namespace
}  // namespace hermes::net
