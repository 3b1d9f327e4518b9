#pragma once
// The typed configuration: parsed once from YAML, validated completely, then
// shared read-only (std::shared_ptr<const Config>) by everything that runs.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "hermes/core/ip.hpp"
#include "hermes/core/secret.hpp"
#include "hermes/core/units.hpp"

namespace hermes::config {

// Where a block came from, so late checks (start-up, reload) can still name file:line:col.
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
};

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
  BindMode bind = BindMode::loopback;
  IpAddress address;  // the address to bind (derived from bind mode, or given)
  std::uint16_t port = 0;
  std::vector<Cidr> allow;            // when set, exactly these peers are admitted
  bool admin = true;                  // serve /healthz /readyz /metrics /status
  std::optional<TlsConfig> tls;
  std::uint32_t max_connections = 16'384;
  ByteSize body_limit{1024 * 1024};
  Duration header_timeout{10'000};    // whole request head must arrive within this
  Duration body_timeout{30'000};
  Duration idle_timeout{60'000};      // keep-alive wait for the next request
  std::vector<Cidr> trusted_proxies;  // only decides which client address is recorded
  SourceLocation where;

  // The peers admitted at accept: `allow:` if given, private networks for `lan`, else all.
  bool admits(const IpAddress& peer) const;
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
  ByteSize max_size{0};  // 0: unlimited; beyond it writes fail like a full disk
};

struct Config {
  std::filesystem::path file;  // absolute path of the file it was loaded from
  std::string sha256;          // of the file's bytes, shown in /status
  GatewayConfig gateway;
  LogConfig log;
  AdminConfig admin;
  std::vector<ListenerConfig> listeners;
  AuditConfig audit;

  const ListenerConfig* find_listener(std::string_view name) const;
};

}  // namespace hermes::config
