#pragma once
// An incremental Server-Sent Events parser (WHATWG HTML, "Parsing an event
// stream"). Bytes may be fed in arbitrary pieces, split anywhere, including
// between the "\r" and "\n" of a CRLF. Lines end in "\n", "\r\n" or "\r".
//
//   SseParser parser;
//   std::vector<SseEvent> events;
//   if (parser.feed(piece, events) != SseStatus::ok) { ... protocol error ... }
//   for (auto& e : events) { ... }
//
// Memory is bounded: a line, or the data of one event, longer than the limit
// is a protocol error rather than an unbounded buffer.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hermes::net {

struct SseEvent {
  std::string type = "message";  // the `event:` field, "message" when absent
  std::string data;              // `data:` lines joined with "\n"
  std::string id;                // the last event id seen so far (it persists across events)
};

enum class SseStatus { ok, line_too_long, event_too_large };

class SseParser {
 public:
  static constexpr std::size_t kDefaultLimit = 1024 * 1024;

  // `limit` bounds both one line and the accumulated data of one event.
  explicit SseParser(std::size_t limit = kDefaultLimit) : limit_(limit) {}

  // Parses `bytes`, appending every completed event to `out`. After an error
  // the parser stays failed: the stream cannot be resynchronised.
  SseStatus feed(std::string_view bytes, std::vector<SseEvent>& out);

  // End of stream. The spec discards an event that was not terminated by a
  // blank line; servers that omit the final blank line are common enough that
  // callers may ask for it instead: returns it, if it has data.
  std::optional<SseEvent> finish();

  // The last event id (persists across events, as EventSource's lastEventId).
  const std::string& last_event_id() const { return last_id_; }
  // The reconnection time from the last valid `retry:` field, in milliseconds.
  std::optional<std::int64_t> retry() const { return retry_; }
  SseStatus status() const { return status_; }

 private:
  void consume(std::string_view bytes, std::vector<SseEvent>& out);
  void process_line(std::string_view line, std::vector<SseEvent>& out);
  void process_field(std::string_view field, std::string_view value);
  void dispatch(std::vector<SseEvent>& out);

  std::size_t limit_;
  SseStatus status_ = SseStatus::ok;
  std::string line_;            // an incomplete line carried over between feeds
  bool skip_lf_ = false;        // the previous piece ended in "\r": a leading "\n" belongs to it
  bool at_start_ = true;        // a UTF-8 BOM is skipped at the very start only
  std::string bom_partial_;     // the start of the stream, while it might still be a BOM
  std::string data_;             // the spec's data buffer: each value followed by "\n"
  std::string type_;
  std::string last_id_;
  std::optional<std::int64_t> retry_;
};

}  // namespace hermes::net
