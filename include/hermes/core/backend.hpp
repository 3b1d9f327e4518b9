#pragma once
// The ModelBackend extension point. Implementations live in src/backends/<type>/;
// the pipeline knows them only through this interface.

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "hermes/core/message.hpp"
#include "hermes/core/reply.hpp"

namespace hermes {

// Where the message came from, for backends that forward it (webhook agents).
struct MessageOrigin {
  std::string channel;
  std::string channel_type;
  std::string sender;
  std::string conversation;
  std::string thread;
  std::string session_id;
};

struct CompletionRequest {
  std::string request_id;
  MessageOrigin origin;
  std::string traceparent;
  std::string agent;
  std::string rule;
  std::vector<ChatTurn> messages;  // system prompt, history and the new user turn, in order
  std::optional<std::int64_t> max_tokens;
  std::optional<double> temperature;
  // Tools, response_format, stop... as the client asked; null: none (InboundMessage).
  std::shared_ptr<const ModelOptions> model_options;
  const ModelOptions& options() const { return model_options ? *model_options : kNoModelOptions; }
  bool stream = true;  // the client sees deltas as they come; false: one whole answer will do
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

enum class BackendErrorKind {
  none,
  connect,
  timeout,
  http_status,
  protocol,
  rate_limited,
  cancelled,
  circuit_open,  // the backend's breaker is open: not called
  busy,          // no free slot under max_concurrency within queue_timeout: not called
};
std::string_view backend_error_name(BackendErrorKind k);

struct Completion {
  bool ok = false;
  Usage usage;
  std::string finish_reason = "stop";  // "tool_calls" when the model called tools
  std::vector<ToolCall> tool_calls;    // the calls, whole (their deltas went to the ReplyStream)
  BackendErrorKind error = BackendErrorKind::none;
  std::string error_message;  // for logs and audit; never contains credentials
  int upstream_status = 0;
  bool streamed = false;      // a delta reached the client: no retry or fallback after this
  std::chrono::steady_clock::duration time_to_first_token{0};
  std::chrono::milliseconds retry_after{0};  // the upstream's Retry-After (429/503), when it sent one
  int attempts = 1;                          // calls made, retries included
};

struct BackendHealth {
  bool healthy = true;
  std::string detail;
};

class ModelBackend {
 public:
  virtual ~ModelBackend() = default;
  // Streams deltas into `reply` (write_delta only: the pipeline calls begin/finish/fail)
  // and reports the outcome. Must honour request.deadline and coroutine cancellation.
  virtual boost::asio::awaitable<Completion> complete(CompletionRequest request, ReplyStream& reply) = 0;
  virtual BackendHealth health() const = 0;
  // Why this backend cannot serve `request` (tools, images... it does not take), for a
  // clear 400 instead of a silent drop; empty when it can.
  virtual std::string cannot_serve(const CompletionRequest& request) const;
};

// Whether a request uses more than plain text turns: tools, tool turns, content parts
// or options. What a text-only backend refuses (ModelBackend::cannot_serve).
std::string structured_features(const CompletionRequest& request);

}  // namespace hermes
