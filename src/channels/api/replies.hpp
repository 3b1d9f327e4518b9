#pragma once
// Private to the api channel: ReplyStreams that speak OpenAI's wire format.

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "hermes/core/json_writer.hpp"
#include "hermes/core/message.hpp"
#include "hermes/core/reply.hpp"
#include "hermes/net/http.hpp"

namespace hermes::channels::api {

std::string completion_id(const std::string& request_id);
std::int64_t unix_now();
// {"error": {"message", "type", "param": null, "code", "request_id"}}
net::HttpResponse openai_error(const ReplyError& e, const std::string& request_id);
void add_rate_limit_headers(net::HttpResponse& r, const RateLimitInfo& info);
net::Headers rate_limit_headers(const RateLimitInfo& info);

// Collects the answer for a non-streaming request.
class BufferedReply final : public ReplyStream {
 public:
  bool streaming() const override { return false; }
  boost::asio::awaitable<void> begin(const ReplyMeta& meta) override;
  boost::asio::awaitable<bool> write_delta(std::string_view text) override;
  boost::asio::awaitable<bool> write_tool_call(const ToolCallDelta& delta) override;
  boost::asio::awaitable<bool> write_choice(const ChoiceDelta& delta) override;
  boost::asio::awaitable<void> finish(const Usage& usage, std::string_view finish_reason) override;
  boost::asio::awaitable<void> fail(const ReplyError& error) override;

  // The HTTP response once the pipeline is done.
  net::HttpResponse response(const std::string& request_id) const;

 private:
  struct Choice {
    std::string content;
    std::vector<ToolCall> tool_calls;
    std::string finish_reason;
  };
  static void write_choice_object(JsonWriter& w, int index, const Choice& choice);

  ReplyMeta meta_;
  Choice first_;                // choice 0: the answer
  std::vector<Choice> others_;  // choices 1..n-1 when the client asked for several
  Usage usage_;
  std::optional<ReplyError> error_;
};

// Streams chat.completion.chunk events as deltas arrive; the HTTP status is
// only committed at begin(), so failures before it still get a proper 4xx/5xx.
class SseReply final : public ReplyStream {
 public:
  SseReply(net::ResponseStream& out, std::string request_id, bool include_usage)
      : out_(out), request_id_(std::move(request_id)), include_usage_(include_usage) {}

  boost::asio::awaitable<void> begin(const ReplyMeta& meta) override;
  boost::asio::awaitable<bool> write_delta(std::string_view text) override;
  boost::asio::awaitable<bool> write_tool_call(const ToolCallDelta& delta) override;
  boost::asio::awaitable<bool> write_choice(const ChoiceDelta& delta) override;
  boost::asio::awaitable<void> finish(const Usage& usage, std::string_view finish_reason) override;
  boost::asio::awaitable<void> fail(const ReplyError& error) override;

  // What to answer when the stream never started (a rejection before dispatch).
  std::optional<net::HttpResponse> unstarted_response() const;

 private:
  boost::asio::awaitable<bool> send_event(std::string event);  // framed: "data: ...\n\n"
  net::Headers stream_headers() const;
  std::string role_event(int index = 0) const;
  std::string content_event(std::string_view text, int index = 0) const;
  std::string tool_call_event(const ToolCallDelta& delta, int index = 0) const;
  std::string finish_event(std::string_view reason, int index = 0) const;
  std::string usage_event(const Usage& usage) const;
  void write_chunk_head(JsonWriter& w) const;
  template <class Delta>
  std::string chunk_event(Delta write_delta_members, std::string_view finish_reason, int index) const;

  net::ResponseStream& out_;
  std::string request_id_;
  bool include_usage_;
  ReplyMeta meta_;
  bool open_ = true;  // the client is still there
  std::string role_pending_;  // the role chunk, sent with the first event after it
  std::uint32_t other_roles_sent_ = 0;  // bit i: choice i's role chunk went out (i >= 1)
  std::int64_t created_ = unix_now();
  std::optional<ReplyError> early_error_;
};

}  // namespace hermes::channels::api
