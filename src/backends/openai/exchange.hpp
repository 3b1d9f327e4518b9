#pragma once
// Private to the openai backend: turns one upstream response (SSE stream,
// plain JSON answer, or an error) into deltas on a ReplyStream and a Completion.

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <string>

#include "hermes/core/backend.hpp"
#include "hermes/core/secret.hpp"
#include "hermes/net/client.hpp"
#include "hermes/net/sse.hpp"
#include "src/backends/openai/chunk.hpp"

namespace hermes::backends::openai {

class Exchange {
 public:
  // `choices`: the answers the client asked for (`n`); an upstream's others are dropped.
  Exchange(ReplyStream& reply, const Secret& api_key, std::chrono::steady_clock::time_point started,
           std::int64_t choices = 1)
      : reply_(reply), api_key_(api_key), started_(started), choices_(choices) {}

  void on_head(const net::ClientResponseHead& head);
  // A piece of the body as it arrives; false aborts the upstream request.
  boost::asio::awaitable<bool> on_piece(std::string piece);
  // After the client returned: the outcome of the whole call.
  boost::asio::awaitable<Completion> conclude(net::ClientResult result);

 private:
  enum class Mode { sse, json, error };

  // Reads one `data:` payload of the stream into `chunk` and records its finish_reason
  // and usage; false on a protocol error (recorded in protocol_error_).
  bool apply_chunk(std::string_view data, ChunkFields& chunk);
  void take_finish_and_usage(const ChunkFields& chunk);
  boost::asio::awaitable<bool> relay(ChunkFields& chunk);
  boost::asio::awaitable<bool> write_calls(std::vector<ToolCallDelta> calls);
  boost::asio::awaitable<bool> write(std::string text);
  boost::asio::awaitable<bool> write_other_choice(const ChoiceFields& other);
  void mark_streamed();
  boost::asio::awaitable<Completion> conclude_answer();  // a plain JSON answer
  boost::asio::awaitable<Completion> conclude_stream();  // the end of an event stream
  bool keep(std::string_view piece, std::size_t limit);
  Completion error_status(const net::ClientResult& result) const;
  Completion from_client_error(const net::ClientResult& result) const;
  std::string scrub(std::string text) const;

  ReplyStream& reply_;
  const Secret& api_key_;
  std::chrono::steady_clock::time_point started_;
  std::int64_t choices_ = 1;
  int status_ = 0;
  Mode mode_ = Mode::sse;
  net::SseParser sse_;
  std::vector<net::SseEvent> events_;
  std::string body_;  // a JSON answer or an error body (bounded)
  bool body_overflow_ = false;
  bool done_ = false;  // `data: [DONE]` seen
  std::string finish_reason_;
  Usage usage_;
  std::vector<ToolCall> calls_;  // the tool calls so far, assembled from their deltas
  bool streamed_ = false;
  std::chrono::steady_clock::duration time_to_first_token_{0};
  bool client_gone_ = false;  // write_delta returned false
  std::string protocol_error_;
};

}  // namespace hermes::backends::openai
