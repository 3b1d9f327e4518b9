#pragma once
// The typed configuration: parsed once from YAML, validated completely, then
// shared read-only (std::shared_ptr<const Config>) by everything that runs.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hermes/config/keys.hpp"
#include "hermes/config/listener_protocol.hpp"

#include "hermes/core/ip.hpp"
#include "hermes/core/secret.hpp"
#include "hermes/core/units.hpp"
#include "hermes/config/source_location.hpp"

namespace hermes::config {

struct ChannelSpec;
struct ModelSpec;


enum class LogFormat { text, json };
enum class LogLevel { trace, debug, info, warn, error };

struct LogConfig {
  LogFormat format = LogFormat::text;
  LogLevel level = LogLevel::info;
};

struct GatewayConfig {
  std::string instance;  // default: the host name
  std::filesystem::path data_dir;  // default: $STATE_DIRECTORY, else /var/lib/hermes
  unsigned threads = 0;             // default: the number of cores
  Duration drain_timeout{10'000};   // SIGTERM: how long in-flight work may take to finish
  Duration drain_delay{0};          // SIGTERM: /readyz is 503 this long before listeners close
  std::uint32_t max_in_flight = 1024;  // messages in the pipeline at once; beyond it 503 + Retry-After
  Duration request_timeout{120'000};   // one deadline per request, covering retries and fallbacks
  std::uint32_t upstream_idle_connections = 128;  // keep-alive connections kept per upstream origin
};

struct AdminConfig {
  Secret key;  // required from non-loopback peers for /metrics and /status
};

enum class BindMode { loopback, lan, any, address };

struct TlsConfig {
  std::filesystem::path cert;
  std::filesystem::path key;
};

struct ListenerConfig {
  std::string name;
  ListenerProtocol protocol = ListenerProtocol::http;
  BindMode bind = BindMode::loopback;
  IpAddress address;  // the address to bind (derived from bind mode, or given)
  std::uint16_t port = 0;
  std::vector<Cidr> allow;            // when set, exactly these peers are admitted
  bool admin = true;                  // serve /healthz /readyz /metrics /status
  std::optional<TlsConfig> tls;
  std::uint32_t max_connections = 16'384;
  std::uint32_t max_connections_per_peer = 0;  // 0: no cap; the default is 256 off loopback
  std::vector<std::string> server_names;       // lower-case; IPv6 literals in brackets
  ByteSize body_limit{1024 * 1024};
  Duration header_timeout{10'000};    // whole request head must arrive within this
  Duration body_timeout{30'000};
  Duration idle_timeout{60'000};      // keep-alive wait for the next request
  std::vector<Cidr> trusted_proxies;  // only decides which client address is recorded
  // lmtp only
  ByteSize max_message_size{10 * 1024 * 1024};  // SIZE; larger messages are refused with 552 5.3.4
  std::uint32_t max_recipients = 100;           // per message
  Duration command_timeout{300'000};            // waiting for the next command
  Duration data_timeout{600'000};               // the whole DATA section
  SourceLocation where;

  // The peers admitted at accept: `allow:` if given, private networks for `lan`, else all.
  bool admits(const IpAddress& peer) const;
  // The Host check against DNS rebinding: always on a loopback listener, elsewhere when
  // `server_names:` is set.
  bool checks_host() const { return address.is_loopback() || !server_names.empty(); }
  // The names a checked listener answers to: localhost, 127.0.0.1, [::1] and server_names.
  std::vector<std::string> host_names() const;
  // Whether any IP literal is answered too: off loopback, yes (DNS rebinding needs a name,
  // and clients that use the address itself are answered as well as those using a name).
  bool answers_ip_literals() const { return !address.is_loopback(); }
};

enum class StoreText { full, hash, none };
enum class SyncMode { off, normal, full };

struct AuditConfig {
  std::filesystem::path path;  // relative paths are inside gateway.data_dir
  Duration retention{400LL * 86'400'000};
  StoreText store_text = StoreText::hash;
  Secret chain_key;            // empty: plain SHA-256 chain
  SyncMode synchronous = SyncMode::normal;
  std::uint32_t queue_capacity = 65'536;
  Duration flush_interval{5};
  std::uint32_t batch_size = 512;
  Duration head_log_interval{300'000};
  Duration checkpoint_interval{1'000};  // longest wait of committed rows for a WAL checkpoint
  ByteSize max_size{0};  // 0: unlimited; beyond it writes fail like a full disk
};

struct AgentConfig {
  std::string name;
  std::string model;                  // a models[] name
  std::vector<std::string> fallback;  // models tried in order when `model` fails
  std::string system_prompt;
  std::uint32_t history = 20;         // turns of session history sent with each message
  std::optional<std::int64_t> max_tokens;
  std::optional<double> temperature;
  // Answers one API request may ask for (`n`); token budgets count every one.
  std::uint32_t max_choices = 1;
  // API request fields passed to the model beyond the documented list (docs/api.md).
  std::vector<std::string> passthrough;
  SourceLocation where;
};

// Every list in a match must be satisfied (AND); within a list any entry may match (OR).
struct RouteMatch {
  std::vector<std::string> channels;       // channel name or type
  std::vector<std::string> senders;        // globs: "U123*", "*@example.com"
  std::vector<std::string> conversations;  // globs
  std::vector<std::string> recipients;     // globs
  std::vector<std::string> text_any;       // keywords, case-insensitive
  std::vector<std::string> text_all;
  std::string text_regex;                  // RE2 syntax, case-sensitive unless (?i)
  std::vector<std::string> models;         // API `model` values this route claims
};

struct RouteConfig {
  std::string name;
  std::optional<RouteMatch> match;  // none: catch-all
  std::string agent;                // exactly one of agent / reject_message
  std::optional<std::string> reject_message;
  SourceLocation where;
};

enum class LimitKey { sender, channel, agent, api_key, global };

struct LimitConfig {
  std::string name;
  LimitKey key = LimitKey::sender;
  Rate rate;
  std::uint32_t burst = 1;  // bucket capacity
  bool tokens = false;      // a token budget (`tokens: 50000/min`): debited by reported usage
  std::vector<std::string> channels;  // apply only to these channels (name or type); empty: all
  SourceLocation where;
};

struct SessionsConfig {
  Duration idle_reset{24LL * 3'600'000};  // a session idle this long starts fresh
  std::uint32_t max_turns = 50;           // history kept per session
  std::uint32_t token_budget = 8000;      // approximate tokens of history sent upstream
  std::uint32_t max_in_memory = 10'000;   // LRU bound; older sessions live in the store
  std::uint32_t max_per_key = 1'000;      // sessions one API key may hold; its oldest goes first
  ByteSize max_bytes{256 * 1024};         // history kept per session; the oldest turns go first
};

// Delivery of answers queued for asynchronous channels (retries, then give up).
struct OutboxConfig {
  std::uint32_t max_attempts = 12;
  Duration first_backoff{1'000};  // doubled per attempt, jittered; a peer's Retry-After wins when longer
  Duration max_backoff{300'000};
  Duration give_up_after{86'400'000};
};

// A Chromium instance reached through the CDP relay (`browsers:`, docs/cdp.md).
struct BrowserConfig {
  std::string name;       // served under /cdp/<name>/
  std::string listener;
  std::string endpoint;   // Chromium's --remote-debugging-port: "http://127.0.0.1:9222"
  std::string endpoint_host;  // from `endpoint`: an IP literal or a name, never a wildcard
  std::uint16_t endpoint_port = 0;
  std::vector<AccessKey> keys;         // required
  std::vector<std::string> allow_urls; // globs over the whole URL; empty: no navigation but about:blank
  std::vector<std::string> deny_methods;   // "Domain.method" or "Domain.*", added to the built-in list
  std::vector<std::string> allow_origins;  // browser pages allowed to open the WebSocket
  std::uint32_t max_sessions = 4;          // relay WebSocket sessions open at once
  Duration idle_timeout{300'000};          // no frame either way for this long ends a session
  std::uint64_t max_frame = 32ull * 1024 * 1024;  // largest CDP message, either way
  SourceLocation where;
};

struct Config {
  std::filesystem::path file;  // absolute path of the file it was loaded from
  std::string sha256;          // of the file's bytes, shown in /status
  GatewayConfig gateway;
  LogConfig log;
  AdminConfig admin;
  std::vector<ListenerConfig> listeners;
  AuditConfig audit;
  std::vector<std::shared_ptr<const ChannelSpec>> channels;
  std::vector<std::shared_ptr<const ModelSpec>> models;
  std::vector<AgentConfig> agents;
  std::vector<RouteConfig> routes;
  std::vector<LimitConfig> limits;
  SessionsConfig sessions;
  OutboxConfig outbox;
  std::vector<BrowserConfig> browsers;

  const ListenerConfig* find_listener(std::string_view name) const;
  const AgentConfig* find_agent(std::string_view name) const;
  const ModelSpec* find_model(std::string_view name) const;
};

}  // namespace hermes::config

#include "hermes/config/extensions.hpp"
