#include "hermes/config/loader.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "hermes/config/reader.hpp"
#include "hermes/core/digest.hpp"
#include "src/config/sections.hpp"

namespace hermes::config {
namespace {

// The host name made into a valid instance name ("Web-01.example" -> "web-01").
std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') {
    return "hermes";
  }
  std::string name;
  for (const char* p = buf; *p && *p != '.' && name.size() < 63; ++p) {
    char c = static_cast<char>(std::tolower(static_cast<unsigned char>(*p)));
    name += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '-';
  }
  return name.empty() || !std::isalnum(static_cast<unsigned char>(name[0])) ? "hermes" : name;
}

bool valid_identifier(const std::string& name) {
  static const std::regex kName("[a-z0-9][a-z0-9_-]{0,62}");
  return std::regex_match(name, kName);
}

std::filesystem::path resolve_relative(const std::filesystem::path& p, const std::filesystem::path& base) {
  return p.is_relative() ? (base / p).lexically_normal() : p;
}

GatewayConfig parse_gateway(const YAML::Node& node, ParseContext& ctx, const std::filesystem::path& base_dir) {
  MapReader r(node, "gateway", ctx);
  GatewayConfig g;
  g.instance = r.optional<std::string>("instance").value_or(host_name());
  if (!valid_identifier(g.instance) && r.has("instance")) {
    ctx.error(r.child("instance"), r.path_of("instance"),
              "instance must be lower-case letters, digits, '-' or '_' (at most 63)");
  }
  if (auto dir = r.optional<std::string>("data_dir")) {
    g.data_dir = resolve_relative(*dir, base_dir);
  } else {
    auto env = ctx.secrets().getenv ? ctx.secrets().getenv("STATE_DIRECTORY") : std::nullopt;
    // systemd joins several StateDirectory= paths with ':'; ours is the first.
    std::string state = env ? env->substr(0, env->find(':')) : std::string();
    g.data_dir = state.empty() ? std::filesystem::path("/var/lib/hermes") : std::filesystem::path(state);
  }
  if (auto t = r.optional<std::uint32_t>("threads")) {
    if (*t == 0 || *t > 256) {
      ctx.error(r.child("threads"), r.path_of("threads"), "threads must be between 1 and 256");
    }
    g.threads = *t;
  } else {
    g.threads = std::max(1u, std::thread::hardware_concurrency());
  }
  g.drain_timeout = r.optional<Duration>("drain_timeout").value_or(g.drain_timeout);
  g.drain_delay = r.optional<Duration>("drain_delay").value_or(g.drain_delay);
  g.max_in_flight = r.optional<std::uint32_t>("max_in_flight").value_or(g.max_in_flight);
  g.request_timeout = r.optional<Duration>("request_timeout").value_or(g.request_timeout);
  g.upstream_idle_connections =
      r.optional<std::uint32_t>("upstream_idle_connections").value_or(g.upstream_idle_connections);
  if (g.request_timeout.count() <= 0) {
    ctx.error(r.child("request_timeout"), r.path_of("request_timeout"), "request_timeout must be greater than zero");
  }
  if (g.max_in_flight == 0) {
    ctx.error(r.child("max_in_flight"), r.path_of("max_in_flight"), "max_in_flight must be at least 1");
  }
  r.finish();
  return g;
}

LogConfig parse_log(const YAML::Node& node, ParseContext& ctx) {
  MapReader r(node, "log", ctx);
  LogConfig l;
  if (auto n = r.child("format"); n.IsDefined() && !n.IsNull()) {
    l.format = convert_enum<LogFormat>(n, r.path_of("format"), ctx,
                                       {{"text", LogFormat::text}, {"json", LogFormat::json}})
                   .value_or(l.format);
  }
  if (auto n = r.child("level"); n.IsDefined() && !n.IsNull()) {
    l.level = convert_enum<LogLevel>(n, r.path_of("level"), ctx,
                                     {{"trace", LogLevel::trace},
                                      {"debug", LogLevel::debug},
                                      {"info", LogLevel::info},
                                      {"warn", LogLevel::warn},
                                      {"error", LogLevel::error}})
                  .value_or(l.level);
  }
  r.finish();
  return l;
}

AdminConfig parse_admin(const YAML::Node& node, ParseContext& ctx) {
  MapReader r(node, "admin", ctx);
  AdminConfig a;
  if (auto key = r.optional<Secret>("key")) {
    a.key = std::move(*key);
  }
  r.finish();
  return a;
}

void check_readable(MapReader& r, std::string_view key, const std::filesystem::path& p) {
  std::ifstream in(p);
  std::error_code ec;
  // On Linux a directory opens as an ifstream; only reading it fails.
  if (!in || std::filesystem::is_directory(p, ec)) {
    r.context().error(r.child(key), r.path_of(key), "cannot read file " + p.string());
  }
}

std::optional<TlsConfig> parse_tls(const YAML::Node& node, const std::string& path, ParseContext& ctx,
                                   const std::filesystem::path& base_dir) {
  if (!node.IsDefined() || node.IsNull()) {
    return std::nullopt;
  }
  MapReader r(node, path, ctx);
  TlsConfig tls;
  auto cert = r.required<std::string>("cert");
  auto key = r.required<std::string>("key");
  if (cert) {
    tls.cert = resolve_relative(*cert, base_dir);
    check_readable(r, "cert", tls.cert);
  }
  if (key) {
    tls.key = resolve_relative(*key, base_dir);
    check_readable(r, "key", tls.key);
  }
  r.finish();
  return tls;
}

void parse_bind(MapReader& r, ListenerConfig& l) {
  auto node = r.child("bind");
  std::string bind = "loopback";
  if (node.IsDefined() && !node.IsNull()) {
    bind = convert<std::string>(node, r.path_of("bind"), r.context()).value_or(bind);
  }
  if (bind == "loopback") {
    l.bind = BindMode::loopback;
    l.address = *IpAddress::parse("127.0.0.1");
  } else if (bind == "lan") {
    l.bind = BindMode::lan;
    l.address = *IpAddress::parse("::");
  } else if (bind == "any") {
    l.bind = BindMode::any;
    l.address = *IpAddress::parse("::");
  } else if (auto addr = IpAddress::parse(bind)) {
    l.bind = BindMode::address;
    l.address = *addr;
  } else {
    r.context().error(node, r.path_of("bind"),
                      "invalid bind '" + bind + "' (expected loopback | lan | any | an IP address)");
  }
}

// A DNS name (letters, digits, '-', '.') or an IP address; no port, scheme or wildcard.
bool valid_server_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  if (IpAddress::parse(name)) return true;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
  }) && name.front() != '.' && name.front() != '-';
}

void parse_server_names(MapReader& r, ListenerConfig& l) {
  auto names = r.optional<std::vector<std::string>>("server_names").value_or(std::vector<std::string>{});
  for (std::size_t i = 0; i < names.size(); ++i) {
    std::string name = names[i];
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!name.empty() && name.back() == '.') name.pop_back();
    if (!valid_server_name(name)) {
      auto node = r.child("server_names");
      r.context().error(node.IsSequence() && i < node.size() ? node[i] : node,
                        r.path_of("server_names") + "[" + std::to_string(i) + "]",
                        "'" + names[i] + "' is not a host name or IP address (no scheme, port or wildcard)");
      continue;
    }
    if (name.find(':') != std::string::npos) name = "[" + name + "]";  // as Host writes IPv6 literals
    l.server_names.push_back(std::move(name));
  }
}

void parse_protocol(MapReader& r, ListenerConfig& l) {
  auto protocol = r.optional<std::string>("protocol").value_or("http");
  if (protocol == "lmtp") {
    l.protocol = ListenerProtocol::lmtp;
  } else if (protocol != "http") {
    r.context().error(r.child("protocol"), r.path_of("protocol"),
                      "invalid protocol '" + protocol + "' (expected http | lmtp)");
  }
  // Keys that mean something for one protocol only are refused on the other, so nobody
  // believes they apply.
  static const char* const kHttpOnly[] = {"admin",         "body_limit",   "trusted_proxies", "server_names",
                                          "header_timeout", "body_timeout", "idle_timeout"};
  static const char* const kLmtpOnly[] = {"max_message_size", "max_recipients", "command_timeout", "data_timeout"};
  if (l.protocol == ListenerProtocol::lmtp) {
    for (const char* key : kHttpOnly) {
      if (r.has(key)) r.context().error(r.child(key), r.path_of(key), std::string(key) + " does not apply to an lmtp listener");
    }
    l.admin = false;
  } else {
    for (const char* key : kLmtpOnly) {
      if (r.has(key)) {
        r.context().error(r.child(key), r.path_of(key),
                          std::string(key) + " applies to lmtp listeners only (this one is http)");
      }
    }
  }
}

void parse_lmtp_keys(MapReader& r, ListenerConfig& l) {
  l.max_message_size = r.optional<ByteSize>("max_message_size").value_or(l.max_message_size);
  if (l.max_message_size.bytes < 1024 || l.max_message_size.bytes > 100ULL * 1024 * 1024) {
    r.context().error(r.child("max_message_size"), r.path_of("max_message_size"),
                      "max_message_size must be from 1KiB to 100MiB");
  }
  l.max_recipients = r.optional<std::uint32_t>("max_recipients").value_or(l.max_recipients);
  if (l.max_recipients < 1 || l.max_recipients > 1000) {
    r.context().error(r.child("max_recipients"), r.path_of("max_recipients"), "max_recipients must be from 1 to 1000");
  }
  for (auto [key, field] : {std::pair{"command_timeout", &l.command_timeout},
                            std::pair{"data_timeout", &l.data_timeout}}) {
    if (auto d = r.optional<Duration>(key)) {
      if (d->count() <= 0) r.context().error(r.child(key), r.path_of(key), std::string(key) + " must be greater than zero");
      *field = *d;
    }
  }
}

std::optional<ListenerConfig> parse_listener(const YAML::Node& node, const std::string& path, ParseContext& ctx,
                                             const std::filesystem::path& base_dir) {
  MapReader r(node, path, ctx);
  ListenerConfig l;
  l.where = ctx.location(node);
  if (auto name = r.required<std::string>("name")) {
    l.name = *name;
    if (!valid_identifier(l.name)) {
      ctx.error(r.child("name"), r.path_of("name"),
                "name must be lower-case letters, digits, '-' or '_' (at most 63)");
    }
  }
  parse_bind(r, l);
  parse_protocol(r, l);
  if (auto port = r.required<std::uint16_t>("port")) {
    if (*port == 0) {
      ctx.error(r.child("port"), r.path_of("port"), "port must be between 1 and 65535");
    }
    l.port = *port;
  }
  std::size_t errors_before_allow = ctx.errors().size();
  l.allow = r.optional<std::vector<Cidr>>("allow").value_or(std::vector<Cidr>{});
  if (r.has("allow") && l.allow.empty() && ctx.errors().size() == errors_before_allow) {
    ctx.error(r.child("allow"), r.path_of("allow"), "allow: is empty, which would refuse every peer");
  }
  // An `any` listener faces the internet by intent: no admin endpoints unless asked.
  if (l.protocol == ListenerProtocol::http) l.admin = r.optional<bool>("admin").value_or(l.bind != BindMode::any);
  l.tls = parse_tls(r.child("tls"), r.path_of("tls"), ctx, base_dir);
  if (auto max = r.optional<std::uint32_t>("max_connections")) {
    if (*max == 0) {
      ctx.error(r.child("max_connections"), r.path_of("max_connections"), "max_connections must be at least 1");
    }
    l.max_connections = *max;
  }
  // One client must not hold every connection a listener has; loopback peers are this host.
  l.max_connections_per_peer = l.address.is_loopback() ? 0 : 256;
  if (auto per_peer = r.optional<std::uint32_t>("max_connections_per_peer")) {
    l.max_connections_per_peer = *per_peer;  // 0: no cap
  }
  parse_server_names(r, l);
  l.body_limit = r.optional<ByteSize>("body_limit").value_or(l.body_limit);
  for (auto [key, field] : {std::pair{"header_timeout", &l.header_timeout},
                            std::pair{"body_timeout", &l.body_timeout},
                            std::pair{"idle_timeout", &l.idle_timeout}}) {
    if (auto d = r.optional<Duration>(key)) {
      if (d->count() <= 0) {
        ctx.error(r.child(key), r.path_of(key), std::string(key) + " must be greater than zero");
      }
      *field = *d;
    }
  }
  l.trusted_proxies = r.optional<std::vector<Cidr>>("trusted_proxies").value_or(std::vector<Cidr>{});
  if (l.protocol == ListenerProtocol::lmtp) parse_lmtp_keys(r, l);
  r.finish();
  return l;
}

// `nodes` is the `listeners:` sequence; parse_listener yields one entry per element.
void check_listener_ports(const std::vector<ListenerConfig>& listeners, const YAML::Node& nodes,
                          ParseContext& ctx) {
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      const auto& a = listeners[i];
      const auto& b = listeners[j];
      if (a.port == 0 || b.port == 0) {
        continue;  // missing or invalid, already reported
      }
      bool wildcard = a.address.is_unspecified() || b.address.is_unspecified();
      if (a.port == b.port && (wildcard || a.address == b.address)) {
        std::string path = "listeners[" + std::to_string(i) + "].port";
        std::string message =
            "port " + std::to_string(a.port) + " is already bound by listener '" + b.name + "'";
        YAML::Node item = nodes.IsSequence() && i < nodes.size() ? nodes[i] : YAML::Node(YAML::NodeType::Undefined);
        const YAML::Node& map = item;
        if (map.IsMap() && map["port"].IsDefined()) {
          ctx.error(map["port"], path, message);
        } else {
          ctx.error_at(a.where, path, message);
        }
        break;
      }
    }
  }
}

AuditConfig parse_audit(const YAML::Node& node, ParseContext& ctx) {
  MapReader r(node, "audit", ctx);
  AuditConfig a;
  a.path = r.optional<std::string>("path").value_or("audit.db");
  a.retention = r.optional<Duration>("retention").value_or(a.retention);
  if (auto n = r.child("store_text"); n.IsDefined() && !n.IsNull()) {
    a.store_text = convert_enum<StoreText>(n, r.path_of("store_text"), ctx,
                                           {{"full", StoreText::full}, {"hash", StoreText::hash},
                                            {"none", StoreText::none}})
                       .value_or(a.store_text);
  }
  if (auto key = r.optional<Secret>("chain_key")) {
    a.chain_key = std::move(*key);
  }
  if (auto n = r.child("synchronous"); n.IsDefined() && !n.IsNull()) {
    a.synchronous = convert_enum<SyncMode>(n, r.path_of("synchronous"), ctx,
                                           {{"off", SyncMode::off}, {"normal", SyncMode::normal},
                                            {"full", SyncMode::full}})
                        .value_or(a.synchronous);
  }
  a.queue_capacity = r.optional<std::uint32_t>("queue_capacity").value_or(a.queue_capacity);
  a.batch_size = r.optional<std::uint32_t>("batch_size").value_or(a.batch_size);
  a.flush_interval = r.optional<Duration>("flush_interval").value_or(a.flush_interval);
  a.head_log_interval = r.optional<Duration>("head_log_interval").value_or(a.head_log_interval);
  a.checkpoint_interval = r.optional<Duration>("checkpoint_interval").value_or(a.checkpoint_interval);
  a.max_size = r.optional<ByteSize>("max_size").value_or(a.max_size);
  if (a.max_size.bytes != 0 && a.max_size.bytes < 64 * 1024) {
    ctx.error(r.child("max_size"), r.path_of("max_size"), "max_size must be 0 (unlimited) or at least 64KiB");
  }
  if (a.queue_capacity < 16) {
    ctx.error(r.child("queue_capacity"), r.path_of("queue_capacity"), "queue_capacity must be at least 16");
  }
  if (a.head_log_interval.count() <= 0) {
    ctx.error(r.child("head_log_interval"), r.path_of("head_log_interval"), "head_log_interval must be greater than zero");
  }
  if (a.checkpoint_interval.count() <= 0) {
    ctx.error(r.child("checkpoint_interval"), r.path_of("checkpoint_interval"),
              "checkpoint_interval must be greater than zero");
  }
  if (a.batch_size == 0) {
    ctx.error(r.child("batch_size"), r.path_of("batch_size"), "batch_size must be at least 1");
  }
  r.finish();
  return a;
}

std::shared_ptr<Config> parse_document(const YAML::Node& root, ParseContext& ctx,
                                       const std::filesystem::path& base_dir, const Registries* registries) {
  auto cfg = std::make_shared<Config>();
  MapReader r(root, "", ctx);
  cfg->gateway = parse_gateway(r.child("gateway"), ctx, base_dir);
  cfg->log = parse_log(r.child("log"), ctx);
  cfg->admin = parse_admin(r.child("admin"), ctx);
  YAML::Node listeners_node = r.child("listeners");
  std::size_t errors_before_listeners = ctx.errors().size();
  cfg->listeners = parse_list<ListenerConfig>(
      listeners_node, "listeners", ctx,
      [&](const YAML::Node& n, const std::string& p) { return parse_listener(n, p, ctx, base_dir); });
  bool listeners_reported = ctx.errors().size() != errors_before_listeners;
  check_unique_names(cfg->listeners, "listener", "listeners", ctx);
  check_listener_ports(cfg->listeners, listeners_node, ctx);
  cfg->audit = parse_audit(r.child("audit"), ctx);
  if (cfg->audit.path.is_relative()) {
    cfg->audit.path = (cfg->gateway.data_dir / cfg->audit.path).lexically_normal();
  }
  parse_pipeline_sections(r, ctx, registries, *cfg);
  parse_browsers(r, ctx, *cfg);
  r.finish();
  if (cfg->listeners.empty() && !listeners_reported && root.IsMap()) {
    // At `listeners: []`; at the key for an empty `listeners:` (a null value's mark is
    // the next token's); at the document when the section is absent.
    YAML::Mark at = root.Mark();
    for (const auto& kv : root) {
      if (kv.first.Scalar() == "listeners") {
        at = listeners_node.IsNull() ? kv.first.Mark() : listeners_node.Mark();
        break;
      }
    }
    ctx.error(at, "listeners", "at least one listener is required");
  }
  return cfg;
}

}  // namespace

std::vector<std::string> ListenerConfig::host_names() const {
  std::vector<std::string> names{"localhost", "127.0.0.1", "[::1]"};
  for (const auto& n : server_names) {
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  }
  return names;
}

bool ListenerConfig::admits(const IpAddress& peer) const {
  if (!allow.empty()) {
    return any_contains(allow, peer);
  }
  if (bind == BindMode::lan) {
    return any_contains(private_network_cidrs(), peer);
  }
  return true;
}

const AgentConfig* Config::find_agent(std::string_view name) const {
  for (const auto& a : agents) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

const ModelSpec* Config::find_model(std::string_view name) const {
  for (const auto& m : models) {
    if (m->name == name) return m.get();
  }
  return nullptr;
}

const ListenerConfig* Config::find_listener(std::string_view name) const {
  for (const auto& l : listeners) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

namespace {

// Where the last '{' or '[' still open at `end` was opened (1-based line and column), for
// a flow collection the parser found unclosed. Quoted text and comments are skipped.
std::optional<std::pair<int, int>> unclosed_bracket(std::string_view text, std::size_t end, char open) {
  struct Open {
    char bracket;
    int line, column;
  };
  std::vector<Open> open_brackets;  // '{' and '[' not closed yet, innermost last
  int line = 1, column = 0;
  char quote = 0;
  bool comment = false;
  for (std::size_t i = 0; i < std::min(end, text.size()); ++i) {
    char c = text[i];
    ++column;
    if (c == '\n') {
      ++line;
      column = 0;
      comment = false;
      continue;
    }
    if (comment) continue;
    if (quote) {
      if (c == '\\' && quote == '"') {
        ++i;
        ++column;
      } else if (c == quote) {
        quote = 0;
      }
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '#' && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\t' || text[i - 1] == '\n')) {
      comment = true;
    } else if (c == '{' || c == '[') {
      open_brackets.push_back({c, line, column});
    } else if ((c == '}' || c == ']') && !open_brackets.empty()) {
      open_brackets.pop_back();
    }
  }
  for (auto it = open_brackets.rbegin(); it != open_brackets.rend(); ++it) {
    if (it->bracket == open) return std::pair{it->line, it->column};
  }
  return std::nullopt;
}

// yaml-cpp's words for the common slips, said as what is wrong; its own words follow.
std::string explain_yaml_error(const YAML::Exception& e, std::string_view text) {
  const std::string& raw = e.msg;
  std::string what;
  if (raw.find("tab") != std::string::npos) {
    what = "a tab is used for indentation; YAML indents with spaces only";
  } else if (raw == "end of map flow not found" || raw == "end of sequence flow not found") {
    char open = raw.find("map") != std::string::npos ? '{' : '[';
    char close = open == '{' ? '}' : ']';
    auto end = e.mark.pos >= 0 ? static_cast<std::size_t>(e.mark.pos) : text.size();
    if (auto at = unclosed_bracket(text, end, open)) {
      what = std::string("'") + open + "' opened at " + std::to_string(at->first) + ":" + std::to_string(at->second) +
             " is never closed with '" + close + "'";
    } else {
      what = std::string("a '") + open + "' is never closed with '" + close + "'";
    }
  } else if (raw == "illegal map value") {
    what = "a ': ' inside an unquoted value (put the value in quotes) or a key where none can be";
  } else if (raw == "illegal block entry") {
    what = "a '- ' list item where none can be: check the indentation, and for a '{' or '[' left open above";
  } else {
    return raw;
  }
  return what + " (YAML: " + raw + ")";
}

}  // namespace

LoadResult load_string(std::string_view yaml, const std::string& file_name, const SecretEnvironment& env,
                       const Registries* registries) {
  ParseContext ctx(file_name, env);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    ctx.error(e.mark, "", explain_yaml_error(e, yaml));
    return {nullptr, ctx.take_errors()};
  }
  if (!root.IsDefined() || root.IsNull()) {
    ctx.error(YAML::Mark::null_mark(), "", "the file is empty");
    return {nullptr, ctx.take_errors()};
  }
  auto cfg = parse_document(root, ctx, env.base_dir, registries);
  if (!ctx.errors().empty()) {
    auto errors = ctx.take_errors();
    std::stable_sort(errors.begin(), errors.end(), [](const ConfigError& a, const ConfigError& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    return {nullptr, std::move(errors)};
  }
  cfg->sha256 = sha256_hex(yaml);
  return {std::move(cfg), {}, ctx.take_warnings()};
}

LoadResult load_file(const std::filesystem::path& path, const SecretEnvironment& env, const Registries* registries) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return {nullptr, {ConfigError{path.string(), 0, 0, "", "is a directory, not a configuration file"}}};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return {nullptr, {ConfigError{path.string(), 0, 0, "", "cannot open the configuration file"}}};
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  auto result = load_string(buf.str(), path.string(), env, registries);
  if (result.config) {
    auto cfg = std::const_pointer_cast<Config>(result.config);
    cfg->file = std::filesystem::absolute(path).lexically_normal();
  }
  return result;
}

LoadResult load_file(const std::filesystem::path& path, const Registries* registries) {
  auto base = std::filesystem::absolute(path).parent_path();
  return load_file(path, SecretEnvironment::from_process(base), registries);
}

std::vector<std::string> restart_required_changes(const Config& running, const Config& next) {
  std::vector<std::string> changes;
  if (running.gateway.data_dir != next.gateway.data_dir) changes.push_back("gateway.data_dir");
  if (running.gateway.threads != next.gateway.threads) changes.push_back("gateway.threads");
  if (running.gateway.instance != next.gateway.instance) changes.push_back("gateway.instance");
  if (running.gateway.upstream_idle_connections != next.gateway.upstream_idle_connections) {
    changes.push_back("gateway.upstream_idle_connections");
  }
  if (running.audit.path != next.audit.path) changes.push_back("audit.path");
  if (!(running.audit.chain_key == next.audit.chain_key)) changes.push_back("audit.chain_key");
  if (running.audit.store_text != next.audit.store_text) changes.push_back("audit.store_text");
  if (running.audit.synchronous != next.audit.synchronous) changes.push_back("audit.synchronous");
  if (!(running.audit.max_size == next.audit.max_size)) changes.push_back("audit.max_size");
  if (running.audit.retention != next.audit.retention) changes.push_back("audit.retention");
  if (running.audit.queue_capacity != next.audit.queue_capacity) changes.push_back("audit.queue_capacity");
  if (running.audit.batch_size != next.audit.batch_size) changes.push_back("audit.batch_size");
  if (running.audit.flush_interval != next.audit.flush_interval) changes.push_back("audit.flush_interval");
  if (running.audit.head_log_interval != next.audit.head_log_interval) changes.push_back("audit.head_log_interval");
  if (running.audit.checkpoint_interval != next.audit.checkpoint_interval) {
    changes.push_back("audit.checkpoint_interval");
  }
  for (const auto& l : running.listeners) {
    const auto* n = next.find_listener(l.name);
    if (!n) {
      changes.push_back("listeners." + l.name + " (removed)");
    } else if (n->bind != l.bind || !(n->address == l.address) || n->port != l.port) {
      changes.push_back("listeners." + l.name + ".bind/port");
    } else if (n->tls.has_value() != l.tls.has_value()) {
      changes.push_back("listeners." + l.name + ".tls (enabled or disabled)");
    } else if (n->protocol != l.protocol) {
      // Connections already open speak the old protocol; the acceptor serves one.
      changes.push_back("listeners." + l.name + ".protocol");
    }
  }
  for (const auto& n : next.listeners) {
    if (!running.find_listener(n.name)) changes.push_back("listeners." + n.name + " (added)");
  }
  return changes;
}

}  // namespace hermes::config
