#include "hermes/backends/openai.hpp"

#include <exception>
#include <stdexcept>

#include "hermes/config/reader.hpp"
#include "hermes/core/json_writer.hpp"
#include "hermes/net/client.hpp"
#include "src/backends/common.hpp"
#include "src/backends/coro.hpp"
#include "src/backends/openai/exchange.hpp"

namespace hermes::backends::openai {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

void write_turn(JsonWriter& w, const ChatTurn& turn) {
  w.begin_object().key("role").value(turn.role).key("content");
  if (!turn.parts.empty()) {
    w.raw(turn.parts);  // the client's content list, images and all (validated JSON)
  } else if (turn.content.empty() && !turn.tool_calls.empty()) {
    w.null();
  } else {
    w.value(turn.content);
  }
  write_openai_tool_calls(w, turn.tool_calls);
  if (!turn.tool_call_id.empty()) w.key("tool_call_id").value(turn.tool_call_id);
  w.end_object();
}

// The client's model options, as it sent them (JSON values were validated on the way in).
void write_options(JsonWriter& w, const ModelOptions& o) {
  auto raw = [&w](const char* name, const std::string& json) {
    if (!json.empty()) w.key(name).raw(json);
  };
  raw("tools", o.tools);
  raw("tool_choice", o.tool_choice);
  raw("response_format", o.response_format);
  raw("stop", o.stop);
  if (o.parallel_tool_calls) w.key("parallel_tool_calls").boolean(*o.parallel_tool_calls);
  if (o.seed) w.key("seed").value(*o.seed);
  if (o.frequency_penalty) w.key("frequency_penalty").value(*o.frequency_penalty);
  if (o.presence_penalty) w.key("presence_penalty").value(*o.presence_penalty);
  if (o.top_p) w.key("top_p").value(*o.top_p);
  if (o.logprobs) w.key("logprobs").boolean(*o.logprobs);
  if (o.top_logprobs) w.key("top_logprobs").value(*o.top_logprobs);
  if (o.choices > 1) w.key("n").value(o.choices);
  for (const auto& [name, json] : o.passthrough) w.key(name).raw(json);
}

// Written with JsonWriter: one body per request, and a DOM for it cost more than sending it.
std::string request_body(const CompletionRequest& request, const std::string& model) {
  std::string body;
  body.reserve(128 + 64 * request.messages.size());
  JsonWriter w(body);
  w.begin_object().key("model").value(model).key("messages").begin_array();
  for (const auto& turn : request.messages) {
    write_turn(w, turn);
  }
  w.end_array();
  write_options(w, request.options());
  // A client that gets the answer whole costs one JSON parse instead of one per chunk.
  w.key("stream").boolean(request.stream);
  if (request.stream) w.key("stream_options").begin_object().key("include_usage").boolean(true).end_object();
  if (request.max_tokens) w.key("max_tokens").value(*request.max_tokens);
  if (request.temperature) w.key("temperature").value(*request.temperature);
  w.end_object();
  return body;
}

class Backend final : public ValueCancellingBackend {
 public:
  Backend(const Spec& spec, net::HttpClient& http) : spec_(spec), http_(http) {}

  // Everything a client may send is OpenAI's own format: passed on as it came.
  std::string cannot_serve(const CompletionRequest&) const override { return {}; }

  BackendHealth health() const override {
    std::lock_guard lock(health_mutex_);
    return health_;
  }

 private:
  asio::awaitable<Completion> run(CompletionRequest request, ReplyStream& reply) override;
  net::ClientRequest upstream_request(const CompletionRequest& request) const;
  void record(const Completion& c);

  Spec spec_;
  net::HttpClient& http_;
  mutable std::mutex health_mutex_;
  BackendHealth health_;
  int consecutive_failures_ = 0;
};

net::ClientRequest Backend::upstream_request(const CompletionRequest& request) const {
  net::ClientRequest r;
  r.method = "POST";
  r.url = spec_.base_url + "/chat/completions";
  // Only the model's own key goes upstream, never anything the client sent.
  if (!spec_.api_key.empty()) {
    r.headers.emplace_back("Authorization", "Bearer " + spec_.api_key.reveal());
  }
  r.headers.emplace_back("Content-Type", "application/json");
  r.headers.emplace_back("Accept", request.stream ? "text/event-stream" : "application/json");
  add_trace_headers(r, request);
  r.body = request_body(request, spec_.model);
  // Without streaming the first byte comes with the whole answer: only `timeout` bounds it.
  Duration first_byte = request.stream ? spec_.first_byte_timeout : spec_.timeout;
  apply_deadlines(r, HttpDeadlines{spec_.timeout, spec_.connect_timeout, first_byte}, request.deadline);
  return r;
}

asio::awaitable<Completion> Backend::run(CompletionRequest request, ReplyStream& reply) {
  Exchange exchange(reply, spec_.api_key, Clock::now(), request.options().choices);
  // Plain lambdas that call member coroutines (GCC 12: no capturing lambda coroutines).
  net::HttpClient::HeadHandler on_head = [&exchange](const net::ClientResponseHead& head) { exchange.on_head(head); };
  net::HttpClient::BodyHandler on_body = [&exchange](std::string piece) {
    return exchange.on_piece(std::move(piece));
  };
  net::ClientRequest upstream = upstream_request(request);
  auto result = co_await http_.stream(std::move(upstream), std::move(on_head), std::move(on_body));
  Completion completion = co_await exchange.conclude(std::move(result));
  record(completion);
  co_return completion;
}

void Backend::record(const Completion& c) {
  // Failures that say something about the upstream's health; a client that
  // went away or a rate limit does not.
  bool failure = c.error == BackendErrorKind::connect || c.error == BackendErrorKind::timeout ||
                 c.error == BackendErrorKind::protocol ||
                 (c.error == BackendErrorKind::http_status && c.upstream_status >= 500);
  std::lock_guard lock(health_mutex_);
  if (c.ok) {
    consecutive_failures_ = 0;
    health_ = BackendHealth{true, ""};
  } else if (failure) {
    ++consecutive_failures_;
    health_.healthy = consecutive_failures_ < 3;
    health_.detail = std::to_string(consecutive_failures_) + " failed call(s), last: " + c.error_message;
  }
}

}  // namespace

std::unique_ptr<config::ModelSpec> parse_spec(config::MapReader& r) {
  auto spec = std::make_unique<Spec>();
  auto& ctx = r.context();
  if (auto url = r.required<std::string>("base_url")) {
    std::string error;
    auto parsed = net::parse_http_url(*url, error);
    if (!parsed) {
      ctx.error(r.child("base_url"), r.path_of("base_url"), "base_url must be an http(s) URL: " + error);
    } else if (parsed->target != parsed->path) {
      ctx.error(r.child("base_url"), r.path_of("base_url"), "base_url must not have a query string");
    }
    spec->base_url = *url;
    while (!spec->base_url.empty() && spec->base_url.back() == '/') {
      spec->base_url.pop_back();
    }
  }
  if (auto model = r.required<std::string>("model")) {
    if (model->empty()) {
      ctx.error(r.child("model"), r.path_of("model"), "model must not be empty");
    }
    spec->model = *model;
  }
  if (auto key = r.optional<Secret>("api_key")) {
    spec->api_key = *key;
  }
  HttpDeadlines deadlines{spec->timeout, spec->connect_timeout, spec->first_byte_timeout};
  parse_deadlines(r, deadlines);
  spec->timeout = deadlines.timeout;
  spec->connect_timeout = deadlines.connect_timeout;
  spec->first_byte_timeout = deadlines.first_byte_timeout;
  return spec;
}

std::unique_ptr<ModelBackend> create(const config::ModelSpec& spec, BackendDeps& deps) {
  const auto* openai = dynamic_cast<const Spec*>(&spec);
  if (!openai) {
    throw std::logic_error("model " + spec.name + ": not an openai spec");
  }
  return std::make_unique<Backend>(*openai, deps.http);
}

}  // namespace hermes::backends::openai
