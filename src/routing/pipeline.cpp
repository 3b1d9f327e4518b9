#include "hermes/routing/pipeline.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/this_coro.hpp>
#include <map>
#include <mutex>

#include "hermes/core/json_writer.hpp"
#include "hermes/core/throttle.hpp"
#include "hermes/observability/metrics.hpp"
#include "hermes/routing/limiter.hpp"
#include "hermes/routing/rules.hpp"
#include "hermes/routing/sessions.hpp"

namespace hermes::routing {

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t elapsed_ms(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

// Forwards to the channel's stream and keeps what the answer said, for the
// session history and the outbound audit row. begin() reaches the channel
// only with the first token (or the finish), so a backend that fails before
// answering still gets a real error status (502/504), not 200 + an error event.
class TappedReply final : public ReplyStream {
 public:
  explicit TappedReply(ReplyStream& inner) : inner_(inner) {}
  boost::asio::awaitable<void> begin(const ReplyMeta& meta) override {
    meta_ = meta;
    co_return;
  }
  boost::asio::awaitable<bool> write_delta(std::string_view text) override {
    co_await begin_once();
    if (answer_.size() < kKeep) answer_.append(text.substr(0, kKeep - answer_.size()));
    co_return co_await inner_.write_delta(text);
  }
  boost::asio::awaitable<bool> write_tool_call(const ToolCallDelta& delta) override {
    co_await begin_once();
    co_return co_await inner_.write_tool_call(delta);
  }
  boost::asio::awaitable<bool> write_choice(const ChoiceDelta& delta) override {
    co_await begin_once();
    co_return co_await inner_.write_choice(delta);
  }
  boost::asio::awaitable<void> finish(const Usage& usage, std::string_view reason) override {
    co_await begin_once();
    co_await inner_.finish(usage, reason);
  }
  boost::asio::awaitable<void> fail(const ReplyError& error) override { co_await inner_.fail(error); }
  const std::string& answer() const { return answer_; }
  bool streaming() const override { return inner_.streaming(); }

 private:
  boost::asio::awaitable<void> begin_once() {
    if (begun_) co_return;
    begun_ = true;
    co_await inner_.begin(meta_);
  }

  static constexpr std::size_t kKeep = 256 * 1024;
  ReplyStream& inner_;
  ReplyMeta meta_;
  bool begun_ = false;
  std::string answer_;
};

bool in_scope(const InboundMessage& m, const std::string& agent) {
  return m.allowed_agents.empty() ||
         std::find(m.allowed_agents.begin(), m.allowed_agents.end(), agent) != m.allowed_agents.end();
}

std::chrono::seconds whole_seconds_up(std::chrono::milliseconds ms) {
  return std::chrono::seconds((ms.count() + 999) / 1000);
}

}  // namespace

struct Pipeline::Impl {
  PipelineOptions options;
  RuleSet rules;
  Limits limits;
  observability::CounterFamily& messages;
  observability::CounterFamily& route_matches;
  observability::CounterFamily& route_failures;
  observability::HistogramFamily& route_latency;
  observability::CounterFamily& backend_requests;
  observability::HistogramFamily& backend_latency;
  observability::HistogramFamily& backend_ttft;
  observability::Gauge& in_flight_gauge;
  // Overload refusals come in floods: rate-limited rows per channel, see record_throttled.
  std::mutex overloaded_rows_mutex;
  std::map<std::string, EventThrottle, std::less<>> overloaded_rows;
  EventThrottle& overloaded_rows_of(const std::string& channel) {
    std::lock_guard lock(overloaded_rows_mutex);
    return overloaded_rows.try_emplace(channel).first->second;
  }
  // Every refusal a sender can repeat (limits, routing, scope, malformed requests): rows
  // throttled per channel, key or sender, and status; the metrics stay exact.
  mutable KeyedEventThrottle refusal_rows;

  static std::string refusal_key(const InboundMessage& m, std::string_view status) {
    std::string key = m.channel;
    key += m.api_key.empty() ? "\nsender:" : "\nkey:";
    key += m.api_key.empty() ? m.sender : m.api_key;
    key += '\n';
    key += status;
    return key;
  }

  explicit Impl(PipelineOptions o)
      : options(std::move(o)), rules(options.config->routes),
        limits(options.config->limits),
        messages(options.metrics->counter("hermes_messages_total", "Messages through the pipeline, by channel and outcome.",
                                          {"channel", "outcome"})),
        route_matches(options.metrics->counter("hermes_route_matches_total", "Messages each route matched.", {"rule"})),
        route_failures(options.metrics->counter("hermes_route_failures_total",
                                                "Messages that failed after the route chose an agent.", {"rule"})),
        route_latency(options.metrics->histogram("hermes_route_latency_seconds",
                                                 "End-to-end time of messages per route.", {"rule"})),
        backend_requests(options.metrics->counter("hermes_backend_requests_total",
                                                  "Backend calls, by model and result.", {"model", "result"})),
        backend_latency(options.metrics->histogram("hermes_backend_latency_seconds", "Backend call duration.",
                                                   {"model"})),
        backend_ttft(options.metrics->histogram("hermes_backend_time_to_first_token_seconds",
                                                "Time from the backend call to its first token.", {"model"})),
        in_flight_gauge(options.metrics->gauge("hermes_pipeline_in_flight", "Messages in the pipeline now.").with({})) {}

  const config::Config& cfg() const { return *options.config; }

  AuditEvent event(const InboundMessage& m, std::string kind) const {
    AuditEvent e;
    e.kind = std::move(kind);
    e.request_id = m.request_id;
    e.channel = m.channel;
    e.sender = m.sender;
    e.conversation = m.conversation;
    return e;
  }

  void record(AuditEvent e) const { options.audit->record(std::move(e)); }

  // A message leaves one row, written by the stage that ends it (a rejection, a reset,
  // or the exchange with an agent). It starts with the message's columns; the stages fill
  // in the rest, and the detail is written once, at the end (message_detail). One row
  // instead of a row per stage: the audit writer's cost and the audit disk are per row
  // (docs/audit.md, docs/performance.md).
  AuditEvent message_row(const InboundMessage& m, const std::string& session_id) const {
    auto e = event(m, "message.exchange");
    e.session_id = session_id;
    e.text = m.text;
    return e;
  }

  // An audit detail: the JSON object `add_keys(JsonWriter&)` fills. Written with
  // JsonWriter: a DOM per message cost more than the rest of its audit row.
  template <class AddKeys>
  static std::string detail_object(AddKeys&& add_keys) {
    std::string out;
    out.reserve(256);
    JsonWriter w(out);
    w.begin_object();
    add_keys(w);
    w.end_object();
    return out;
  }

  // What arrived, then what the stage that ended the message adds.
  template <class AddKeys>
  static std::string message_detail(const InboundMessage& m, AddKeys&& add_keys) {
    return detail_object([&](JsonWriter& w) {
      w.key("channel_type").value(m.channel_type);
      w.key("client").value(m.client.to_string());
      if (!m.model.empty()) w.key("requested_model").value(m.model);
      if (!m.api_key.empty()) w.key("api_key").value(m.api_key);
      if (!m.traceparent.empty()) w.key("traceparent").value(m.traceparent);
      if (!m.context.empty()) w.key("context_turns").value(static_cast<std::int64_t>(m.context.size()));
      if (!m.followups.empty()) w.key("followup_turns").value(static_cast<std::int64_t>(m.followups.size()));
      if (!m.options().tools.empty()) w.key("tools_offered").boolean(true);
      add_keys(w);
    });
  }

  // Ends the message with a refusal: `row` becomes a `kind` row with the reason.
  ReplyError reject(const InboundMessage& m, AuditEvent row, const std::string& kind, Reason reason,
                    std::string message, const nlohmann::json& detail = nlohmann::json::object()) const {
    row.kind = kind;
    row.decision = "rejected";
    row.status = std::string(reason_code(reason));
    row.detail_json = message_detail(m, [&](JsonWriter& w) {
      // Values can hold sender bytes; invalid UTF-8 is replaced rather than thrown on.
      for (const auto& [key, value] : detail.items())
        w.key(key).raw(value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    });
    std::string throttle_key = refusal_key(m, row.status);
    record_throttled(*options.audit, refusal_rows, throttle_key, std::move(row));
    return ReplyError{reason, std::move(message), {}, {}};
  }

  // Token budgets pay for what the backend reported using, answer or not.
  void debit_tokens(const InboundMessage& m, const std::string& agent, const Usage& usage) const {
    std::uint64_t tokens = static_cast<std::uint64_t>(std::max<std::int64_t>(0, usage.prompt_tokens)) +
                           static_cast<std::uint64_t>(std::max<std::int64_t>(0, usage.completion_tokens));
    LimitFacts facts{m.channel, m.channel_type, m.sender, m.api_key, agent};
    limits.debit_tokens(*options.shared->limiter_store, facts, tokens, Clock::now());
  }

  std::optional<ReplyError> check_limits(const InboundMessage& m, LimitPhase phase, const std::string& agent,
                                         RateLimitInfo& info, AuditEvent& row) const {
    LimitFacts facts{m.channel, m.channel_type, m.sender, m.api_key, agent};
    auto verdict = limits.check(*options.shared->limiter_store, phase, facts, Clock::now());
    if (!verdict.limit.empty()) {
      info = RateLimitInfo{true, verdict.decision.limit, verdict.decision.remaining, verdict.decision.reset,
                           verdict.limit};
    }
    if (verdict.allowed) return std::nullopt;
    auto retry_after = verdict.decision.retry_after;
    auto error = reject(m, std::move(row), "ratelimit.reject", Reason::rate_limited,
                        "Rate limit '" + verdict.limit + "' exceeded; retry later.",
                        {{"limit", verdict.limit}, {"retry_after_ms", retry_after.count()}});
    error.retry_after = std::max(std::chrono::seconds(1),
                                 retry_after == std::chrono::milliseconds::max() ? std::chrono::seconds(3600)
                                                                                 : whole_seconds_up(retry_after));
    error.rate_limit = info;
    return error;
  }

  struct RouteChoice {
    std::string agent;
    std::string rule;
  };

  std::variant<RouteChoice, ReplyError> route(const InboundMessage& m, AuditEvent& row) const {
    auto resolution = resolve_model(m.model, cfg(), rules);
    if (resolution.kind == ModelKind::not_found) {
      // The row's detail.requested_model names what was asked for.
      return reject(m, std::move(row), "route.decision", Reason::model_not_found, resolution.message);
    }
    if (resolution.kind == ModelKind::agent_direct) {
      return RouteChoice{resolution.agent, "model:" + resolution.agent};
    }
    auto decision = rules.match(make_route_query(m));
    if (!decision.found) {
      return reject(m, std::move(row), "route.decision", Reason::no_route, "No route answers this message.",
                    {{"why", decision.why}});
    }
    if (decision.rejected()) {
      return reject(m, std::move(row), "route.decision", Reason::rejected_by_rule, *decision.reject_message,
                    {{"why", decision.why}});
    }
    return RouteChoice{decision.agent, decision.rule};
  }

  std::vector<ChatTurn> model_messages(const config::AgentConfig& agent, const InboundMessage& m,
                                       const std::vector<ChatTurn>& history) const {
    std::vector<ChatTurn> out;
    if (!agent.system_prompt.empty()) out.push_back({"system", agent.system_prompt});
    const auto& earlier = m.context.empty() ? history : m.context;
    auto window = history_window(earlier, std::min<std::size_t>(agent.history, cfg().sessions.max_turns),
                                 cfg().sessions.token_budget);
    if (!m.context.empty()) window = m.context;  // the API client owns its context
    out.insert(out.end(), window.begin(), window.end());
    out.push_back(user_turn(m));
    out.insert(out.end(), m.followups.begin(), m.followups.end());
    return out;
  }

  static ChatTurn user_turn(const InboundMessage& m) {
    ChatTurn turn{"user", m.text};
    turn.parts = m.text_parts;
    return turn;
  }

  // What the client asked the model for, as this agent allows it: other request fields
  // only where the agent lists them in `passthrough:`.
  static std::shared_ptr<const ModelOptions> agent_options(const config::AgentConfig& agent, const InboundMessage& m) {
    auto allowed = [&](const auto& field) {
      return std::find(agent.passthrough.begin(), agent.passthrough.end(), field.first) != agent.passthrough.end();
    };
    const auto& given = m.options().passthrough;
    if (std::all_of(given.begin(), given.end(), allowed)) return m.model_options;  // shared, not copied
    auto options = std::make_shared<ModelOptions>(m.options());
    std::erase_if(options->passthrough, [&](const auto& field) { return !allowed(field); });
    return options;
  }

  struct Dispatched {
    bool ok = false;
    Completion completion;
    std::string model;
    ReplyError error;
    int attempt = 0;  // the last call's model: its position in the chain (0: no call made)
    std::int64_t backend_ms = 0;  // that call's duration
  };

  // What a backend call reported, for its detail: on a backend.call row, or on the
  // message's row for the call that answered or that the client abandoned.
  static void write_call_facts(JsonWriter& w, const std::string& model, int attempt, const Completion& c) {
    w.key("model").value(model);
    w.key("attempt").value(attempt);
    w.key("attempts").value(c.attempts);
    w.key("streamed").boolean(c.streamed);
    if (c.upstream_status) w.key("upstream_status").value(c.upstream_status);
    if (!c.error_message.empty()) w.key("error").value(c.error_message);
    if (c.time_to_first_token.count() > 0) {
      w.key("ttft_ms").value(static_cast<std::int64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(c.time_to_first_token).count()));
    }
  }
  // The tools the answer called: names always, arguments only where message text is kept.
  static void write_tool_calls(JsonWriter& w, const std::vector<ToolCall>& calls, bool with_arguments) {
    if (calls.empty()) return;
    w.key("tool_calls").begin_array();
    for (const auto& c : calls) {
      w.begin_object().key("name").value(c.name);
      if (with_arguments) w.key("arguments").value(c.arguments);
      w.end_object();
    }
    w.end_array();
  }

  // Why the agent's first model cannot take this request (more answers than the agent
  // allows, tools to a text-only backend…).
  std::string cannot_serve(const config::AgentConfig& agent, const CompletionRequest& request) const {
    if (request.options().choices > agent.max_choices) {
      return "'n' is " + std::to_string(request.options().choices) + " but agent '" + agent.name + "' answers with " +
             (agent.max_choices == 1 ? std::string("one choice") : "at most " + std::to_string(agent.max_choices) + " choices") +
             " (its max_choices)";
    }
    auto it = options.backends.find(agent.model);
    return it == options.backends.end() || !it->second ? std::string() : it->second->cannot_serve(request);
  }

  // The message's last call (answered or abandoned), on the message's row.
  static void write_last_call(JsonWriter& w, const Dispatched& d) {
    write_call_facts(w, d.model, d.attempt, d.completion);
    w.key("backend_ms").value(d.backend_ms);
  }

  AuditEvent backend_call_row(const InboundMessage& m, const std::string& agent, const std::string& rule,
                              const std::string& session_id, const std::string& model, int attempt,
                              const Completion& c, Clock::time_point started) const {
    auto e = event(m, "backend.call");
    e.session_id = session_id;
    e.agent = agent;
    e.rule = rule;
    e.decision = c.ok ? "answered" : "failed";
    e.status = c.ok ? "ok" : std::string(backend_error_name(c.error));
    e.latency_ms = elapsed_ms(started);
    e.tokens_in = c.usage.prompt_tokens;
    e.tokens_out = c.usage.completion_tokens;
    e.detail_json = detail_object([&](JsonWriter& w) { write_call_facts(w, model, attempt, c); });
    return e;
  }

  boost::asio::awaitable<Dispatched> dispatch(const InboundMessage& m, const config::AgentConfig& agent,
                                              const std::string& rule, const std::string& session_id,
                                              CompletionRequest request, ReplyStream& reply) const;
};

boost::asio::awaitable<Pipeline::Impl::Dispatched> Pipeline::Impl::dispatch(
    const InboundMessage& m, const config::AgentConfig& agent, const std::string& rule, const std::string& session_id,
    CompletionRequest request, ReplyStream& reply) const {
  std::vector<std::string> chain{agent.model};
  chain.insert(chain.end(), agent.fallback.begin(), agent.fallback.end());
  Dispatched result;
  result.error = ReplyError{Reason::backend_error, "The agent's backends are unavailable.", {}, {}};
  int attempt = 0;
  for (std::size_t i = 0; i < chain.size(); ++i) {
    const auto& model = chain[i];
    auto it = options.backends.find(model);
    if (it == options.backends.end()) continue;
    if (model != agent.model && !it->second->cannot_serve(request).empty()) continue;  // a fallback that cannot
    if (Clock::now() >= request.deadline) {
      result.error = ReplyError{Reason::timeout, "The request deadline passed.", {}, {}};
      break;
    }
    ++attempt;
    auto started = Clock::now();
    // The last model in the chain takes the request itself: a copy of every turn and
    // option per message showed in the profile (docs/performance.md).
    CompletionRequest call = i + 1 == chain.size() ? std::move(request) : request;
    Completion c = co_await it->second->complete(std::move(call), reply);
    double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    backend_latency.with({model}).observe(seconds);
    backend_requests.with({model, c.ok ? "ok" : std::string(backend_error_name(c.error))}).inc();
    if (c.time_to_first_token.count() > 0) {
      backend_ttft.with({model}).observe(std::chrono::duration<double>(c.time_to_first_token).count());
    }
    // The answering call is summed up in the message's row, and so is one the client
    // abandoned (it ends the message); calls that failed get rows of their own.
    bool abandoned = c.error == BackendErrorKind::cancelled;
    if (!c.ok && !abandoned) record(backend_call_row(m, agent.name, rule, session_id, model, attempt, c, started));
    result.model = model;
    result.completion = c;
    result.attempt = attempt;
    result.backend_ms = elapsed_ms(started);
    if (c.ok) {
      result.ok = true;
      co_return result;
    }
    if (abandoned) {
      result.error = ReplyError{Reason::cancelled, "The client went away.", {}, {}};
      co_return result;
    }
    if (c.error == BackendErrorKind::timeout) {
      result.error = ReplyError{Reason::timeout, "The agent did not answer in time.", {}, {}};
    }
    if (c.streamed) {
      // Part of an answer reached the client: a fallback would splice two answers.
      result.error.message = "The agent's answer was interrupted.";
      co_return result;
    }
  }
  co_return result;
}

Pipeline::Pipeline(PipelineOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Pipeline::~Pipeline() = default;

bool Pipeline::has_headroom() const {
  const auto& o = impl_->options;
  return o.shared->in_flight.load() < o.config->gateway.max_in_flight && (!o.audit_headroom || o.audit_headroom());
}

namespace {

// Counts the message as in flight for exactly as long as it is.
class InFlight {
 public:
  InFlight(std::atomic<std::uint32_t>& counter, observability::Gauge& gauge) : counter_(counter), gauge_(gauge) {
    gauge_.set(++counter_);
  }
  ~InFlight() { gauge_.set(--counter_); }

 private:
  std::atomic<std::uint32_t>& counter_;
  observability::Gauge& gauge_;
};

}  // namespace

boost::asio::awaitable<Outcome> Pipeline::submit(InboundMessage m, ReplyStream& reply) {
  // A client that leaves cancels the message. Cancellation must arrive as a
  // value (backends report BackendErrorKind::cancelled), not as an exception
  // from the next co_await, so every stage still writes its audit row. The
  // setting belongs to the whole coroutine thread: restore the caller's.
  namespace this_coro = boost::asio::this_coro;
  bool throws = co_await this_coro::throw_if_cancelled();
  co_await this_coro::throw_if_cancelled(false);
  std::exception_ptr failure;
  Outcome outcome;
  try {
    outcome = co_await run(std::move(m), reply);
  } catch (...) {
    failure = std::current_exception();
  }
  co_await this_coro::throw_if_cancelled(throws);
  if (failure) std::rethrow_exception(failure);
  co_return outcome;
}

boost::asio::awaitable<Outcome> Pipeline::run(InboundMessage m, ReplyStream& channel_reply) {
  Impl& p = *impl_;
  const auto started = Clock::now();
  Outcome outcome;
  auto finish = [&](Reason reason) {
    outcome.reason = reason;
    p.messages.with({m.channel, std::string(reason_code(reason))}).inc();
    if (!outcome.rule.empty()) {
      p.route_latency.with({outcome.rule}).observe(std::chrono::duration<double>(Clock::now() - started).count());
      if (reason != Reason::none) p.route_failures.with({outcome.rule}).inc();
    }
  };

  // Admission: the in-flight cap and audit headroom, before anything else.
  if (!has_headroom()) {
    ReplyError error{Reason::overloaded, "The gateway is busy; retry shortly.", std::chrono::seconds(1), {}};
    auto e = p.event(m, "message.rejected");
    e.decision = "rejected";
    e.status = std::string(reason_code(Reason::overloaded));
    record_throttled(*p.options.audit, p.overloaded_rows_of(m.channel), std::move(e));
    co_await channel_reply.fail(error);
    finish(Reason::overloaded);
    co_return outcome;
  }
  if (!m.invalid.empty()) {
    // A request its channel could not read still costs its sender: charged to the limits
    // before it is refused, so a known key cannot flood malformed bodies for free.
    AuditEvent refused = p.message_row(m, "");
    RateLimitInfo info;
    auto limited = p.check_limits(m, LimitPhase::pre, "", info, refused);
    if (limited) {
      co_await channel_reply.fail(*limited);
      finish(Reason::rate_limited);
      co_return outcome;
    }
    auto error = p.reject(m, std::move(refused), "message.rejected", Reason::bad_request, m.invalid,
                          {{"message", m.invalid}});
    co_await channel_reply.fail(error);
    finish(Reason::bad_request);
    co_return outcome;
  }
  InFlight in_flight(p.options.shared->in_flight, p.in_flight_gauge);
  m.deadline = std::min(m.deadline, started + p.cfg().gateway.request_timeout);

  AuditEvent row = p.message_row(m, "");
  RateLimitInfo limit_info;
  if (auto error = p.check_limits(m, LimitPhase::pre, "", limit_info, row)) {
    co_await channel_reply.fail(*error);
    finish(Reason::rate_limited);
    co_return outcome;
  }

  // Session: found or opened (only now: a refused message opens none; senders choose the
  // names, and each costs memory); /reset and /new start fresh.
  std::string key = session_key(m);
  Session session;
  if (!key.empty()) session = p.options.shared->sessions->open(key, p.cfg().sessions.idle_reset);
  outcome.session_id = session.id;
  row.session_id = session.id;

  auto routed = p.route(m, row);
  if (auto* error = std::get_if<ReplyError>(&routed)) {
    error->rate_limit = limit_info;
    co_await channel_reply.fail(*error);
    finish(error->reason);
    co_return outcome;
  }
  auto choice = std::get<Impl::RouteChoice>(routed);
  outcome.agent = choice.agent;
  outcome.rule = choice.rule;
  p.route_matches.with({choice.rule}).inc();
  row.agent = choice.agent;
  row.rule = choice.rule;

  if (!in_scope(m, choice.agent)) {
    auto error = p.reject(m, std::move(row), "auth.reject", Reason::not_allowed,
                          "This key may not use agent '" + choice.agent + "'.", {{"agent", choice.agent}});
    co_await channel_reply.fail(error);
    finish(Reason::not_allowed);
    co_return outcome;
  }
  if (auto error = p.check_limits(m, LimitPhase::agent, choice.agent, limit_info, row)) {
    co_await channel_reply.fail(*error);
    finish(Reason::rate_limited);
    co_return outcome;
  }

  const config::AgentConfig* agent = p.cfg().find_agent(choice.agent);
  TappedReply reply(channel_reply);
  // Named, not a temporary: GCC 12 destroys temporaries in a co_await expression twice.
  ReplyMeta meta{choice.agent, choice.rule, m.request_id, limit_info};
  co_await reply.begin(meta);

  if (!key.empty() && (m.text == "/reset" || m.text == "/new")) {
    outcome.session_id = p.options.shared->sessions->reset(key);
    row.kind = "session.reset";
    row.session_id = outcome.session_id;
    row.decision = "applied";
    row.status = "ok";
    row.latency_ms = elapsed_ms(started);
    row.detail_json = Impl::message_detail(m, [](JsonWriter&) {});
    p.record(std::move(row));
    co_await reply.write_delta("Started a new conversation.");
    Usage no_usage;
    co_await reply.finish(no_usage, "stop");
    finish(Reason::none);
    co_return outcome;
  }

  CompletionRequest request;
  request.request_id = m.request_id;
  request.traceparent = m.traceparent;
  request.agent = choice.agent;
  request.rule = choice.rule;
  request.origin = MessageOrigin{m.channel, m.channel_type, m.sender, m.conversation, m.thread, session.id};
  request.messages = p.model_messages(*agent, m, session.turns);
  request.max_tokens = m.max_tokens ? m.max_tokens : agent->max_tokens;
  request.temperature = m.temperature ? m.temperature : agent->temperature;
  request.deadline = m.deadline;
  request.stream = reply.streaming();
  request.model_options = Impl::agent_options(*agent, m);
  if (auto refusal = p.cannot_serve(*agent, request); !refusal.empty()) {
    auto error = p.reject(m, std::move(row), "message.rejected", Reason::bad_request, refusal, {{"message", refusal}});
    co_await reply.fail(error);
    finish(Reason::bad_request);
    co_return outcome;
  }

  const std::int64_t request_choices = request.options().choices;
  auto dispatched = co_await p.dispatch(m, *agent, choice.rule, session.id, std::move(request), reply);
  p.debit_tokens(m, choice.agent, dispatched.completion.usage);
  row.latency_ms = elapsed_ms(started);
  if (dispatched.ok) {
    co_await reply.finish(dispatched.completion.usage, dispatched.completion.finish_reason);
    if (!key.empty()) {
      std::vector<ChatTurn> turns{Impl::user_turn(m)};
      turns.insert(turns.end(), m.followups.begin(), m.followups.end());
      ChatTurn answer{"assistant", reply.answer()};
      answer.tool_calls = dispatched.completion.tool_calls;  // assembled by the backend
      turns.push_back(std::move(answer));
      p.options.shared->sessions->append(key, turns, p.cfg().sessions.max_turns);
    }
    row.decision = "answered";
    row.status = "ok";
    row.tokens_in = dispatched.completion.usage.prompt_tokens;
    row.tokens_out = dispatched.completion.usage.completion_tokens;
    row.answer = reply.answer();
    row.detail_json = Impl::message_detail(m, [&](JsonWriter& w) {
      Impl::write_last_call(w, dispatched);
      Impl::write_tool_calls(w, dispatched.completion.tool_calls, p.cfg().audit.store_text == config::StoreText::full);
      if (request_choices > 1) w.key("choices").value(request_choices);  // the answer and text are choice 0's
    });
    p.record(std::move(row));
    finish(Reason::none);
    co_return outcome;
  }
  if (dispatched.error.reason != Reason::cancelled) co_await reply.fail(dispatched.error);
  row.decision = "failed";
  row.status = std::string(reason_code(dispatched.error.reason));
  row.answer = reply.answer();  // what reached the client before the failure, if anything
  row.detail_json = Impl::message_detail(m, [&](JsonWriter& w) {
    if (dispatched.error.reason == Reason::cancelled && dispatched.attempt > 0) {
      // The call the client abandoned has no backend.call row: this row sums it up.
      Impl::write_last_call(w, dispatched);
      if (dispatched.completion.error_message.empty()) w.key("error").value(dispatched.error.message);
      return;
    }
    if (!dispatched.model.empty()) w.key("model").value(dispatched.model);
    w.key("error").value(dispatched.error.message);
  });
  p.record(std::move(row));
  finish(dispatched.error.reason);
  co_return outcome;
}

}  // namespace hermes::routing
