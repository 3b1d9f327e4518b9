// `browsers:`: the Chromium instances the CDP relay serves (docs/cdp.md).
#include <regex>

#include "hermes/config/keys.hpp"
#include "src/config/sections.hpp"

namespace hermes::config {
namespace {

bool browser_name_ok(const std::string& name) {
  static const std::regex kName("[a-z0-9][a-z0-9_.-]{0,62}");
  return std::regex_match(name, kName);
}

std::vector<std::string> browser_strings(MapReader& r, std::string_view key) {
  auto node = r.child(key);
  if (node.IsDefined() && node.IsScalar()) return {node.Scalar()};
  return r.optional<std::vector<std::string>>(key).value_or(std::vector<std::string>{});
}

// "http://host:port[/]": where Chromium's --remote-debugging-port listens. A wildcard host
// would name every interface; a path or credentials would be sent nowhere useful.
void parse_endpoint(MapReader& r, BrowserConfig& b) {
  auto endpoint = r.required<std::string>("endpoint");
  if (!endpoint) return;
  b.endpoint = *endpoint;
  // An IP literal or localhost: Chromium answers requests naming any other host with an error.
  static const std::regex kEndpoint(R"(http://(\[[0-9a-fA-F:.]+\]|[0-9]{1,3}(?:\.[0-9]{1,3}){3}|localhost):([0-9]{1,5})/?)");
  std::smatch m;
  auto& ctx = r.context();
  if (!std::regex_match(*endpoint, m, kEndpoint)) {
    ctx.error(r.child("endpoint"), r.path_of("endpoint"),
              "endpoint must be http://HOST:PORT with HOST an IP address or localhost (Chromium's "
              "--remote-debugging-port), e.g. http://127.0.0.1:9222");
    return;
  }
  b.endpoint_host = m[1].str();
  unsigned long port = std::stoul(m[2].str());
  if (port == 0 || port > 65535) {
    ctx.error(r.child("endpoint"), r.path_of("endpoint"), "endpoint port must be from 1 to 65535");
    return;
  }
  b.endpoint_port = static_cast<std::uint16_t>(port);
  if (b.endpoint_host == "0.0.0.0" || b.endpoint_host == "[::]" || b.endpoint_host == "[::0]") {
    ctx.error(r.child("endpoint"), r.path_of("endpoint"),
              "endpoint must name the browser's address, not a wildcard (" + b.endpoint_host + ")");
  }
}

std::optional<BrowserConfig> parse_browser(const YAML::Node& node, const std::string& path, ParseContext& ctx) {
  MapReader r(node, path, ctx);
  BrowserConfig b;
  b.where = ctx.location(node);
  auto name = r.required<std::string>("name");
  if (name && !browser_name_ok(*name)) {
    ctx.error(r.child("name"), r.path_of("name"), "name must be lower-case letters, digits, '-', '_' or '.' (at most 63)");
  }
  b.name = name.value_or("");
  b.listener = r.required<std::string>("listener").value_or("");
  parse_endpoint(r, b);
  b.keys = parse_list<AccessKey>(r.child("keys"), r.path_of("keys"), ctx, [&](const YAML::Node& n, const std::string& p) {
    return parse_access_key(n, p, ctx, /*with_agents=*/false);
  });
  if (b.keys.empty()) {
    ctx.error_at(b.where, r.path_of("keys"), "a browser needs keys: (every relay request presents one)");
  }
  check_access_keys(b.keys, "key", r.path_of("keys"), ctx);
  b.allow_urls = browser_strings(r, "allow_urls");
  for (const auto& glob : b.allow_urls) {
    if (glob.empty()) ctx.error(r.child("allow_urls"), r.path_of("allow_urls"), "an allow_urls entry is empty");
  }
  b.deny_methods = browser_strings(r, "deny_methods");
  static const std::regex kMethod(R"([A-Za-z]+\.(\*|[A-Za-z]+))");
  for (const auto& method : b.deny_methods) {
    if (!std::regex_match(method, kMethod)) {
      ctx.error(r.child("deny_methods"), r.path_of("deny_methods"),
                "'" + method + "' is not a CDP method: Domain.method or Domain.*");
    }
  }
  b.allow_origins = browser_strings(r, "allow_origins");
  static const std::regex kOrigin(R"(https?://[^/\s]+)");
  for (const auto& origin : b.allow_origins) {
    if (!std::regex_match(origin, kOrigin)) {
      ctx.error(r.child("allow_origins"), r.path_of("allow_origins"),
                "'" + origin + "' is not an origin: scheme://host[:port], no path");
    }
  }
  b.max_sessions = r.optional<std::uint32_t>("max_sessions").value_or(b.max_sessions);
  if (b.max_sessions < 1 || b.max_sessions > 1024) {
    ctx.error(r.child("max_sessions"), r.path_of("max_sessions"), "max_sessions must be from 1 to 1024");
  }
  b.idle_timeout = r.optional<Duration>("idle_timeout").value_or(b.idle_timeout);
  if (b.idle_timeout.count() < 1000) {
    ctx.error(r.child("idle_timeout"), r.path_of("idle_timeout"), "idle_timeout must be at least 1s");
  }
  if (auto size = r.optional<ByteSize>("max_frame")) {
    b.max_frame = size->bytes;
    if (b.max_frame < 64 * 1024 || b.max_frame > 256ull * 1024 * 1024) {
      ctx.error(r.child("max_frame"), r.path_of("max_frame"), "max_frame must be from 64KiB to 256MiB");
    }
  }
  r.finish();
  return b;
}

}  // namespace

void parse_browsers(MapReader& root, ParseContext& ctx, Config& cfg) {
  cfg.browsers = parse_list<BrowserConfig>(root.child("browsers"), "browsers", ctx,
                                           [&](const YAML::Node& n, const std::string& p) { return parse_browser(n, p, ctx); });
  check_unique_names(cfg.browsers, "browser", "browsers", ctx);
  for (std::size_t i = 0; i < cfg.browsers.size(); ++i) {
    const auto& b = cfg.browsers[i];
    if (!b.listener.empty() && !cfg.find_listener(b.listener)) {
      ctx.error_at(b.where, index_path("browsers", i) + ".listener", "no listener named '" + b.listener + "'");
    }
  }
}

}  // namespace hermes::config
