#include "hermes/backends/webhook.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <exception>
#include <optional>
#include <mutex>
#include <stdexcept>

#include "hermes/config/reader.hpp"
#include "hermes/core/digest.hpp"
#include "hermes/net/client.hpp"
#include "hermes/net/sse.hpp"
#include "src/backends/common.hpp"
#include "src/backends/coro.hpp"

namespace hermes::backends::webhook {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr std::size_t kAnswerLimit = 8 * 1024 * 1024;

// A turn as the agent service gets it: role and text, and where present the content
// parts, the tool calls an assistant turn made and the call a tool turn answers.
json turn_json(const ChatTurn& t) {
  json turn = {{"role", t.role}, {"content", t.content}};
  if (!t.parts.empty()) turn["parts"] = json::parse(t.parts, nullptr, false);
  if (!t.tool_call_id.empty()) turn["tool_call_id"] = t.tool_call_id;
  if (!t.tool_calls.empty()) {
    auto& calls = turn["tool_calls"] = json::array();
    for (const auto& c : t.tool_calls) calls.push_back({{"id", c.id}, {"name", c.name}, {"arguments", c.arguments}});
  }
  return turn;
}

// {"id","name","arguments"} from the agent: a tool call (arguments: JSON text).
std::optional<ToolCallDelta> tool_call_of(const json& c, int index) {
  if (!c.is_object() || !c.contains("name") || !c["name"].is_string()) return std::nullopt;
  ToolCallDelta d{index, json_string(c, "id"), json_string(c, "name"), json_string(c, "arguments")};
  if (d.id.empty()) d.id = "call_" + std::to_string(index);
  return d;
}

std::string request_body(const CompletionRequest& r) {
  json messages = json::array();
  for (const auto& t : r.messages) messages.push_back(turn_json(t));
  std::string text = r.messages.empty() ? std::string() : r.messages.back().content;
  json body = {{"request_id", r.request_id},
               {"timestamp", std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count()},
               {"agent", r.agent},
               {"rule", r.rule},
               {"message",
                {{"channel", r.origin.channel},
                 {"channel_type", r.origin.channel_type},
                 {"sender", r.origin.sender},
                 {"conversation", r.origin.conversation},
                 {"thread", r.origin.thread},
                 {"session_id", r.origin.session_id},
                 {"text", text}}},
               {"messages", std::move(messages)}};
  if (r.max_tokens) body["max_tokens"] = *r.max_tokens;
  if (r.temperature) body["temperature"] = *r.temperature;
  auto add = [&body](const char* name, const std::string& json_text) {
    if (!json_text.empty()) body[name] = json::parse(json_text, nullptr, false);
  };
  add("tools", r.options().tools);
  add("tool_choice", r.options().tool_choice);
  add("response_format", r.options().response_format);
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

void read_usage(const json& object, Usage& usage) {
  auto u = object.find("usage");
  if (u == object.end() || !u->is_object()) return;
  if (auto p = u->find("prompt_tokens"); p != u->end() && p->is_number_integer()) usage.prompt_tokens = *p;
  if (auto c = u->find("completion_tokens"); c != u->end() && c->is_number_integer()) usage.completion_tokens = *c;
}

std::string error_of(const json& object) {
  auto e = object.find("error");
  if (e == object.end() || e->is_null()) return {};
  if (e->is_string()) return e->get<std::string>().substr(0, 300);
  if (e->is_object() && e->contains("message") && (*e)["message"].is_string()) {
    return (*e)["message"].get<std::string>().substr(0, 300);
  }
  return "error";
}

class Exchange {
 public:
  Exchange(ReplyStream& reply, Clock::time_point started) : reply_(reply), started_(started) {}

  void on_head(const net::ClientResponseHead& head) {
    status_ = head.status;
    sse_mode_ = head.header("content-type").value_or("").find("text/event-stream") != std::string_view::npos;
  }

  asio::awaitable<bool> on_piece(std::string piece) {
    if (!sse_mode_ || status_ < 200 || status_ >= 300) {
      if (body_.size() + piece.size() > kAnswerLimit) {
        problem_ = "the agent's answer exceeds 8 MiB";
        co_return false;
      }
      body_.append(piece);
      co_return true;
    }
    std::vector<net::SseEvent> events;
    if (sse_.feed(piece, events) != net::SseStatus::ok) {
      problem_ = "malformed event stream";
      co_return false;
    }
    for (auto& event : events) {
      auto data = json::parse(event.data, nullptr, false);
      if (!data.is_object()) {
        problem_ = "malformed JSON in the agent's event stream";
        co_return false;
      }
      if (auto error = error_of(data); !error.empty() || event.type == "error") {
        problem_ = "the agent reported an error: " + (error.empty() ? event.data.substr(0, 300) : error);
        co_return false;
      }
      read_usage(data, usage_);
      if (data.value("done", false)) done_ = true;
      if (auto call = data.find("tool_call"); call != data.end()) {
        int index = call->is_object() && call->contains("index") && (*call)["index"].is_number_integer()
                        ? std::clamp((*call)["index"].get<int>(), 0, 127)
                        : 0;
        ToolCallDelta d{index, json_string(*call, "id"), json_string(*call, "name"), json_string(*call, "arguments")};
        bool more = co_await write_call(std::move(d));
        if (!more) co_return false;
      }
      std::string text = json_string(data, "text");
      if (text.empty()) continue;
      bool more = co_await write(std::move(text));
      if (!more) co_return false;
    }
    co_return true;
  }

  asio::awaitable<Completion> conclude(net::ClientResult result) {
    Completion c;
    if (client_gone_) {
      c.error = BackendErrorKind::cancelled;
      c.error_message = "the client went away; agent request aborted";
    } else if (!problem_.empty()) {
      c.error = BackendErrorKind::protocol;
      c.error_message = problem_;
    } else if (status_ != 0 && (status_ < 200 || status_ >= 300)) {
      c.error = status_ == 429 ? BackendErrorKind::rate_limited : BackendErrorKind::http_status;
      c.error_message = "the agent answered HTTP " + std::to_string(status_);
    } else if (!result.ok()) {
      c = from_client_error(result);
    } else if (sse_mode_ && !done_) {
      c.error = BackendErrorKind::protocol;
      c.error_message = "the agent's event stream ended without {\"done\": true}";
    } else if (!sse_mode_) {
      auto answer = json::parse(body_, nullptr, false);
      bool has_calls = answer.is_object() && answer.contains("tool_calls") && answer["tool_calls"].is_array();
      bool has_text = answer.is_object() && answer.contains("text") && answer["text"].is_string();
      if (!has_text && !has_calls) {
        c.error = BackendErrorKind::protocol;
        c.error_message = "the agent's answer is not JSON with a string \"text\" or a \"tool_calls\" array";
      } else {
        read_usage(answer, usage_);
        for (int i = 0; has_calls && i < static_cast<int>(std::min<std::size_t>(answer["tool_calls"].size(), 128)); ++i) {
          auto call = tool_call_of(answer["tool_calls"][static_cast<std::size_t>(i)], i);
          if (!call) {
            c.error = BackendErrorKind::protocol;
            c.error_message = "a tool call in the agent's answer has no string \"name\"";
            break;
          }
          bool delivered = co_await write_call(std::move(*call));
          if (!delivered) {
            c.error = problem_.empty() ? BackendErrorKind::cancelled : BackendErrorKind::protocol;
            c.error_message = problem_.empty() ? "the client went away" : problem_;
            break;
          }
        }
        std::string text = has_text && c.error == BackendErrorKind::none ? answer["text"].get<std::string>() : "";
        if (!text.empty()) {
          bool delivered = co_await write(std::move(text));
          if (!delivered) {
            c.error = BackendErrorKind::cancelled;
            c.error_message = "the client went away";
          }
        }
      }
    }
    c.ok = c.error == BackendErrorKind::none;
    if (c.ok && !calls_.empty()) {
      c.finish_reason = "tool_calls";
      c.tool_calls = calls_;
    }
    c.usage = usage_;
    c.upstream_status = status_;
    c.streamed = streamed_;
    c.time_to_first_token = ttft_;
    co_return c;
  }

 private:
  asio::awaitable<bool> write_call(ToolCallDelta delta) {
    if (!streamed_) {
      streamed_ = true;
      ttft_ = Clock::now() - started_;
    }
    if (!add_tool_call_delta(calls_, delta)) {
      problem_ = "the agent's tool calls exceed 128 calls or 1 MiB of arguments";
      co_return false;
    }
    bool delivered = co_await reply_.write_tool_call(delta);
    if (!delivered) client_gone_ = true;
    co_return delivered;
  }

  asio::awaitable<bool> write(std::string text) {
    if (!streamed_) {
      streamed_ = true;
      ttft_ = Clock::now() - started_;
    }
    bool delivered = co_await reply_.write_delta(text);
    if (!delivered) client_gone_ = true;
    co_return delivered;
  }

  ReplyStream& reply_;
  Clock::time_point started_;
  int status_ = 0;
  bool sse_mode_ = false;
  net::SseParser sse_;
  std::string body_;
  bool done_ = false;
  bool streamed_ = false;
  bool client_gone_ = false;
  Usage usage_;
  std::vector<ToolCall> calls_;
  std::string problem_;
  Clock::duration ttft_{0};
};

class Backend final : public ValueCancellingBackend {
 public:
  Backend(const Spec& spec, net::HttpClient& http) : spec_(spec), http_(http) {}

  BackendHealth health() const override { return health_.get(); }
  // The agent service gets everything in its JSON (docs/backends/webhook.md) and
  // answers once.
  std::string cannot_serve(const CompletionRequest& request) const override {
    return request.options().choices > 1 ? "this agent's model (webhook) returns one choice ('n' must be 1)" : "";
  }

 private:
  net::ClientRequest upstream_request(const CompletionRequest& request) const {
    net::ClientRequest r;
    r.method = "POST";
    r.url = spec_.url;
    r.body = request_body(request);
    r.headers.emplace_back("Content-Type", "application/json");
    r.headers.emplace_back("Accept", "text/event-stream, application/json");
    for (auto& header : standard_webhooks::signature_headers(spec_.signature, spec_.secret.reveal(),
                                                             "msg_" + request.request_id, r.body,
                                                             std::chrono::system_clock::now())) {
      r.headers.push_back(std::move(header));
    }
    add_trace_headers(r, request);
    apply_deadlines(r, spec_.deadlines, request.deadline);
    return r;
  }

  asio::awaitable<Completion> run(CompletionRequest request, ReplyStream& reply) override {
    Exchange exchange(reply, Clock::now());
    net::HttpClient::HeadHandler on_head = [&exchange](const net::ClientResponseHead& head) { exchange.on_head(head); };
    net::HttpClient::BodyHandler on_body = [&exchange](std::string piece) { return exchange.on_piece(std::move(piece)); };
    net::ClientRequest upstream = upstream_request(request);
    auto result = co_await http_.stream(std::move(upstream), std::move(on_head), std::move(on_body));
    Completion c = co_await exchange.conclude(std::move(result));
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
  if (auto url = r.required<std::string>("url")) {
    std::string error;
    if (!net::parse_http_url(*url, error)) {
      ctx.error(r.child("url"), r.path_of("url"), "url must be an http(s) URL: " + error);
    }
    spec->url = *url;
  }
  if (auto secret = r.required<Secret>("secret")) spec->secret = *secret;
  spec->signature = r.optional<standard_webhooks::Scheme>("signature").value_or(spec->signature);
  parse_deadlines(r, spec->deadlines);
  return spec;
}

std::unique_ptr<ModelBackend> create(const config::ModelSpec& spec, BackendDeps& deps) {
  const auto* webhook = dynamic_cast<const Spec*>(&spec);
  if (!webhook) throw std::logic_error("model " + spec.name + ": not a webhook spec");
  return std::make_unique<Backend>(*webhook, deps.http);
}

}  // namespace hermes::backends::webhook
