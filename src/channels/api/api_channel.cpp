// POST /v1/chat/completions and GET /v1/models, in OpenAI's wire format.
#include <openssl/crypto.h>
#include <strings.h>
#include <spdlog/spdlog.h>

#include "hermes/core/digest.hpp"
#include "hermes/core/throttle.hpp"
#include "hermes/channels/api.hpp"
#include "hermes/observability/metrics.hpp"
#include "src/channels/api/replies.hpp"

namespace hermes::channels::api {
namespace {

using net::HttpRequest;
using net::HttpResponse;

ReplyError bad_request(std::string message) { return {Reason::bad_request, std::move(message), {}, {}}; }

// OpenAI content is a string or a list of parts; only text parts reach a model.
std::optional<std::string> content_text(const nlohmann::json& content) {
  if (content.is_string()) return content.get<std::string>();
  if (content.is_null()) return std::string();
  if (!content.is_array()) return std::nullopt;
  std::string text;
  for (const auto& part : content) {
    if (part.is_object() && part.value("type", "") == "text" && part.contains("text") && part["text"].is_string()) {
      if (!text.empty()) text += "\n";
      text += part["text"].get<std::string>();
    }
  }
  return text;
}

struct ParsedRequest {
  InboundMessage message;
  bool stream = false;
  bool include_usage = false;
};

std::optional<ReplyError> parse_body(const std::string& body, ParsedRequest& out) {
  auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return bad_request("the request body is not a JSON object");
  const auto& messages = json.contains("messages") ? json["messages"] : nlohmann::json();
  if (!messages.is_array() || messages.empty()) return bad_request("'messages' must be a non-empty array");
  std::vector<ChatTurn> turns;
  for (const auto& m : messages) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return bad_request("every message needs a string 'role'");
    }
    auto text = content_text(m.contains("content") ? m["content"] : nlohmann::json());
    if (!text) return bad_request("message 'content' must be a string or a list of text parts");
    turns.push_back({m["role"].get<std::string>(), std::move(*text)});
  }
  auto last_user = std::find_if(turns.rbegin(), turns.rend(), [](const ChatTurn& t) { return t.role == "user"; });
  if (last_user == turns.rend()) return bad_request("'messages' has no user message");
  auto index = static_cast<std::size_t>(std::distance(turns.begin(), last_user.base()) - 1);
  auto& msg = out.message;
  msg.text = turns[index].content;
  msg.context.assign(turns.begin(), turns.begin() + static_cast<long>(index));
  if (json.contains("model")) {
    if (!json["model"].is_string()) return bad_request("'model' must be a string");
    msg.model = json["model"].get<std::string>();
  }
  if (json.contains("stream") && !json["stream"].is_null()) {
    if (!json["stream"].is_boolean()) return bad_request("'stream' must be true or false");
    out.stream = json["stream"].get<bool>();
  }
  if (json.contains("stream_options") && json["stream_options"].is_object()) {
    const auto& usage = json["stream_options"].contains("include_usage") ? json["stream_options"]["include_usage"]
                                                                        : nlohmann::json();
    if (!usage.is_null() && !usage.is_boolean()) return bad_request("'stream_options.include_usage' must be true or false");
    out.include_usage = usage.is_boolean() && usage.get<bool>();
  }
  if (json.contains("user") && json["user"].is_string()) msg.session_hint = json["user"].get<std::string>();
  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    if (json.contains(key) && json[key].is_number_integer() && !msg.max_tokens) {
      msg.max_tokens = json[key].get<std::int64_t>();
    }
  }
  if (json.contains("temperature") && json["temperature"].is_number()) {
    msg.temperature = json["temperature"].get<double>();
  }
  return std::nullopt;
}

class ApiChannel final : public Channel, public std::enable_shared_from_this<ApiChannel> {
 public:
  ApiChannel(const ApiSpec& spec, ChannelContext& ctx)
      : spec_(spec), ingress_(ctx.ingress), config_(ctx.config), audit_(ctx.audit),
        requests_(ctx.metrics.counter("hermes_api_requests_total",
                                      "OpenAI-compatible API requests, by channel, outcome and stream mode.",
                                      {"channel", "outcome", "stream"})) {}

  void mount(net::HttpRoutes& routes) {
    auto self = shared_from_this();
    routes.add(
        "POST", "/v1/chat/completions",
        [self](HttpRequest r) { return chat_completions(self, std::move(r)); }, "/v1/chat/completions",
        /*cancel_on_disconnect=*/true);
    routes.add("GET", "/v1/models", [self](HttpRequest r) { return models(self, std::move(r)); }, "/v1/models");
  }

 private:
  struct Identity {
    std::string name;
    std::vector<std::string> agents;
  };

  std::optional<Identity> authenticate(const HttpRequest& r) const {
    if (spec_.keys.empty()) return Identity{"local", {}};  // validated: only on loopback listeners
    auto auth = r.header("authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (!auth || auth->size() <= kBearer.size() || strncasecmp(auth->data(), kBearer.data(), kBearer.size()) != 0) {
      return std::nullopt;
    }
    const ApiKey* found = find_api_key(spec_.keys, auth->substr(kBearer.size()));
    if (!found) return std::nullopt;
    return Identity{found->name, found->agents};
  }

  HttpResponse unauthorized(const HttpRequest& r, const std::string& request_id) const {
    AuditEvent ev;
    ev.kind = "auth.reject";
    ev.request_id = request_id;
    ev.channel = spec_.name;
    ev.decision = "refused";
    ev.status = "invalid_api_key";
    ev.detail = {{"client", r.client.to_string()}, {"path", r.path}};
    record_throttled(audit_, unauthorized_rows_, std::move(ev));
    requests_.with({spec_.name, "unauthorized", "false"}).inc();
    return openai_error({Reason::unauthorized, "Incorrect API key provided.", {}, {}}, request_id);
  }

  InboundMessage base_message(const HttpRequest& r, const std::string& request_id, const Identity& who) const {
    InboundMessage m;
    m.request_id = request_id;
    m.traceparent = std::string(r.header("traceparent").value_or(""));
    m.channel = spec_.name;
    m.channel_type = "api";
    m.account = r.listener;
    m.sender = who.name;
    m.api_key = who.name;
    m.allowed_agents = who.agents;
    m.client = r.client;
    return m;
  }

  // Rejections before the pipeline still leave an audit row (overload: rate-limited) and a count.
  HttpResponse rejected(const HttpRequest& r, const std::string& request_id, const std::string& sender,
                        const ReplyError& error) const {
    AuditEvent ev;
    ev.kind = "message.rejected";
    ev.request_id = request_id;
    ev.channel = spec_.name;
    ev.sender = sender;
    ev.decision = "rejected";
    ev.status = std::string(reason_code(error.reason));
    ev.detail = {{"client", r.client.to_string()}, {"message", error.message}};
    if (error.reason == Reason::overloaded) {
      record_throttled(audit_, overloaded_rows_, std::move(ev));
    } else {
      audit_.record(std::move(ev));
    }
    requests_.with({spec_.name, std::string(reason_code(error.reason)), "false"}).inc();
    return openai_error(error, request_id);
  }

  static std::string request_id_of(const HttpRequest& r) {
    auto supplied = sanitize_request_id(r.header("x-request-id").value_or(""));
    return supplied.empty() ? generate_request_id() : supplied;
  }

  static boost::asio::awaitable<HttpResponse> chat_completions(std::shared_ptr<ApiChannel> self, HttpRequest r) {
    std::string request_id = request_id_of(r);
    auto who = self->authenticate(r);
    if (!who) co_return self->unauthorized(r, request_id);
    if (!self->ingress_->has_headroom()) {
      ReplyError busy{Reason::overloaded, "The gateway is busy; retry shortly.", std::chrono::seconds(1), {}};
      co_return self->rejected(r, request_id, who->name, busy);
    }
    ParsedRequest parsed;
    parsed.message = self->base_message(r, request_id, *who);
    if (auto hint = r.header("x-hermes-session")) parsed.message.session_hint = std::string(*hint);
    if (auto error = parse_body(r.body, parsed)) {
      co_return self->rejected(r, request_id, who->name, *error);
    }
    if (parsed.stream) {
      HttpResponse streaming;
      streaming.stream = [self, message = std::move(parsed.message),
                          usage = parsed.include_usage](net::ResponseStream& out) mutable {
        return stream_completion(self, std::move(message), usage, &out);
      };
      co_return streaming;
    }
    BufferedReply reply;
    auto outcome = co_await self->ingress_->submit(std::move(parsed.message), reply);
    self->requests_.with({self->spec_.name, std::string(reason_code(outcome.reason)), "false"}).inc();
    co_return reply.response(request_id);
  }

  static boost::asio::awaitable<HttpResponse> stream_completion(std::shared_ptr<ApiChannel> self,
                                                                 InboundMessage message, bool include_usage,
                                                                 net::ResponseStream* out) {
    std::string request_id = message.request_id;
    SseReply reply(*out, request_id, include_usage);
    auto outcome = co_await self->ingress_->submit(std::move(message), reply);
    self->requests_.with({self->spec_.name, std::string(reason_code(outcome.reason)), "true"}).inc();
    if (auto early = reply.unstarted_response()) co_return std::move(*early);
    co_return HttpResponse{};
  }

  static boost::asio::awaitable<HttpResponse> models(std::shared_ptr<ApiChannel> self, HttpRequest r) {
    std::string request_id = request_id_of(r);
    auto who = self->authenticate(r);
    if (!who) co_return self->unauthorized(r, request_id);
    nlohmann::json data = nlohmann::json::array();
    for (const auto& agent : self->config_->agents) {
      bool allowed = who->agents.empty() ||
                     std::find(who->agents.begin(), who->agents.end(), agent.name) != who->agents.end();
      if (allowed) {
        data.push_back({{"id", agent.name}, {"object", "model"}, {"created", 0}, {"owned_by", "hermes"}});
      }
    }
    auto resp = HttpResponse::json(200, {{"object", "list"}, {"data", data}});
    resp.with_header("X-Request-Id", request_id);
    co_return resp;
  }

  ApiSpec spec_;
  std::shared_ptr<Ingress> ingress_;
  std::shared_ptr<const config::Config> config_;
  AuditSink& audit_;
  observability::CounterFamily& requests_;
  // Refusals that cost the client nothing come in floods: see record_throttled.
  mutable EventThrottle unauthorized_rows_;
  mutable EventThrottle overloaded_rows_;
};

}  // namespace

std::shared_ptr<Channel> make_channel(const config::ChannelSpec& spec, ChannelContext& context) {
  auto channel = std::make_shared<ApiChannel>(static_cast<const ApiSpec&>(spec), context);
  channel->mount(context.routes);
  return channel;
}

}  // namespace hermes::channels::api
