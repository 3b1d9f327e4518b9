#include "src/config/sections.hpp"

#include "hermes/core/message.hpp"

#include <set>
#include <re2/re2.h>

#include <regex>

namespace hermes::config {
namespace {

bool valid_name(const std::string& name) {
  static const std::regex kName("[a-z0-9][a-z0-9_.-]{0,62}");
  return std::regex_match(name, kName);
}

std::optional<std::string> read_name(MapReader& r) {
  auto name = r.required<std::string>("name");
  if (name && !valid_name(*name)) {
    r.context().error(r.child("name"), r.path_of("name"),
                      "name must be lower-case letters, digits, '-', '_' or '.' (at most 63)");
  }
  return name;
}

std::vector<std::string> string_list(MapReader& r, std::string_view key) {
  // A single string is accepted where a list is expected: `channels: api`.
  auto node = r.child(key);
  if (node.IsDefined() && node.IsScalar()) {
    return {node.Scalar()};
  }
  return r.optional<std::vector<std::string>>(key).value_or(std::vector<std::string>{});
}

// `retries:`, `breaker:`, `max_concurrency:`, `queue_timeout:` on any model.
ResilienceConfig parse_resilience(MapReader& r) {
  ResilienceConfig c;
  auto& ctx = r.context();
  if (auto node = r.child("retries"); node.IsDefined() && !node.IsNull()) {
    MapReader retries(node, r.path_of("retries"), ctx);
    c.retry_attempts = retries.optional<std::uint32_t>("attempts").value_or(c.retry_attempts);
    c.retry_backoff = retries.optional<Duration>("backoff").value_or(c.retry_backoff);
    if (c.retry_attempts > 10) ctx.error(retries.child("attempts"), retries.path_of("attempts"), "attempts must be at most 10");
    if (c.retry_backoff.count() <= 0) ctx.error(retries.child("backoff"), retries.path_of("backoff"), "backoff must be positive");
    retries.finish();
  }
  if (auto node = r.child("breaker"); node.IsDefined() && !node.IsNull()) {
    MapReader breaker(node, r.path_of("breaker"), ctx);
    c.breaker_failures = breaker.optional<std::uint32_t>("failures").value_or(c.breaker_failures);
    c.breaker_window = breaker.optional<Duration>("window").value_or(c.breaker_window);
    c.breaker_cooldown = breaker.optional<Duration>("cooldown").value_or(c.breaker_cooldown);
    if (c.breaker_window.count() <= 0) ctx.error(breaker.child("window"), breaker.path_of("window"), "window must be positive");
    if (c.breaker_cooldown.count() <= 0) {
      ctx.error(breaker.child("cooldown"), breaker.path_of("cooldown"), "cooldown must be positive");
    }
    breaker.finish();
  }
  c.max_concurrency = r.optional<std::uint32_t>("max_concurrency").value_or(c.max_concurrency);
  c.queue_timeout = r.optional<Duration>("queue_timeout").value_or(c.queue_timeout);
  return c;
}

template <class Spec>
std::shared_ptr<const Spec> parse_extension(const YAML::Node& node, const std::string& path, ParseContext& ctx,
                                            const SpecParser<Spec>* (Registries::*lookup)(const std::string&) const,
                                            std::string (Registries::*names)() const, const Registries* registries,
                                            bool with_listener) {
  MapReader r(node, path, ctx);
  auto name = read_name(r);
  auto type = r.required<std::string>("type");
  std::optional<std::string> listener;
  if (with_listener) listener = r.optional<std::string>("listener");  // needs_listener() decides, once parsed
  const SpecParser<Spec>* parser = (registries && type) ? (registries->*lookup)(*type) : nullptr;
  if (type && !parser) {
    ctx.error(r.child("type"), r.path_of("type"),
              "unknown type '" + *type + "' (known: " + (registries ? (registries->*names)() : "none") + ")");
    return nullptr;  // its other keys cannot be judged; finish() would only add noise
  }
  if (!parser) return nullptr;
  std::unique_ptr<Spec> spec = (*parser)(r);
  ResilienceConfig resilience;
  if constexpr (std::is_same_v<Spec, ModelSpec>) resilience = parse_resilience(r);
  r.finish();
  if (!spec || !name) return nullptr;
  spec->name = *name;
  spec->type = *type;
  spec->where = ctx.location(node);
  if constexpr (std::is_same_v<Spec, ChannelSpec>) {
    spec->listener = listener.value_or("");
  } else {
    spec->resilience = resilience;
  }
  return spec;
}

std::optional<AgentConfig> parse_agent(const YAML::Node& node, const std::string& path, ParseContext& ctx) {
  MapReader r(node, path, ctx);
  AgentConfig a;
  a.where = ctx.location(node);
  a.name = read_name(r).value_or("");
  a.model = r.required<std::string>("model").value_or("");
  a.fallback = string_list(r, "fallback");
  a.system_prompt = r.optional<std::string>("system_prompt").value_or("");
  a.history = r.optional<std::uint32_t>("history").value_or(a.history);
  a.passthrough = string_list(r, "passthrough");
  for (std::size_t i = 0; i < a.passthrough.size(); ++i) {
    static const std::set<std::string, std::less<>> kOwned = {"messages", "model", "stream", "stream_options"};
    if (kOwned.count(a.passthrough[i])) {
      ctx.error(r.child("passthrough"), r.path_of("passthrough"),
                "'" + a.passthrough[i] + "' is the gateway's own field and cannot be passed through");
    }
  }
  if (auto n = r.optional<std::uint32_t>("max_choices")) {
    if (*n < 1 || *n > kMaxChoices) {
      ctx.error(r.child("max_choices"), r.path_of("max_choices"),
                "max_choices must be from 1 to " + std::to_string(kMaxChoices));
    }
    a.max_choices = *n;
  }
  if (auto t = r.optional<std::int64_t>("max_tokens")) {
    if (*t <= 0) ctx.error(r.child("max_tokens"), r.path_of("max_tokens"), "max_tokens must be positive");
    a.max_tokens = *t;
  }
  if (auto t = r.optional<std::string>("temperature")) {
    try {
      std::size_t used = 0;
      double v = std::stod(*t, &used);
      if (used != t->size() || v < 0 || v > 2) throw std::invalid_argument("range");
      a.temperature = v;
    } catch (const std::exception&) {
      ctx.error(r.child("temperature"), r.path_of("temperature"), "temperature must be a number from 0 to 2");
    }
  }
  r.finish();
  return a;
}

std::optional<RouteMatch> parse_match(const YAML::Node& node, const std::string& path, ParseContext& ctx) {
  MapReader r(node, path, ctx);
  RouteMatch m;
  m.channels = string_list(r, "channel");
  auto more_channels = string_list(r, "channels");
  m.channels.insert(m.channels.end(), more_channels.begin(), more_channels.end());
  m.senders = string_list(r, "sender");
  m.conversations = string_list(r, "conversation");
  m.recipients = string_list(r, "recipient");
  m.text_any = string_list(r, "text_any");
  m.text_all = string_list(r, "text_all");
  m.text_regex = r.optional<std::string>("text_regex").value_or("");
  if (!m.text_regex.empty()) {
    // Compiled as routing::RuleSet compiles it, so a file that loads never fails there.
    re2::RE2::Options options;
    options.set_log_errors(false);
    re2::RE2 regex(m.text_regex, options);
    if (!regex.ok()) {
      ctx.error(r.child("text_regex"), r.path_of("text_regex"), "invalid regular expression: " + regex.error());
    }
  }
  m.models = string_list(r, "model");
  r.finish();
  return m;
}

std::optional<RouteConfig> parse_route(const YAML::Node& node, const std::string& path, ParseContext& ctx) {
  MapReader r(node, path, ctx);
  RouteConfig route;
  route.where = ctx.location(node);
  route.name = read_name(r).value_or("");
  if (auto m = r.child("match"); m.IsDefined() && !m.IsNull()) {
    route.match = parse_match(m, r.path_of("match"), ctx);
  }
  route.agent = r.optional<std::string>("agent").value_or("");
  if (auto reject = r.child("reject"); reject.IsDefined() && !reject.IsNull()) {
    MapReader rr(reject, r.path_of("reject"), ctx);
    route.reject_message = rr.optional<std::string>("message").value_or("This request is not accepted here.");
    rr.finish();
  }
  if (route.agent.empty() == !route.reject_message.has_value()) {
    ctx.error(node, path, "a route needs exactly one of agent: or reject:");
  }
  r.finish();
  return route;
}

std::optional<LimitConfig> parse_limit(const YAML::Node& node, const std::string& path, ParseContext& ctx) {
  MapReader r(node, path, ctx);
  LimitConfig l;
  l.where = ctx.location(node);
  l.name = read_name(r).value_or("");
  if (auto n = r.child("key"); n.IsDefined() && !n.IsNull()) {
    l.key = convert_enum<LimitKey>(n, r.path_of("key"), ctx,
                                   {{"sender", LimitKey::sender}, {"channel", LimitKey::channel},
                                    {"agent", LimitKey::agent}, {"api_key", LimitKey::api_key},
                                    {"global", LimitKey::global}})
                .value_or(l.key);
  } else {
    r.required<std::string>("key");
  }
  bool has_rate = r.has("rate"), has_tokens = r.has("tokens");
  if (has_rate == has_tokens) {
    ctx.error(node, path, "a limit needs exactly one of rate: (messages) or tokens: (a token budget)");
  } else if (has_tokens) {
    l.tokens = true;
    if (auto budget = r.optional<Rate>("tokens")) l.rate = *budget;
  } else if (auto rate = r.optional<Rate>("rate")) {
    l.rate = *rate;
  }
  if (auto burst = r.optional<std::uint32_t>("burst")) {
    if (*burst == 0) ctx.error(r.child("burst"), r.path_of("burst"), "burst must be at least 1");
    l.burst = *burst;
  } else {
    l.burst = std::max<std::uint32_t>(1, static_cast<std::uint32_t>(l.rate.count));
  }
  l.channels = string_list(r, "channels");
  r.finish();
  return l;
}

SessionsConfig parse_sessions(const YAML::Node& node, ParseContext& ctx) {
  MapReader r(node, "sessions", ctx);
  SessionsConfig s;
  s.idle_reset = r.optional<Duration>("idle_reset").value_or(s.idle_reset);
  s.max_turns = r.optional<std::uint32_t>("max_turns").value_or(s.max_turns);
  s.token_budget = r.optional<std::uint32_t>("token_budget").value_or(s.token_budget);
  s.max_in_memory = r.optional<std::uint32_t>("max_in_memory").value_or(s.max_in_memory);
  if (s.max_in_memory == 0) {
    ctx.error(r.child("max_in_memory"), r.path_of("max_in_memory"), "max_in_memory must be at least 1");
  }
  s.max_per_key = r.optional<std::uint32_t>("max_per_key").value_or(s.max_per_key);
  if (s.max_per_key == 0) {
    ctx.error(r.child("max_per_key"), r.path_of("max_per_key"), "max_per_key must be at least 1");
  }
  s.max_bytes = r.optional<ByteSize>("max_bytes").value_or(s.max_bytes);
  if (s.max_bytes.bytes < 1024) {
    ctx.error(r.child("max_bytes"), r.path_of("max_bytes"), "max_bytes must be at least 1KiB");
  }
  r.finish();
  return s;
}

OutboxConfig parse_outbox(const YAML::Node& node, ParseContext& ctx) {
  MapReader r(node, "outbox", ctx);
  OutboxConfig o;
  o.max_attempts = r.optional<std::uint32_t>("max_attempts").value_or(o.max_attempts);
  o.first_backoff = r.optional<Duration>("first_backoff").value_or(o.first_backoff);
  o.max_backoff = r.optional<Duration>("max_backoff").value_or(o.max_backoff);
  o.give_up_after = r.optional<Duration>("give_up_after").value_or(o.give_up_after);
  if (o.max_attempts == 0) ctx.error(r.child("max_attempts"), r.path_of("max_attempts"), "max_attempts must be at least 1");
  if (o.first_backoff.count() <= 0) {
    ctx.error(r.child("first_backoff"), r.path_of("first_backoff"), "first_backoff must be positive");
  }
  if (o.max_backoff < o.first_backoff) {
    ctx.error(r.child("max_backoff"), r.path_of("max_backoff"), "max_backoff must be at least first_backoff");
  }
  r.finish();
  return o;
}

void check_references(const Config& cfg, ParseContext& ctx) {
  for (std::size_t i = 0; i < cfg.channels.size(); ++i) {
    const auto& c = *cfg.channels[i];
    std::string path = index_path("channels", i);
    const auto* listener = c.listener.empty() ? nullptr : cfg.find_listener(c.listener);
    if (c.listener.empty() && c.needs_listener()) {
      ctx.error_at(c.where, path + ".listener", "missing required key 'listener' (a " + c.type + " channel serves endpoints)");
    } else if (!c.listener.empty() && !listener) {
      ctx.error_at(c.where, path + ".listener", "no listener named '" + c.listener + "'");
    } else if (listener && listener->protocol != c.listener_protocol()) {
      bool lmtp = c.listener_protocol() == ListenerProtocol::lmtp;
      ctx.error_at(c.where, path + ".listener",
                   "a " + c.type + " channel needs a listener with protocol: " + (lmtp ? "lmtp" : "http") +
                       "; '" + c.listener + "' is " + (lmtp ? "http" : "lmtp"));
    }
    c.validate(cfg, path, ctx);
  }
  for (std::size_t i = 0; i < cfg.models.size(); ++i) {
    cfg.models[i]->validate(cfg, index_path("models", i), ctx);
  }
  for (std::size_t i = 0; i < cfg.agents.size(); ++i) {
    const auto& a = cfg.agents[i];
    std::string path = index_path("agents", i);
    if (!a.model.empty() && !cfg.find_model(a.model)) {
      ctx.error_at(a.where, path + ".model", "no model named '" + a.model + "'");
    }
    for (const auto& f : a.fallback) {
      if (!cfg.find_model(f)) ctx.error_at(a.where, path + ".fallback", "no model named '" + f + "'");
    }
  }
  for (std::size_t i = 0; i < cfg.routes.size(); ++i) {
    const auto& r = cfg.routes[i];
    if (!r.agent.empty() && !cfg.find_agent(r.agent)) {
      ctx.error_at(r.where, index_path("routes", i) + ".agent", "no agent named '" + r.agent + "'");
    }
  }
}

}  // namespace

void parse_pipeline_sections(MapReader& root, ParseContext& ctx, const Registries* registries, Config& cfg) {
  cfg.models = parse_list<std::shared_ptr<const ModelSpec>>(
      root.child("models"), "models", ctx, [&](const YAML::Node& n, const std::string& p) {
        auto spec = parse_extension<ModelSpec>(n, p, ctx, &Registries::model_parser, &Registries::model_type_names,
                                               registries, false);
        return spec ? std::optional(spec) : std::nullopt;
      });
  cfg.channels = parse_list<std::shared_ptr<const ChannelSpec>>(
      root.child("channels"), "channels", ctx, [&](const YAML::Node& n, const std::string& p) {
        auto spec = parse_extension<ChannelSpec>(n, p, ctx, &Registries::channel_parser,
                                                 &Registries::channel_type_names, registries, true);
        return spec ? std::optional(spec) : std::nullopt;
      });
  cfg.agents = parse_list<AgentConfig>(root.child("agents"), "agents", ctx,
                                       [&](const YAML::Node& n, const std::string& p) { return parse_agent(n, p, ctx); });
  cfg.routes = parse_list<RouteConfig>(root.child("routes"), "routes", ctx,
                                       [&](const YAML::Node& n, const std::string& p) { return parse_route(n, p, ctx); });
  cfg.limits = parse_list<LimitConfig>(root.child("limits"), "limits", ctx,
                                       [&](const YAML::Node& n, const std::string& p) { return parse_limit(n, p, ctx); });
  cfg.sessions = parse_sessions(root.child("sessions"), ctx);
  cfg.outbox = parse_outbox(root.child("outbox"), ctx);

  auto names = [](const auto& list) {
    struct Named {
      std::string name;
      SourceLocation where;
    };
    std::vector<Named> out;
    for (const auto& item : list) {
      if constexpr (requires { item->name; }) {
        out.push_back({item->name, item->where});
      } else {
        out.push_back({item.name, item.where});
      }
    }
    return out;
  };
  check_unique_names(names(cfg.channels), "channel", "channels", ctx);
  check_unique_names(names(cfg.models), "model", "models", ctx);
  check_unique_names(names(cfg.agents), "agent", "agents", ctx);
  check_unique_names(names(cfg.routes), "route", "routes", ctx);
  check_unique_names(names(cfg.limits), "limit", "limits", ctx);
  check_references(cfg, ctx);
}

}  // namespace hermes::config
