#include "src/channels/api/replies.hpp"

namespace hermes::channels::api {

std::string completion_id(const std::string& request_id) { return "chatcmpl-" + request_id; }

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

// Replies are written with JsonWriter, not a nlohmann DOM: they are built once per
// request or per token chunk, and the DOM cost more than the rest of the reply path.
void write_usage(JsonWriter& w, const Usage& u) {
  std::int64_t prompt = std::max<std::int64_t>(0, u.prompt_tokens);
  std::int64_t completion = std::max<std::int64_t>(0, u.completion_tokens);
  w.begin_object().key("prompt_tokens").value(prompt).key("completion_tokens").value(completion);
  w.key("total_tokens").value(prompt + completion);
  if (u.cached_tokens >= 0) w.key("prompt_tokens_details").begin_object().key("cached_tokens").value(u.cached_tokens).end_object();
  w.end_object();
}

std::string framed(std::string_view data) {
  std::string event;
  event.reserve(data.size() + 8);
  event += "data: ";
  event += data;
  event += "\n\n";
  return event;
}

std::string error_type(Reason r) {
  switch (r) {
    case Reason::unauthorized: return "authentication_error";
    case Reason::rate_limited: return "rate_limit_error";
    case Reason::not_allowed:
    case Reason::rejected_by_rule: return "permission_error";
    case Reason::model_not_found:
    case Reason::no_route: return "invalid_request_error";
    case Reason::bad_request: return "invalid_request_error";
    default: return "server_error";
  }
}

std::string error_code(Reason r) {
  switch (r) {
    case Reason::unauthorized: return "invalid_api_key";
    case Reason::rate_limited: return "rate_limit_exceeded";
    default: return std::string(reason_code(r));
  }
}

nlohmann::json error_body(const ReplyError& e, const std::string& request_id) {
  return {{"error",
           {{"message", e.message},
            {"type", error_type(e.reason)},
            {"param", nullptr},
            {"code", error_code(e.reason)},
            {"request_id", request_id}}}};
}

}  // namespace

net::Headers rate_limit_headers(const RateLimitInfo& info) {
  net::Headers h;
  if (!info.present) return h;
  auto reset_s = (info.reset.count() + 999) / 1000;
  h.emplace_back("x-ratelimit-limit", std::to_string(info.limit));
  h.emplace_back("x-ratelimit-remaining", std::to_string(info.remaining));
  h.emplace_back("x-ratelimit-reset", std::to_string(reset_s));
  return h;
}

void add_rate_limit_headers(net::HttpResponse& r, const RateLimitInfo& info) {
  for (auto& h : rate_limit_headers(info)) r.headers.push_back(std::move(h));
}

net::HttpResponse openai_error(const ReplyError& e, const std::string& request_id) {
  auto r = net::HttpResponse::json(http_status(e.reason), error_body(e, request_id));
  r.with_header("X-Request-Id", request_id);
  if (e.retry_after.count() > 0) r.with_header("Retry-After", std::to_string(e.retry_after.count()));
  add_rate_limit_headers(r, e.rate_limit);
  return r;
}

boost::asio::awaitable<void> BufferedReply::begin(const ReplyMeta& meta) {
  meta_ = meta;
  co_return;
}

boost::asio::awaitable<bool> BufferedReply::write_delta(std::string_view text) {
  first_.content.append(text);
  co_return true;
}

boost::asio::awaitable<bool> BufferedReply::write_tool_call(const ToolCallDelta& delta) {
  add_tool_call_delta(first_.tool_calls, delta);
  co_return true;
}

boost::asio::awaitable<bool> BufferedReply::write_choice(const ChoiceDelta& delta) {
  if (delta.choice < 1 || delta.choice >= kMaxChoices) co_return true;
  if (others_.size() < static_cast<std::size_t>(delta.choice)) others_.resize(static_cast<std::size_t>(delta.choice));
  Choice& choice = others_[static_cast<std::size_t>(delta.choice) - 1];
  choice.content.append(delta.text);
  if (delta.tool_call) add_tool_call_delta(choice.tool_calls, *delta.tool_call);
  if (!delta.finish_reason.empty()) choice.finish_reason = delta.finish_reason;
  co_return true;
}

boost::asio::awaitable<void> BufferedReply::finish(const Usage& usage, std::string_view finish_reason) {
  usage_ = usage;
  first_.finish_reason = finish_reason;
  co_return;
}

boost::asio::awaitable<void> BufferedReply::fail(const ReplyError& error) {
  error_ = error;
  co_return;
}

void BufferedReply::write_choice_object(JsonWriter& w, int index, const Choice& choice) {
  w.begin_object().key("index").value(index);
  w.key("message").begin_object().key("role").value("assistant").key("content");
  if (choice.content.empty() && !choice.tool_calls.empty()) {
    w.null();  // as OpenAI answers a message that only calls tools
  } else {
    w.value(choice.content);
  }
  write_openai_tool_calls(w, choice.tool_calls);
  w.end_object();
  w.key("logprobs").null().key("finish_reason").value(choice.finish_reason.empty() ? "stop" : choice.finish_reason);
  w.end_object();
}

net::HttpResponse BufferedReply::response(const std::string& request_id) const {
  if (error_) return openai_error(*error_, request_id);
  std::string body;
  body.reserve(320 + first_.content.size());
  JsonWriter w(body);
  w.begin_object().key("id").value(completion_id(request_id)).key("object").value("chat.completion");
  w.key("created").value(unix_now()).key("model").value(meta_.agent);
  w.key("choices").begin_array();
  write_choice_object(w, 0, first_);
  for (std::size_t i = 0; i < others_.size(); ++i) write_choice_object(w, static_cast<int>(i + 1), others_[i]);
  w.end_array();
  w.key("usage");
  write_usage(w, usage_);
  w.end_object();
  auto r = net::HttpResponse::json_text(200, std::move(body));
  r.with_header("X-Request-Id", request_id);
  add_rate_limit_headers(r, meta_.rate_limit);
  return r;
}

// Opens a chat.completion.chunk object with the members every chunk repeats.
void SseReply::write_chunk_head(JsonWriter& w) const {
  w.begin_object().key("id").value(completion_id(request_id_)).key("object").value("chat.completion.chunk");
  w.key("created").value(created_).key("model").value(meta_.agent);
}

// One chat.completion.chunk event; `write_delta_members` fills the delta object.
template <class Delta>
std::string SseReply::chunk_event(Delta write_delta_members, std::string_view finish_reason, int index) const {
  std::string event = "data: ";
  event.reserve(256);
  JsonWriter w(event);
  write_chunk_head(w);
  w.key("choices").begin_array().begin_object().key("index").value(index).key("delta").begin_object();
  write_delta_members(w);
  w.end_object().key("logprobs").null().key("finish_reason");
  if (finish_reason.empty()) {
    w.null();
  } else {
    w.value(finish_reason);
  }
  w.end_object().end_array().end_object();
  event += "\n\n";
  return event;
}

boost::asio::awaitable<bool> SseReply::send_event(std::string event) {
  if (!role_pending_.empty()) {
    event.insert(0, role_pending_);
    role_pending_.clear();
  }
  if (open_) open_ = co_await out_.write(std::move(event));
  co_return open_;
}

// Braced initializers of string literals stay out of coroutine bodies (GCC 12 bug).
net::Headers SseReply::stream_headers() const {
  net::Headers headers = {{"Content-Type", "text/event-stream; charset=utf-8"},
                          {"Cache-Control", "no-cache"},
                          {"X-Accel-Buffering", "no"},
                          {"X-Request-Id", request_id_}};
  for (auto& h : rate_limit_headers(meta_.rate_limit)) headers.push_back(std::move(h));
  return headers;
}

std::string SseReply::role_event(int index) const {
  return chunk_event([](JsonWriter& w) { w.key("role").value("assistant").key("content").value(""); }, {}, index);
}

std::string SseReply::content_event(std::string_view text, int index) const {
  return chunk_event([text](JsonWriter& w) { w.key("content").value(text); }, {}, index);
}

// {"tool_calls":[{"index","id","type","function":{"name","arguments"}}]}: id, type and
// name in a call's first delta only, as OpenAI streams them.
std::string SseReply::tool_call_event(const ToolCallDelta& delta, int index) const {
  return chunk_event(
      [&delta](JsonWriter& w) {
        w.key("tool_calls").begin_array().begin_object().key("index").value(delta.index);
        if (!delta.id.empty()) w.key("id").value(delta.id).key("type").value("function");
        w.key("function").begin_object();
        if (!delta.name.empty()) w.key("name").value(delta.name);
        w.key("arguments").value(delta.arguments).end_object();
        w.end_object().end_array();
      },
      {}, index);
}

std::string SseReply::finish_event(std::string_view reason, int index) const {
  return chunk_event([](JsonWriter&) {}, reason.empty() ? "stop" : reason, index);
}

std::string SseReply::usage_event(const Usage& usage) const {
  std::string event = "data: ";
  JsonWriter w(event);
  write_chunk_head(w);
  w.key("choices").begin_array().end_array().key("usage");
  write_usage(w, usage);
  w.end_object();
  event += "\n\n";
  return event;
}

boost::asio::awaitable<void> SseReply::begin(const ReplyMeta& meta) {
  meta_ = meta;
  net::Headers headers = stream_headers();
  open_ = co_await out_.start(200, std::move(headers));
  // begin() comes with the first token (or the end): the role chunk waits for it, so the
  // head, the role and the first token reach the client in one write.
  role_pending_ = role_event();
}

boost::asio::awaitable<bool> SseReply::write_delta(std::string_view text) {
  if (text.empty()) co_return open_;
  std::string event = content_event(text);
  co_return co_await send_event(std::move(event));
}

boost::asio::awaitable<bool> SseReply::write_tool_call(const ToolCallDelta& delta) {
  std::string event = tool_call_event(delta);
  co_return co_await send_event(std::move(event));
}

// A further choice: its role chunk before its first piece, as OpenAI streams each choice.
boost::asio::awaitable<bool> SseReply::write_choice(const ChoiceDelta& delta) {
  static_assert(kMaxChoices <= 32, "other_roles_sent_ has a bit per choice");
  if (delta.choice < 1 || delta.choice >= kMaxChoices) co_return open_;
  std::string event;
  auto bit = std::uint32_t{1} << delta.choice;
  if (!(other_roles_sent_ & bit)) {
    other_roles_sent_ |= bit;
    event = role_event(delta.choice);
  }
  if (delta.tool_call) {
    event += tool_call_event(*delta.tool_call, delta.choice);
  } else if (!delta.text.empty()) {
    event += content_event(delta.text, delta.choice);
  } else if (!delta.finish_reason.empty()) {
    event += finish_event(delta.finish_reason, delta.choice);
  }
  if (event.empty()) co_return open_;
  co_return co_await send_event(std::move(event));
}

boost::asio::awaitable<void> SseReply::finish(const Usage& usage, std::string_view finish_reason) {
  std::string finish_chunk = finish_event(finish_reason);
  co_await send_event(std::move(finish_chunk));
  if (include_usage_) {
    std::string usage_chunk = usage_event(usage);
    co_await send_event(std::move(usage_chunk));
  }
  std::string done = framed("[DONE]");
  co_await send_event(std::move(done));
}

boost::asio::awaitable<void> SseReply::fail(const ReplyError& error) {
  if (!out_.started()) {
    early_error_ = error;  // answered as a plain HTTP error once the body returns
    co_return;
  }
  // Mid-stream: a well-formed end the OpenAI clients raise as an APIError.
  std::string error_chunk = framed(error_body(error, request_id_).dump());
  co_await send_event(std::move(error_chunk));
  std::string done = framed("[DONE]");
  co_await send_event(std::move(done));
}

std::optional<net::HttpResponse> SseReply::unstarted_response() const {
  if (out_.started()) return std::nullopt;
  if (early_error_) return openai_error(*early_error_, request_id_);
  return openai_error({Reason::backend_error, "no answer was produced", std::chrono::seconds(0), {}}, request_id_);
}

}  // namespace hermes::channels::api
