#include "hermes/backends/anthropic.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <exception>
#include <mutex>
#include <stdexcept>

#include "hermes/config/reader.hpp"
#include "hermes/net/client.hpp"
#include "hermes/net/sse.hpp"
#include "src/backends/common.hpp"
#include "src/backends/anthropic/translate.hpp"
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

// An OpenAI image_url part as an Anthropic image block: a data URL's bytes inline
// (base64 source), any other URL by reference (url source).
json image_block(const json& part) {
  std::string url = part.contains("image_url") && part["image_url"].is_object() ? json_string(part["image_url"], "url")
                                                                               : "";
  constexpr std::string_view kData = "data:";
  if (url.rfind(kData, 0) == 0) {
    auto comma = url.find(',');
    auto meta = url.substr(kData.size(), comma == std::string::npos ? 0 : comma - kData.size());
    auto semicolon = meta.find(';');
    return {{"type", "image"},
            {"source", {{"type", "base64"},
                        {"media_type", meta.substr(0, semicolon)},
                        {"data", comma == std::string::npos ? "" : url.substr(comma + 1)}}}};
  }
  return {{"type", "image"}, {"source", {{"type", "url"}, {"url", url}}}};
}

// A turn's content blocks: text and images; an assistant's tool calls as tool_use
// blocks; a tool result as a tool_result block (sent in a user message).
json content_blocks(const ChatTurn& turn) {
  json blocks = json::array();
  if (turn.role == "tool") {
    blocks.push_back({{"type", "tool_result"}, {"tool_use_id", turn.tool_call_id}, {"content", turn.content}});
    return blocks;
  }
  auto parts = turn.parts.empty() ? json() : json::parse(turn.parts, nullptr, false);
  if (parts.is_array()) {
    for (const auto& part : parts) {
      std::string type = part.is_object() ? json_string(part, "type") : "";
      if (type == "text") blocks.push_back({{"type", "text"}, {"text", json_string(part, "text")}});
      if (type == "image_url") blocks.push_back(image_block(part));
    }
  } else if (!turn.content.empty()) {
    blocks.push_back({{"type", "text"}, {"text", turn.content}});
  }
  for (const auto& call : turn.tool_calls) {
    auto input = json::parse(call.arguments, nullptr, false);
    if (!input.is_object()) input = json::object();  // Anthropic takes an object; the model wrote something else
    blocks.push_back({{"type", "tool_use"}, {"id", call.id}, {"name", call.name}, {"input", std::move(input)}});
  }
  return blocks;
}

// Only text blocks: the plain string the API has always been sent.
json collapsed(json blocks) {
  std::string text;
  for (const auto& b : blocks) {
    if (b["type"] != "text") return blocks;
    text += (text.empty() ? "" : "\n\n") + b["text"].get<std::string>();
  }
  return text;
}

// OpenAI tools and tool_choice in Anthropic's words.
void add_tools(json& body, const ModelOptions& o) {
  auto tools = o.tools.empty() ? json() : json::parse(o.tools, nullptr, false);
  if (tools.is_array() && !tools.empty()) {
    json out = json::array();
    for (const auto& t : tools) {
      json f = t.is_object() ? t.value("function", json::object()) : json::object();
      if (!f.is_object()) continue;
      json tool = {{"name", json_string(f, "name")},
                   {"input_schema", f.contains("parameters") && f["parameters"].is_object() ? f["parameters"]
                                                                                          : json{{"type", "object"}}}};
      if (auto d = json_string(f, "description"); !d.empty()) tool["description"] = d;
      out.push_back(std::move(tool));
    }
    body["tools"] = std::move(out);
  }
  auto choice = o.tool_choice.empty() ? json() : json::parse(o.tool_choice, nullptr, false);
  json mapped;
  if (choice == "auto") mapped = {{"type", "auto"}};
  if (choice == "required") mapped = {{"type", "any"}};
  if (choice == "none") mapped = {{"type", "none"}};
  if (choice.is_object() && choice.contains("function") && choice["function"].is_object()) {
    mapped = {{"type", "tool"}, {"name", json_string(choice["function"], "name")}};
  }
  if (o.parallel_tool_calls == false && body.contains("tools")) {
    if (mapped.is_null()) mapped = {{"type", "auto"}};
    if (mapped["type"] != "none") mapped["disable_parallel_tool_use"] = true;
  }
  if (!mapped.is_null()) body["tool_choice"] = std::move(mapped);
}

}  // namespace

// System turns go to the top-level `system`; the rest must alternate starting with a
// user turn, so consecutive turns of one role are merged: their blocks joined, which also
// puts the results of parallel tool calls in one user message, as the API wants them.
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
    auto blocks = content_blocks(turn);
    if (!messages.empty() && messages.back()["role"] == role) {
      auto& into = messages.back()["content"];
      for (auto& b : blocks) into.push_back(std::move(b));
    } else {
      messages.push_back({{"role", role}, {"content", std::move(blocks)}});
    }
  }
  for (auto& m : messages) m["content"] = collapsed(std::move(m["content"]));
  json body = {{"model", spec.model},
               {"max_tokens", request.max_tokens.value_or(spec.max_tokens)},
               {"messages", std::move(messages)},
               {"stream", true}};
  if (!system.empty()) body["system"] = system;
  if (request.temperature) body["temperature"] = std::min(*request.temperature, 1.0);  // Anthropic's range is 0..1
  if (request.options().top_p) body["top_p"] = *request.options().top_p;
  if (!request.options().stop.empty()) {
    auto stop = json::parse(request.options().stop, nullptr, false);
    body["stop_sequences"] = stop.is_string() ? json::array({stop}) : stop;
  }
  add_tools(body, request.options());
  return body;
}

namespace {

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
      std::optional<ToolCallDelta> call;
      if (!apply(event, delta, call)) co_return false;
      if (call) {
        bool more = co_await write_call(std::move(*call));
        if (!more) co_return false;
      }
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
    c.tool_calls = calls_;
    c.usage = usage_;
    c.upstream_status = status_;
    c.streamed = streamed_;
    c.time_to_first_token = time_to_first_token_;
    return c;
  }

 private:
  // tool_use blocks become OpenAI tool calls, numbered in order of appearance: the
  // block's start carries id and name, its input_json_delta events the arguments.
  bool apply(const net::SseEvent& event, std::string& delta, std::optional<ToolCallDelta>& call) {
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
    } else if (type == "content_block_start") {
      auto block = data.find("content_block");
      if (block != data.end() && block->is_object() && json_string(*block, "type") == "tool_use") {
        int index = static_cast<int>(tool_blocks_.size());
        tool_blocks_[block_index(data)] = index;
        call = ToolCallDelta{index, json_string(*block, "id"), json_string(*block, "name"), ""};
      }
    } else if (type == "content_block_delta") {
      auto d = data.find("delta");
      std::string kind = d != data.end() && d->is_object() ? json_string(*d, "type") : "";
      if (kind == "text_delta") delta = json_string(*d, "text");
      if (auto block = tool_blocks_.find(block_index(data)); kind == "input_json_delta" && block != tool_blocks_.end()) {
        call = ToolCallDelta{block->second, "", "", json_string(*d, "partial_json")};
      }
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

  static int block_index(const json& event) {
    auto i = event.find("index");
    return i != event.end() && i->is_number_integer() ? i->get<int>() : -1;
  }

  void read_usage(const json& object) {
    auto usage = object.find("usage");
    if (usage == object.end() || !usage->is_object()) return;
    auto count = [&usage](const char* name, std::int64_t& into) {
      if (auto n = usage->find(name); n != usage->end() && n->is_number_integer()) into = n->get<std::int64_t>();
    };
    count("input_tokens", input_tokens_);
    count("cache_read_input_tokens", cache_read_);
    count("cache_creation_input_tokens", cache_creation_);
    count("output_tokens", usage_.completion_tokens);
    // Anthropic counts cached input apart from input_tokens; OpenAI's prompt_tokens include
    // it, and so do the gateway's (token budgets pay for every input token).
    if (input_tokens_ >= 0) {
      usage_.prompt_tokens = input_tokens_ + std::max<std::int64_t>(0, cache_read_) + std::max<std::int64_t>(0, cache_creation_);
    }
    if (cache_read_ >= 0) usage_.cached_tokens = cache_read_;
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

  asio::awaitable<bool> write_call(ToolCallDelta delta) {
    if (!streamed_) {
      streamed_ = true;
      time_to_first_token_ = Clock::now() - started_;
    }
    if (!add_tool_call_delta(calls_, delta)) {
      protocol_error_ = "the upstream's tool calls exceed 128 calls or 1 MiB of arguments";
      co_return false;
    }
    bool delivered = co_await reply_.write_tool_call(delta);
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
  std::map<int, int> tool_blocks_;  // content block index -> tool call index
  std::int64_t input_tokens_ = -1, cache_read_ = -1, cache_creation_ = -1;
  std::vector<ToolCall> calls_;
};

class Backend final : public ValueCancellingBackend {
 public:
  Backend(const Spec& spec, net::HttpClient& http) : spec_(spec), http_(http) {}

  BackendHealth health() const override { return health_.get(); }

  // Tools, tool turns and images translate; JSON modes and audio or file parts do not.
  std::string cannot_serve(const CompletionRequest& request) const override {
    if (!request.options().response_format.empty()) return "this agent's model (anthropic) does not take response_format";
    if (request.options().choices > 1) return "this agent's model (anthropic) returns one choice ('n' must be 1)";
    for (const auto& turn : request.messages) {
      auto parts = turn.parts.empty() ? json() : json::parse(turn.parts, nullptr, false);
      for (const auto& part : parts.is_array() ? parts : json::array()) {
        auto type = part.is_object() ? json_string(part, "type") : "";
        if (type != "text" && type != "image_url") {
          return "this agent's model (anthropic) does not take '" + type + "' content parts";
        }
      }
    }
    return {};
  }

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
