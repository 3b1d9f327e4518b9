// Slack's streamed answers: the preview's calls, paced and best effort (preview.hpp).
#include "src/channels/slack/preview.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "hermes/core/json_fields.hpp"

namespace hermes::channels::slack {

namespace asio = boost::asio;

namespace {

constexpr std::string_view kGrowing = " …";  // a previewed message still being written

// Slack answers these when the streaming methods are not available to this app or
// conversation: the placeholder method is used from then on.
bool stream_methods_unavailable(const std::string& error) {
  return error == "slack:unknown_method" || error == "slack:not_allowed_token_type" ||
         error == "slack:missing_scope" || error == "slack:method_deprecated" ||
         error == "slack:channel_type_not_supported" || error == "slack:invalid_arguments" ||
         error == "slack:not_authorized";
}

// The longest prefix of `text` of at most `max` bytes that does not cut a UTF-8 character.
std::string_view utf8_prefix(std::string_view text, std::size_t max) {
  if (text.size() <= max) return text;
  std::size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

nlohmann::json start_args(const PreviewTarget& t, std::string_view text) {
  nlohmann::json args = {{"channel", t.conversation}, {"thread_ts", t.thread}, {"markdown_text", text}};
  if (!t.recipient.empty()) args["recipient_user_id"] = t.recipient;
  if (!t.team.empty()) args["recipient_team_id"] = t.team;
  return args;
}

nlohmann::json append_args(const PreviewTarget& t, const std::string& ts, std::string_view text) {
  return {{"channel", t.conversation}, {"ts", ts}, {"markdown_text", text}};
}

nlohmann::json placeholder_args(const PreviewTarget& t, const std::string& text) {
  nlohmann::json args = {{"channel", t.conversation}, {"text", text}};
  if (!t.thread.empty()) args["thread_ts"] = t.thread;
  return args;
}

nlohmann::json update_args(const PreviewTarget& t, const std::string& ts, const std::string& text) {
  return {{"channel", t.conversation}, {"ts", ts}, {"text", text}};
}

nlohmann::json stop_args(const PreviewTarget& t, const std::string& ts) {
  return {{"channel", t.conversation}, {"ts", ts}};
}

}  // namespace

DeliveryContext read_delivery_context(const std::string& delivery_context) {
  DeliveryContext out;
  if (delivery_context.empty()) return out;
  auto j = nlohmann::json::parse(delivery_context, nullptr, false);
  out.response_url = json_string(j, "response_url");
  out.slack_ts = json_string(j, "slack_ts");
  out.slack_streamed = json_bool(j, "slack_streamed", false);
  return out;
}

StreamPreview::StreamPreview(asio::any_io_executor executor, PreviewTarget target, ApiCall api,
                             std::function<void(const std::string&)> record,
                             std::function<void()> stream_methods_refused)
    : target_(std::move(target)),
      api_(std::move(api)),
      record_(std::move(record)),
      stream_methods_refused_(std::move(stream_methods_refused)),
      idle_(executor, asio::steady_timer::time_point::max()),
      pace_(executor),
      ts_(target_.existing_ts),
      stop_first_(!target_.existing_ts.empty() && target_.existing_streamed) {}

std::string StreamPreview::context_with_ts(const std::string& context, const std::string& ts, bool streamed) {
  auto j = context.empty() ? nlohmann::json::object() : nlohmann::json::parse(context, nullptr, false);
  if (!j.is_object()) j = nlohmann::json::object();
  j["slack_ts"] = ts;
  j["slack_streamed"] = streamed;
  return j.dump();
}

std::string StreamPreview::shown_text() const {
  return std::string(utf8_prefix(text_, target_.max_bytes - kGrowing.size()));
}

asio::awaitable<void> StreamPreview::append(std::string delta) {
  if (ended_) co_return;
  text_ += delta;
  if (flushing_) co_return;  // the running flush picks it up
  flushing_ = true;
  auto executor = co_await asio::this_coro::executor;
  asio::co_spawn(executor, flush(shared_from_this()), asio::detached);
}

asio::awaitable<void> StreamPreview::flush(std::shared_ptr<StreamPreview> self) {
  for (;;) {
    if (self->ended_) break;
    auto now = std::chrono::steady_clock::now();
    if (now < self->next_) {
      self->pace_.expires_at(self->next_);
      co_await self->pace_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (self->ended_) break;
    }
    std::size_t before = self->text_.size();
    bool going = co_await self->show();
    if (!going) self->ended_ = true;
    if (self->next_ < std::chrono::steady_clock::now() + self->target_.interval) {
      self->next_ = std::chrono::steady_clock::now() + self->target_.interval;
    }
    if (self->ended_ || self->text_.size() == before) break;  // up to date: the next delta starts a flush
  }
  self->flushing_ = false;
  self->idle_.cancel();
}

asio::awaitable<bool> StreamPreview::show() {
  std::string shown = shown_text();
  if (ts_.empty() && target_.use_stream_methods && !target_.thread.empty()) {
    std::string method = "chat.startStream";  // arguments named: GCC 12 and temporaries in co_await
    auto args = start_args(target_, shown);
    auto r = co_await api_(std::move(method), std::move(args));
    if (r.ok && !r.ts.empty()) {
      ts_ = r.ts;
      streaming_ = true;
      sent_ = shown.size();
      record_(context_with_ts(target_.delivery_context, ts_, true));
      co_return true;
    }
    if (!stream_methods_unavailable(r.error)) co_return paused_by(r);
    target_.use_stream_methods = false;  // Slack does not offer them here: the placeholder it is
    if (stream_methods_refused_) stream_methods_refused_();
  }
  if (stop_first_) {
    stop_first_ = false;
    co_await stop_stream();  // already stopped, or expired: fine
  }
  ApiReply r;
  if (ts_.empty()) {
    std::string method = "chat.postMessage";
    auto args = placeholder_args(target_, shown + std::string(kGrowing));
    r = co_await api_(std::move(method), std::move(args));
    if (r.ok && !r.ts.empty()) {
      ts_ = r.ts;
      record_(context_with_ts(target_.delivery_context, ts_, false));
    }
  } else if (streaming_) {
    if (shown.size() <= sent_) co_return true;  // the first part is full: the rest comes with the answer
    std::string more = shown.substr(sent_);
    std::string method = "chat.appendStream";
    auto args = append_args(target_, ts_, more);
    r = co_await api_(std::move(method), std::move(args));
    if (r.ok) sent_ = shown.size();
  } else {
    std::string method = "chat.update";
    auto args = update_args(target_, ts_, shown + std::string(kGrowing));
    r = co_await api_(std::move(method), std::move(args));
  }
  co_return r.ok || paused_by(r);
}

bool StreamPreview::paused_by(const ApiReply& reply) {
  if (reply.error != "http_429" && reply.error != "slack:ratelimited") return false;
  next_ = std::chrono::steady_clock::now() + std::max(reply.retry_after, target_.interval);
  return true;
}

asio::awaitable<void> StreamPreview::stop_stream() {
  std::string method = "chat.stopStream";  // arguments named: GCC 12 and temporaries in co_await
  auto args = stop_args(target_, ts_);
  co_await api_(std::move(method), std::move(args));
}

asio::awaitable<std::string> StreamPreview::finish() {
  ended_ = true;  // a flush waiting for its turn stops; one in a call returns first
  pace_.cancel();
  while (flushing_) {
    idle_.expires_at(asio::steady_timer::time_point::max());
    co_await idle_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (ts_.empty()) co_return std::string();
  // Closed now; the outbox's chat.update then writes the first part over it.
  if (streaming_ || stop_first_) co_await stop_stream();
  co_return context_with_ts(target_.delivery_context, ts_, false);
}

}  // namespace hermes::channels::slack
