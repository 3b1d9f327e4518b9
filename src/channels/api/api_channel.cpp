// POST /v1/chat/completions and GET /v1/models, in OpenAI's wire format.
#include <openssl/crypto.h>
#include <strings.h>
#include <spdlog/spdlog.h>

#include "hermes/core/digest.hpp"
#include "hermes/core/throttle.hpp"
#include "hermes/channels/api.hpp"
#include "hermes/observability/metrics.hpp"
#include "src/channels/api/replies.hpp"
#include "src/channels/api/request.hpp"

namespace hermes::channels::api {
namespace {

using net::HttpRequest;
using net::HttpResponse;

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
    // Say which: a client without a key is told how to send one (RFC 6750's challenge too).
    auto presented = r.header("authorization");
    std::string why = !presented ? "No API key provided: send it as 'Authorization: Bearer <key>'."
                      : presented->size() < 7 || strncasecmp(presented->data(), "Bearer ", 7) != 0
                          ? "The Authorization header must be 'Bearer <key>'."
                          : "Incorrect API key provided.";
    auto response = openai_error({Reason::unauthorized, why, {}, {}}, request_id);
    response.with_header("WWW-Authenticate", presented ? "Bearer error=\"invalid_token\"" : "Bearer");
    return response;
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
    record_throttled(audit_, overloaded_rows_, std::move(ev));  // only overload comes here
    requests_.with({spec_.name, std::string(reason_code(error.reason)), "false"}).inc();
    return openai_error(error, request_id);
  }

  static std::string request_id_of(const HttpRequest& r) {
    auto supplied = sanitize_request_id(r.header("x-request-id").value_or(""));
    return supplied.empty() ? generate_request_id() : supplied;
  }

  // A browser sends a cross-site POST with a CORS-simple type (text/plain, a form) or none
  // without asking first: only JSON is taken, so a web page cannot talk to the keyless
  // loopback API behind its visitor's back.
  HttpResponse unsupported_media_type(const HttpRequest& r, const std::string& request_id) const {
    AuditEvent ev;
    ev.kind = "message.rejected";
    ev.request_id = request_id;
    ev.channel = spec_.name;
    ev.decision = "rejected";
    ev.status = "unsupported_media_type";
    ev.detail = {{"client", r.client.to_string()},
                 {"content_type", std::string(r.header("content-type").value_or("(none)")).substr(0, 100)}};
    record_throttled(audit_, media_type_rows_, std::move(ev));
    requests_.with({spec_.name, "unsupported_media_type", "false"}).inc();
    auto response = HttpResponse::error(415, "unsupported_media_type",
                                        "send the request body as JSON with Content-Type: application/json");
    response.with_header("Accept-Post", "application/json").with_header("X-Request-Id", request_id);
    return response;
  }

  static boost::asio::awaitable<HttpResponse> chat_completions(std::shared_ptr<ApiChannel> self, HttpRequest r) {
    std::string request_id = request_id_of(r);
    if (!net::is_json_media_type(r.header("content-type").value_or(""))) {
      co_return self->unsupported_media_type(r, request_id);
    }
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
      parsed.message.invalid = error->message;  // charged to the key's limits, then refused
      parsed.stream = false;
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
  mutable EventThrottle media_type_rows_;
  mutable EventThrottle overloaded_rows_;
};

}  // namespace

std::shared_ptr<Channel> make_channel(const config::ChannelSpec& spec, ChannelContext& context) {
  auto channel = std::make_shared<ApiChannel>(static_cast<const ApiSpec&>(spec), context);
  channel->mount(context.routes);
  return channel;
}

}  // namespace hermes::channels::api
