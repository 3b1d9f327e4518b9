#pragma once
// Internal to the Slack channel: an answer shown while the model writes it (`stream: true`).
//
// Slack's streaming methods when the answer goes into a thread (they need thread_ts):
//   chat.startStream {channel, thread_ts, recipient_user_id, recipient_team_id, markdown_text}
//   chat.appendStream {channel, ts, markdown_text}   … at most once per `interval`
//   chat.stopStream {channel, ts}
// otherwise (or when Slack refuses those methods) a placeholder and its edits:
//   chat.postMessage {channel, thread_ts?, text: "<so far> …"}, chat.update … at most once per `interval`
//
// Either way the preview only shows: the answer itself goes through the outbox, whose first
// part is written over the previewed message with chat.update (the message's ts travels in
// the part's delivery_context, and is recorded in intake as soon as Slack returns it, so a
// replay after a crash edits that message instead of posting another). A 429 pauses the
// preview for its Retry-After; any other failure ends the preview, not the answer.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "hermes/channels/channel.hpp"

namespace hermes::channels::slack {

// What a Slack message's (and its answer's) delivery_context says, read once.
struct DeliveryContext {
  std::string response_url;     // a slash command's: its answer is posted there
  std::string slack_ts;         // the previewed message a part is written over (chat.update)
  bool slack_streamed = false;  // … begun with chat.startStream
};
DeliveryContext read_delivery_context(const std::string& delivery_context);

// One Web API call's outcome, as the preview needs it.
struct ApiReply {
  bool ok = false;
  std::string error;  // "slack:<error>", "http_429", "connect"…
  std::string ts;     // the message's, when the method returns one
  std::chrono::milliseconds retry_after{0};
};
using ApiCall = std::function<boost::asio::awaitable<ApiReply>(std::string method, nlohmann::json args)>;

struct PreviewTarget {
  std::string conversation;
  std::string thread;     // empty: the answer is a top-level message (placeholder method only)
  std::string recipient;  // the user asked; Slack wants it to stream outside DMs
  std::string team;
  std::string existing_ts;  // a replay: the message an earlier run began
  bool existing_streamed = false;  // … with chat.startStream: stopped before it is edited
  bool use_stream_methods = true;  // false: placeholder and chat.update only
  std::chrono::milliseconds interval{1'000};
  std::size_t max_bytes = 3'900;  // the preview never shows more than the first part holds
  std::string delivery_context;   // the message's own, kept alongside the ts
};

class StreamPreview final : public AnswerPreview, public std::enable_shared_from_this<StreamPreview> {
 public:
  // `record` persists the delivery_context naming the message (write-behind);
  // `stream_methods_refused` is told when Slack does not offer the streaming methods.
  StreamPreview(boost::asio::any_io_executor executor, PreviewTarget target, ApiCall api,
                std::function<void(const std::string&)> record, std::function<void()> stream_methods_refused);

  boost::asio::awaitable<void> append(std::string delta) override;
  boost::asio::awaitable<std::string> finish() override;

  // The delivery_context of the answer's first part: the message's and {"slack_ts", "slack_streamed"}.
  static std::string context_with_ts(const std::string& context, const std::string& ts, bool streamed);

 private:
  static boost::asio::awaitable<void> flush(std::shared_ptr<StreamPreview> self);
  boost::asio::awaitable<bool> show();  // one call; false: the preview ends
  // A 429 (or Slack's ratelimited): the next call waits for its Retry-After. False: another failure.
  bool paused_by(const ApiReply& reply);
  boost::asio::awaitable<void> stop_stream();
  std::string shown_text() const;

  PreviewTarget target_;
  ApiCall api_;
  std::function<void(const std::string&)> record_;
  std::function<void()> stream_methods_refused_;
  boost::asio::steady_timer idle_;  // wakes finish() when a flush ends
  boost::asio::steady_timer pace_;  // a flush waiting for its turn (finish() cuts it short)
  std::string text_;      // the answer so far
  std::size_t sent_ = 0;  // bytes of text_ Slack has (streaming methods)
  std::string ts_;
  bool streaming_ = false;  // ts_ is a chat.startStream message
  bool stop_first_ = false; // a replay's stream, left open by the last run: stopped before any edit
  bool flushing_ = false;
  bool ended_ = false;      // a failure ended the preview
  std::chrono::steady_clock::time_point next_ = std::chrono::steady_clock::time_point::min();
};

}  // namespace hermes::channels::slack
