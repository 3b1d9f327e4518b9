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
    std::string delta;
    std::vector<ToolCallDelta> calls;
    if (!apply_chunk(event.data, delta, calls)) {
      co_return false;
    }
    if (!calls.empty()) {
      bool more = co_await write_calls(std::move(calls));
      if (!more) co_return false;
    }
    if (!delta.empty()) {
      bool more = co_await write(std::move(delta));
      if (!more) {
        co_return false;
      }
    }
  }
  co_return true;
}

bool Exchange::apply_chunk(std::string_view data, std::string& delta, std::vector<ToolCallDelta>& calls) {
  if (data == "[DONE]") {
    done_ = true;
    return true;
  }
  ChunkFields chunk;  // this runs once per token chunk: a few fields, no nlohmann DOM
  if (!read_chunk(data, chunk)) {
    protocol_error_ = "malformed JSON in the event stream";
    return false;
  }
  if (chunk.has_error) {
    std::string message = chunk.error_message.empty() ? "(no message)" : chunk.error_message;
    protocol_error_ = "upstream error in the stream: " + scrub(truncate_utf8(std::move(message), kMessageLimit));
    return false;
  }
  delta = std::move(chunk.content);
  calls = std::move(chunk.tool_calls);
  if (!chunk.finish_reason.empty()) finish_reason_ = chunk.finish_reason;
  if (chunk.prompt_tokens) usage_.prompt_tokens = *chunk.prompt_tokens;
  if (chunk.completion_tokens) usage_.completion_tokens = *chunk.completion_tokens;
  if (chunk.cached_tokens) usage_.cached_tokens = *chunk.cached_tokens;
  return true;
}

// Tool call deltas to the client, and assembled for the Completion.
asio::awaitable<bool> Exchange::write_calls(std::vector<ToolCallDelta> calls) {
  for (auto& delta : calls) {
    if (!add_tool_call_delta(calls_, delta)) {
      protocol_error_ = "the upstream's tool calls exceed 128 calls or 1 MiB of arguments";
      co_return false;
    }
    if (!streamed_) {
      streamed_ = true;
      time_to_first_token_ = Clock::now() - started_;
    }
    bool delivered = co_await reply_.write_tool_call(delta);
    if (!delivered) {
      client_gone_ = true;
      co_return false;
    }
  }
  co_return true;
}

asio::awaitable<bool> Exchange::write(std::string text) {
  if (!streamed_) {
    // Counted as streamed from the first attempt: the client may have seen it,
    // so the pipeline must not retry or fall back after this.
    streamed_ = true;
    time_to_first_token_ = Clock::now() - started_;
  }
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
  if (!answer.finish_reason.empty()) finish_reason_ = answer.finish_reason;
  if (answer.prompt_tokens) usage_.prompt_tokens = *answer.prompt_tokens;
  if (answer.completion_tokens) usage_.completion_tokens = *answer.completion_tokens;
  if (answer.cached_tokens) usage_.cached_tokens = *answer.cached_tokens;
  if (!answer.tool_calls.empty()) {
    bool delivered = co_await write_calls(std::move(answer.tool_calls));
    if (!delivered) {
      c.error = protocol_error_.empty() ? BackendErrorKind::cancelled : BackendErrorKind::protocol;
      c.error_message = protocol_error_.empty() ? "the client went away" : protocol_error_;
      co_return c;
    }
  }
  if (!answer.content.empty()) {
    bool delivered = co_await write(std::move(answer.content));
    if (!delivered) {
      c.error = BackendErrorKind::cancelled;
      c.error_message = "the client went away";
    }
  }
  co_return c;
}

asio::awaitable<Completion> Exchange::conclude_stream() {
  Completion c;
  // Lenient about a last event that lacks its blank line.
  std::optional<net::SseEvent> tail = sse_.finish();
  std::string delta;
  std::vector<ToolCallDelta> calls;
  bool applied = tail && !done_ && apply_chunk(tail->data, delta, calls);
  if (applied && !calls.empty()) {
    bool delivered = co_await write_calls(std::move(calls));
    if (!delivered) {
      c.error = protocol_error_.empty() ? BackendErrorKind::cancelled : BackendErrorKind::protocol;
      c.error_message = protocol_error_.empty() ? "the client went away" : protocol_error_;
      co_return c;
    }
  }
  if (applied && !delta.empty()) {
    bool delivered = co_await write(std::move(delta));
    if (!delivered) {
      c.error = BackendErrorKind::cancelled;
      c.error_message = "the client went away";
      co_return c;
    }
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
