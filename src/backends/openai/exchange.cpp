#include "src/backends/openai/exchange.hpp"

#include "src/backends/common.hpp"
#include "src/backends/openai/chunk.hpp"

#include <cctype>

namespace hermes::backends::openai {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr std::size_t kErrorBodyLimit = 64 * 1024;
constexpr std::size_t kAnswerLimit = 8 * 1024 * 1024;
constexpr std::size_t kMessageLimit = 300;

bool is_success(int status) { return status >= 200 && status < 300; }

// The human-readable part of an OpenAI error object: {"message": ...} or a bare string.
std::string error_text(const json& error) {
  if (error.is_string()) {
    return error.get<std::string>();
  }
  if (error.is_object()) {
    if (auto m = error.find("message"); m != error.end() && m->is_string()) {
      return m->get<std::string>();
    }
  }
  return "(no message)";
}

bool key_character(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '*'; }

}  // namespace

void Exchange::on_head(const net::ClientResponseHead& head) {
  status_ = head.status;
  if (!is_success(status_)) {
    mode_ = Mode::error;
    return;
  }
  // Some servers ignore stream:true and answer with one JSON document.
  auto type = head.header("content-type").value_or("");
  mode_ = type.find("json") != std::string_view::npos ? Mode::json : Mode::sse;
}

bool Exchange::keep(std::string_view piece, std::size_t limit) {
  if (body_.size() + piece.size() > limit) {
    body_overflow_ = true;
    return false;
  }
  body_.append(piece);
  return true;
}

asio::awaitable<bool> Exchange::on_piece(std::string piece) {
  if (mode_ == Mode::error) {
    co_return keep(piece, kErrorBodyLimit);  // enough of an error body: stop reading
  }
  if (mode_ == Mode::json) {
    if (!keep(piece, kAnswerLimit)) {
      protocol_error_ = "the upstream answer exceeds 8 MiB";
      co_return false;
    }
    co_return true;
  }
  std::vector<net::SseEvent> events;
  if (sse_.feed(piece, events) != net::SseStatus::ok) {
    protocol_error_ = "malformed event stream (a line or event over 1 MiB)";
    co_return false;
  }
  for (auto& event : events) {
    if (done_) {
      break;  // nothing after [DONE] is meaningful; the body still ends normally
    }
    if (event.type == "error") {
      protocol_error_ = "upstream error in the stream: " + scrub(truncate_utf8(event.data, kMessageLimit));
      co_return false;
    }
    ChunkFields chunk;  // this runs once per token chunk: a few fields, no nlohmann DOM
    if (!apply_chunk(event.data, chunk)) {
      co_return false;
    }
    bool relayed = co_await relay(chunk);
    if (!relayed) {
      co_return false;
    }
  }
  co_return true;
}

bool Exchange::apply_chunk(std::string_view data, ChunkFields& chunk) {
  if (data == "[DONE]") {
    done_ = true;
    return true;
  }
  if (!read_chunk(data, chunk)) {
    protocol_error_ = "malformed JSON in the event stream";
    return false;
  }
  if (chunk.has_error) {
    std::string message = chunk.error_message.empty() ? "(no message)" : chunk.error_message;
    protocol_error_ = "upstream error in the stream: " + scrub(truncate_utf8(std::move(message), kMessageLimit));
    return false;
  }
  take_finish_and_usage(chunk);
  return true;
}

void Exchange::take_finish_and_usage(const ChunkFields& chunk) {
  if (!chunk.finish_reason.empty()) finish_reason_ = chunk.finish_reason;
  if (chunk.prompt_tokens) usage_.prompt_tokens = *chunk.prompt_tokens;
  if (chunk.completion_tokens) usage_.completion_tokens = *chunk.completion_tokens;
  if (chunk.cached_tokens) usage_.cached_tokens = *chunk.cached_tokens;
}

// A chunk's (or a whole answer's) pieces to the client: choice 0's tool calls and text,
// then the other choices the client asked for. False when the answer must end:
// protocol_error_ set, or the client gone.
asio::awaitable<bool> Exchange::relay(ChunkFields& chunk) {
  bool more = true;
  if (!chunk.tool_calls.empty()) more = co_await write_calls(std::move(chunk.tool_calls));
  if (more && !chunk.content.empty()) more = co_await write(std::move(chunk.content));
  for (const auto& other : chunk.other_choices) {
    if (!more) break;
    if (other.index >= choices_) continue;  // not asked for: an upstream's extra is dropped
    more = co_await write_other_choice(other);
  }
  co_return more;
}

asio::awaitable<bool> Exchange::write_other_choice(const ChoiceFields& other) {
  mark_streamed();
  bool delivered = true;
  for (const auto& call : other.tool_calls) {
    if (!delivered) break;
    ChoiceDelta delta{other.index, {}, &call, {}};
    delivered = co_await reply_.write_choice(delta);
  }
  if (delivered && !other.content.empty()) {
    ChoiceDelta delta{other.index, other.content, nullptr, {}};
    delivered = co_await reply_.write_choice(delta);
  }
  if (delivered && !other.finish_reason.empty()) {
    ChoiceDelta delta{other.index, {}, nullptr, other.finish_reason};
    delivered = co_await reply_.write_choice(delta);
  }
  if (!delivered) client_gone_ = true;
  co_return delivered;
}

void Exchange::mark_streamed() {
  if (streamed_) return;
  // Counted as streamed from the first piece: the client may have seen it, so the
  // pipeline must not retry or fall back after this.
  streamed_ = true;
  time_to_first_token_ = Clock::now() - started_;
}

// Tool call deltas to the client, and assembled for the Completion.
asio::awaitable<bool> Exchange::write_calls(std::vector<ToolCallDelta> calls) {
  for (auto& delta : calls) {
    if (!add_tool_call_delta(calls_, delta)) {
      protocol_error_ = "the upstream's tool calls exceed 128 calls or 1 MiB of arguments";
      co_return false;
    }
    mark_streamed();
    bool delivered = co_await reply_.write_tool_call(delta);
    if (!delivered) {
      client_gone_ = true;
      co_return false;
    }
  }
  co_return true;
}

asio::awaitable<bool> Exchange::write(std::string text) {
  mark_streamed();
  bool delivered = co_await reply_.write_delta(text);
  if (!delivered) {
    client_gone_ = true;
    co_return false;
  }
  co_return true;
}

asio::awaitable<Completion> Exchange::conclude(net::ClientResult result) {
  Completion c;
  if (client_gone_) {
    c.error = BackendErrorKind::cancelled;
    c.error_message = "the client went away; upstream request aborted";
  } else if (!protocol_error_.empty()) {
    c.error = BackendErrorKind::protocol;
    c.error_message = protocol_error_;
  } else if (mode_ == Mode::error && (result.ok() || body_overflow_)) {
    c = error_status(result);  // (a long error body is cut short on purpose)
  } else if (!result.ok()) {
    c = from_client_error(result);
  } else if (mode_ == Mode::json) {
    c = co_await conclude_answer();
  } else {
    c = co_await conclude_stream();
  }
  c.ok = c.error == BackendErrorKind::none;
  if (c.ok && !finish_reason_.empty()) {
    c.finish_reason = finish_reason_;
  }
  c.usage = usage_;
  c.tool_calls = calls_;
  c.upstream_status = status_;
  c.streamed = streamed_;
  c.time_to_first_token = time_to_first_token_;
  co_return c;
}

asio::awaitable<Completion> Exchange::conclude_answer() {
  Completion c;
  ChunkFields answer;  // the same reader as for chunks
  bool parsed = read_chunk(body_, answer);
  if (parsed && answer.has_error) {
    std::string message = answer.error_message.empty() ? "(no message)" : std::move(answer.error_message);
    c.error = BackendErrorKind::protocol;
    c.error_message = "upstream error: " + scrub(truncate_utf8(std::move(message), kMessageLimit));
    co_return c;
  }
  if (!parsed || !answer.has_choice) {
    c.error = BackendErrorKind::protocol;
    c.error_message = "malformed JSON answer (no choices)";
    co_return c;
  }
  take_finish_and_usage(answer);
  bool relayed = co_await relay(answer);
  if (!relayed) {
    c.error = protocol_error_.empty() ? BackendErrorKind::cancelled : BackendErrorKind::protocol;
    c.error_message = protocol_error_.empty() ? "the client went away" : protocol_error_;
  }
  co_return c;
}

asio::awaitable<Completion> Exchange::conclude_stream() {
  Completion c;
  // Lenient about a last event that lacks its blank line.
  std::optional<net::SseEvent> tail = sse_.finish();
  ChunkFields chunk;
  bool relayed = true;
  if (tail && !done_ && apply_chunk(tail->data, chunk)) relayed = co_await relay(chunk);
  if (!relayed && protocol_error_.empty()) {
    c.error = BackendErrorKind::cancelled;
    c.error_message = "the client went away";
    co_return c;
  }
  if (!protocol_error_.empty()) {
    c.error = BackendErrorKind::protocol;
    c.error_message = protocol_error_;
  } else if (!done_ && finish_reason_.empty()) {
    c.error = BackendErrorKind::protocol;
    c.error_message = "the event stream ended without [DONE] or a finish_reason";
  }
  co_return c;
}

Completion Exchange::from_client_error(const net::ClientResult& result) const {
  return backends::from_client_error(result);
}

Completion Exchange::error_status(const net::ClientResult& result) const {
  Completion c;
  c.error = status_ == 429 ? BackendErrorKind::rate_limited : BackendErrorKind::http_status;
  c.error_message = "upstream answered HTTP " + std::to_string(status_);
  auto body = json::parse(body_, nullptr, false);
  if (!body.is_discarded() && body.is_object() && body.contains("error")) {
    c.error_message += ": " + scrub(truncate_utf8(error_text(body["error"]), kMessageLimit));
  }
  if (auto retry = result.header("retry-after"); retry && (status_ == 429 || status_ == 503)) {
    c.error_message += " (Retry-After: " + truncate_utf8(std::string(*retry), 32) + ")";
    c.retry_after = retry_after_of(*retry);
  }
  return c;
}

// Upstream error messages sometimes quote the key they rejected ("Incorrect
// API key provided: sk-abc***xyz"); none of it belongs in logs or audit rows.
std::string Exchange::scrub(std::string text) const {
  constexpr std::string_view kRedacted = "[redacted]";
  text = redact_secret(std::move(text), api_key_.reveal());
  for (auto pos = text.find("sk-"); pos != std::string::npos; pos = text.find("sk-", pos + 1)) {
    if (pos > 0 && key_character(text[pos - 1])) {
      continue;  // "task-..." is not a key
    }
    std::size_t end = pos + 3;
    while (end < text.size() && key_character(text[end])) {
      ++end;
    }
    text.replace(pos + 3, end - pos - 3, kRedacted);
  }
  return text;
}

}  // namespace hermes::backends::openai
