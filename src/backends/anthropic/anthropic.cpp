#include "hermes/backends/anthropic.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <exception>
#include <mutex>
#include <stdexcept>

#include "hermes/config/reader.hpp"
#include "hermes/net/client.hpp"
#include "hermes/net/sse.hpp"
#include "src/backends/common.hpp"
#include "src/backends/coro.hpp"

namespace hermes::backends::anthropic {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr std::size_t kErrorBodyLimit = 64 * 1024;
constexpr std::size_t kMessageLimit = 300;

// {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}} → "overloaded_error: Overloaded"
std::string error_text(const json& body) {
  const json* error = &body;
  if (auto e = body.find("error"); e != body.end() && e->is_object()) error = &*e;
  std::string type = json_string(*error, "type");
  std::string message = json_string(*error, "message");
  if (type.empty() && message.empty()) return "(no message)";
  return type.empty() ? message : type + ": " + message;
}

// The finish reasons OpenAI clients know.
std::string finish_reason_of(const std::string& stop_reason) {
  if (stop_reason == "max_tokens") return "length";
  if (stop_reason == "tool_use") return "tool_calls";
  if (stop_reason == "refusal") return "content_filter";
  return "stop";  // end_turn, stop_sequence, pause_turn
}

// System turns go to the top-level `system`; the rest must alternate starting
// with a user turn, so consecutive turns of one role are merged.
json request_body(const CompletionRequest& request, const Spec& spec) {
  std::string system;
  json messages = json::array();
  for (const auto& turn : request.messages) {
    if (turn.role == "system") {
      system += system.empty() ? turn.content : "\n\n" + turn.content;
      continue;
    }
    std::string role = turn.role == "assistant" ? "assistant" : "user";
    if (messages.empty() && role == "assistant") continue;  // the API wants a user turn first
    if (!messages.empty() && messages.back()["role"] == role) {
      messages.back()["content"] = messages.back()["content"].get<std::string>() + "\n\n" + turn.content;
    } else {
      messages.push_back({{"role", role}, {"content", turn.content}});
    }
  }
  json body = {{"model", spec.model},
               {"max_tokens", request.max_tokens.value_or(spec.max_tokens)},
               {"messages", std::move(messages)},
               {"stream", true}};
  if (!system.empty()) body["system"] = system;
  if (request.temperature) body["temperature"] = std::min(*request.temperature, 1.0);  // Anthropic's range is 0..1
  return body;
}

// One upstream call: the event stream (or an error answer) into deltas and a Completion.
class Exchange {
 public:
  Exchange(ReplyStream& reply, const Secret& key, Clock::time_point started)
      : reply_(reply), key_(key), started_(started) {}

  void on_head(const net::ClientResponseHead& head) {
    status_ = head.status;
    if (auto ra = head.header("retry-after")) retry_after_ = retry_after_of(*ra);
  }

  asio::awaitable<bool> on_piece(std::string piece) {
    if (status_ < 200 || status_ >= 300) {
      if (error_body_.size() + piece.size() > kErrorBodyLimit) co_return false;
      error_body_.append(piece);
      co_return true;
    }
    std::vector<net::SseEvent> events;
    if (sse_.feed(piece, events) != net::SseStatus::ok) {
      protocol_error_ = "malformed event stream (a line or event over 1 MiB)";
      co_return false;
    }
    for (auto& event : events) {
      std::string delta;
      if (!apply(event, delta)) co_return false;
      if (delta.empty()) continue;
      bool more = co_await write(std::move(delta));
      if (!more) co_return false;
    }
    co_return true;
  }

  Completion conclude(const net::ClientResult& result) {
    Completion c;
    if (client_gone_) {
      c.error = BackendErrorKind::cancelled;
      c.error_message = "the client went away; upstream request aborted";
    } else if (!protocol_error_.empty()) {
      c.error = BackendErrorKind::protocol;
      c.error_message = protocol_error_;
    } else if (status_ != 0 && (status_ < 200 || status_ >= 300)) {
      c.error = status_ == 429 ? BackendErrorKind::rate_limited : BackendErrorKind::http_status;
      auto body = json::parse(error_body_, nullptr, false);
      c.error_message = "upstream answered HTTP " + std::to_string(status_);
      if (body.is_object()) c.error_message += ": " + scrub(truncate_utf8(error_text(body), kMessageLimit));
      c.retry_after = retry_after_;
    } else if (!result.ok()) {
      c = from_client_error(result);
    } else if (!stopped_) {
      c.error = BackendErrorKind::protocol;
      c.error_message = "the event stream ended without message_stop";
    }
    c.ok = c.error == BackendErrorKind::none;
    c.finish_reason = finish_reason_;
    c.usage = usage_;
    c.upstream_status = status_;
    c.streamed = streamed_;
    c.time_to_first_token = time_to_first_token_;
    return c;
  }

 private:
  bool apply(const net::SseEvent& event, std::string& delta) {
    if (stopped_) return true;  // nothing after message_stop matters
    auto data = json::parse(event.data, nullptr, false);
    if (!data.is_object()) {
      protocol_error_ = "malformed JSON in the event stream";
      return false;
    }
    std::string type = json_string(data, "type");
    if (type.empty()) type = event.type;
    if (type == "error") {
      protocol_error_ = "upstream error in the stream: " + scrub(truncate_utf8(error_text(data), kMessageLimit));
      return false;
    }
    if (type == "message_start") {
      if (auto m = data.find("message"); m != data.end() && m->is_object()) read_usage(*m);
    } else if (type == "content_block_delta") {
      auto d = data.find("delta");
      if (d != data.end() && d->is_object() && json_string(*d, "type") == "text_delta") delta = json_string(*d, "text");
    } else if (type == "message_delta") {
      if (auto d = data.find("delta"); d != data.end() && d->is_object()) {
        if (auto reason = json_string(*d, "stop_reason"); !reason.empty()) finish_reason_ = finish_reason_of(reason);
      }
      read_usage(data);
    } else if (type == "message_stop") {
      stopped_ = true;
    }
    return true;  // ping, content_block_start/stop and unknown types carry nothing to pass on
  }

  void read_usage(const json& object) {
    auto usage = object.find("usage");
    if (usage == object.end() || !usage->is_object()) return;
    if (auto i = usage->find("input_tokens"); i != usage->end() && i->is_number_integer()) {
      usage_.prompt_tokens = i->get<std::int64_t>();
    }
    if (auto o = usage->find("output_tokens"); o != usage->end() && o->is_number_integer()) {
      usage_.completion_tokens = o->get<std::int64_t>();
    }
  }

  asio::awaitable<bool> write(std::string text) {
    if (!streamed_) {
      streamed_ = true;  // from here on no retry and no fallback: the client may have seen it
      time_to_first_token_ = Clock::now() - started_;
    }
    bool delivered = co_await reply_.write_delta(text);
    if (!delivered) client_gone_ = true;
    co_return delivered;
  }

  std::string scrub(std::string text) const { return redact_secret(std::move(text), key_.reveal()); }

  ReplyStream& reply_;
  const Secret& key_;
  Clock::time_point started_;
  int status_ = 0;
  std::chrono::milliseconds retry_after_{0};
  std::string error_body_;
  net::SseParser sse_;
  bool stopped_ = false;
  bool streamed_ = false;
  bool client_gone_ = false;
  std::string finish_reason_ = "stop";
  Usage usage_;
  std::string protocol_error_;
  Clock::duration time_to_first_token_{0};
};

class Backend final : public ValueCancellingBackend {
 public:
  Backend(const Spec& spec, net::HttpClient& http) : spec_(spec), http_(http) {}

  BackendHealth health() const override { return health_.get(); }

 private:
  net::ClientRequest upstream_request(const CompletionRequest& request) const {
    net::ClientRequest r;
    r.method = "POST";
    r.url = spec_.base_url + "/v1/messages";
    // Only the model's own key goes upstream, never anything the client sent.
    if (!spec_.api_key.empty()) r.headers.emplace_back("x-api-key", spec_.api_key.reveal());
    r.headers.emplace_back("anthropic-version", spec_.anthropic_version);
    r.headers.emplace_back("Content-Type", "application/json");
    r.headers.emplace_back("Accept", "text/event-stream");
    add_trace_headers(r, request);
    r.body = request_body(request, spec_).dump(-1, ' ', false, json::error_handler_t::replace);
    apply_deadlines(r, spec_.deadlines, request.deadline);
    return r;
  }

  asio::awaitable<Completion> run(CompletionRequest request, ReplyStream& reply) override {
    Exchange exchange(reply, spec_.api_key, Clock::now());
    net::HttpClient::HeadHandler on_head = [&exchange](const net::ClientResponseHead& head) { exchange.on_head(head); };
    net::HttpClient::BodyHandler on_body = [&exchange](std::string piece) { return exchange.on_piece(std::move(piece)); };
    net::ClientRequest upstream = upstream_request(request);
    auto result = co_await http_.stream(std::move(upstream), std::move(on_head), std::move(on_body));
    Completion c = exchange.conclude(result);
    health_.record(c);
    co_return c;
  }

  Spec spec_;
  net::HttpClient& http_;
  CallHealth health_;
};

}  // namespace

std::unique_ptr<config::ModelSpec> parse_spec(config::MapReader& r) {
  auto spec = std::make_unique<Spec>();
  auto& ctx = r.context();
  if (auto url = r.optional<std::string>("base_url")) {
    std::string error;
    auto parsed = net::parse_http_url(*url, error);
    if (!parsed) {
      ctx.error(r.child("base_url"), r.path_of("base_url"), "base_url must be an http(s) URL: " + error);
    }
    spec->base_url = *url;
    while (!spec->base_url.empty() && spec->base_url.back() == '/') spec->base_url.pop_back();
  }
  if (auto model = r.required<std::string>("model")) {
    if (model->empty()) ctx.error(r.child("model"), r.path_of("model"), "model must not be empty");
    spec->model = *model;
  }
  if (auto key = r.required<Secret>("api_key")) spec->api_key = *key;
  spec->anthropic_version = r.optional<std::string>("anthropic_version").value_or(spec->anthropic_version);
  if (auto max = r.optional<std::int64_t>("max_tokens")) {
    if (*max < 1) ctx.error(r.child("max_tokens"), r.path_of("max_tokens"), "max_tokens must be at least 1");
    spec->max_tokens = *max;
  }
  parse_deadlines(r, spec->deadlines);
  return spec;
}

std::unique_ptr<ModelBackend> create(const config::ModelSpec& spec, BackendDeps& deps) {
  const auto* anthropic = dynamic_cast<const Spec*>(&spec);
  if (!anthropic) throw std::logic_error("model " + spec.name + ": not an anthropic spec");
  return std::make_unique<Backend>(*anthropic, deps.http);
}

}  // namespace hermes::backends::anthropic
