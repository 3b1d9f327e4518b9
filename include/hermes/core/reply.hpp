#pragma once
// How an answer flows back. Synchronous channels (api, webchat) give the
// pipeline a ReplyStream; asynchronous ones (Slack, WhatsApp, email) an Outbox.

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hermes/core/message.hpp"

namespace hermes {

struct Usage {
  std::int64_t prompt_tokens = -1;  // -1: not reported
  std::int64_t completion_tokens = -1;
  std::int64_t cached_tokens = -1;  // of prompt_tokens, served from the provider's prompt cache
  bool reported() const { return prompt_tokens >= 0 || completion_tokens >= 0; }
};

// Why a message was not answered normally; channels map these to their own answers
// (HTTP status and OpenAI error code on the API, a notice on chat channels).
enum class Reason {
  none,
  bad_request,
  unauthorized,
  not_allowed,      // the key/sender may not use that agent
  model_not_found,
  no_route,
  rejected_by_rule, // a route with `reject:`
  rate_limited,
  duplicate,
  overloaded,       // in-flight cap or audit back-pressure
  backend_error,
  timeout,
  cancelled,        // the client went away
};
std::string_view reason_code(Reason r);  // "rate_limited", ...
int http_status(Reason r);               // 400, 401, 403, 404, 429, 503, 502, 504, 499

// The tightest rate limit that applied, for x-ratelimit-* headers.
struct RateLimitInfo {
  bool present = false;
  std::uint32_t limit = 0;      // bucket capacity (burst)
  std::uint32_t remaining = 0;
  std::chrono::milliseconds reset{0};  // until the bucket is full again
  std::string name;             // the limit's configured name
};

struct ReplyError {
  Reason reason = Reason::backend_error;
  std::string message;                    // safe to show the client
  std::chrono::seconds retry_after{0};    // for rate_limited / overloaded
  RateLimitInfo rate_limit;
};

struct ReplyMeta {
  std::string agent;  // who answers: shown to the user and returned as `model` on the API
  std::string rule;   // the route that chose it
  std::string request_id;
  RateLimitInfo rate_limit;
};

// One piece of a tool call as the model streams it: the first piece of call `index`
// carries its id and name, later ones more of its JSON arguments.
struct ToolCallDelta {
  int index = 0;
  std::string id;
  std::string name;
  std::string arguments;
};

// A streamed piece added to the call it belongs to. False, and nothing added, beyond
// kMaxToolCalls calls or kMaxToolArguments bytes of one call's arguments: a backend ends
// such an answer as a protocol error, a reply stops recording it.
inline constexpr std::size_t kMaxToolCalls = 128;
inline constexpr std::size_t kMaxToolArguments = 1024 * 1024;
bool add_tool_call_delta(std::vector<ToolCall>& calls, const ToolCallDelta& delta);

// A piece of a further choice when the client asked for several (`n`): choice 0 flows
// through write_delta/write_tool_call/finish, choices 1..n-1 through write_choice. One
// of `text`, `tool_call` or `finish_reason` is set.
struct ChoiceDelta {
  int choice = 1;
  std::string_view text;
  const ToolCallDelta* tool_call = nullptr;
  std::string_view finish_reason;  // the choice has ended
};

class ReplyStream {
 public:
  virtual ~ReplyStream() = default;
  // Called once before the first delta.
  virtual boost::asio::awaitable<void> begin(const ReplyMeta& meta) = 0;
  // Applies back-pressure from the client; false when the client is gone (stop generating).
  virtual boost::asio::awaitable<bool> write_delta(std::string_view text) = 0;
  // A tool call delta; channels that cannot show tool calls ignore it. False when the
  // client is gone.
  virtual boost::asio::awaitable<bool> write_tool_call(const ToolCallDelta& delta);
  // A further choice's piece; channels that show one answer ignore it (the default).
  // False when the client is gone.
  virtual boost::asio::awaitable<bool> write_choice(const ChoiceDelta& delta);
  virtual boost::asio::awaitable<void> finish(const Usage& usage, std::string_view finish_reason) = 0;
  // Before or after begin(): the channel ends the reply well-formed either way.
  virtual boost::asio::awaitable<void> fail(const ReplyError& error) = 0;
  // Whether the client sees deltas as they come. When not (a buffered API answer, a
  // chat message sent whole), backends may ask their upstream for one whole answer.
  virtual bool streaming() const { return true; }
};

}  // namespace hermes
