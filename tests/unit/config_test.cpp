#include <fmt/format.h>
#include <gtest/gtest.h>

#include "hermes/app/registries.hpp"
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "hermes/config/config.hpp"
#include "hermes/config/errors.hpp"
#include "hermes/config/loader.hpp"
#include "hermes/config/reader.hpp"
#include "hermes/config/secrets.hpp"

namespace hermes::config {
namespace {

namespace fs = std::filesystem;

constexpr const char* kFile = "hermes.yaml";

// Raw YAML literals start on the line after R"( so that line 1 is the first line shown.
std::string yaml(std::string_view text) {
  if (!text.empty() && text.front() == '\n') {
    text.remove_prefix(1);
  }
  return std::string(text);
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

void expect_error_at(const ConfigError& e, int line, int column, const std::string& path,
                     const std::string& fragment) {
  EXPECT_EQ(e.file, kFile) << e.to_string();
  EXPECT_EQ(e.line, line) << e.to_string();
  EXPECT_EQ(e.column, column) << e.to_string();
  EXPECT_EQ(e.path, path) << e.to_string();
  EXPECT_TRUE(contains(e.message, fragment)) << "message lacks '" << fragment << "': " << e.to_string();
}

// Checks one error, reporting failures at the caller's line.
#define EXPECT_CONFIG_ERROR(error, line, column, path, fragment) \
  do {                                                           \
    SCOPED_TRACE("EXPECT_CONFIG_ERROR");                         \
    expect_error_at(error, line, column, path, fragment);        \
  } while (false)

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("hermes-config-test-" + std::to_string(::getpid()) + "-" + info->test_suite_name() + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }

  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // The injected environment: only the variables a test sets, never the process's.
  SecretEnvironment env() const {
    SecretEnvironment e;
    e.getenv = [vars = env_vars_](const std::string& name) -> std::optional<std::string> {
      auto it = vars.find(name);
      if (it == vars.end()) {
        return std::nullopt;
      }
      return it->second;
    };
    e.base_dir = dir_;
    return e;
  }

  LoadResult load(std::string_view text) const { return load_string(text, kFile, env()); }

  // Loads text that must be valid; the returned config stays alive in the fixture.
  const Config& load_ok(std::string_view text) {
    auto result = load(text);
    EXPECT_TRUE(result.ok()) << format_errors(result.errors);
    EXPECT_TRUE(result.errors.empty());
    if (!result.config) {
      keep_.push_back(std::make_shared<Config>());
    } else {
      keep_.push_back(result.config);
    }
    return *keep_.back();
  }

  // The single error of a load that must fail with exactly one.
  ConfigError only_error(std::string_view text) const {
    auto result = load(text);
    EXPECT_FALSE(result.ok());
    EXPECT_TRUE(result.config == nullptr);
    EXPECT_EQ(result.errors.size(), 1u) << format_errors(result.errors);
    return result.errors.empty() ? ConfigError{} : result.errors.front();
  }

  fs::path write_file(const fs::path& relative, std::string_view content) const {
    auto p = dir_ / relative;
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out << content;
    return p;
  }

  std::map<std::string, std::string> env_vars_;
  fs::path dir_;
  std::vector<std::shared_ptr<const Config>> keep_;
};

const char* const kMinimal = R"(
listeners:
  - name: a
    port: 8080
)";

// --- a valid configuration ---------------------------------------------------

TEST_F(ConfigTest, MinimalConfigGetsDefaults) {
  env_vars_["STATE_DIRECTORY"] = "/srv/hermes-state";
  const Config& cfg = load_ok(yaml(kMinimal));
  ASSERT_EQ(cfg.listeners.size(), 1u);
  const auto& l = cfg.listeners[0];
  EXPECT_EQ(l.name, "a");
  EXPECT_EQ(l.bind, BindMode::loopback);
  EXPECT_EQ(l.address.to_string(), "127.0.0.1");
  EXPECT_EQ(l.port, 8080);
  EXPECT_TRUE(l.admin);
  EXPECT_TRUE(l.allow.empty());
  EXPECT_FALSE(l.tls.has_value());
  EXPECT_EQ(l.max_connections, 16'384u);
  EXPECT_EQ(l.body_limit, ByteSize{1024 * 1024});
  EXPECT_EQ(l.header_timeout, Duration{10'000});
  EXPECT_EQ(l.body_timeout, Duration{30'000});
  EXPECT_EQ(l.idle_timeout, Duration{60'000});
  EXPECT_EQ(l.where.file, kFile);
  EXPECT_EQ(l.where.line, 2);
  EXPECT_EQ(l.where.column, 5);

  EXPECT_FALSE(cfg.gateway.instance.empty());
  EXPECT_GE(cfg.gateway.threads, 1u);
  EXPECT_EQ(cfg.gateway.data_dir, fs::path("/srv/hermes-state"));
  EXPECT_EQ(cfg.gateway.drain_timeout, Duration{10'000});
  EXPECT_EQ(cfg.gateway.upstream_idle_connections, 128u);
  EXPECT_EQ(cfg.log.format, LogFormat::text);
  EXPECT_EQ(cfg.log.level, LogLevel::info);
  EXPECT_TRUE(cfg.admin.key.empty());
  EXPECT_EQ(cfg.audit.path, fs::path("/srv/hermes-state/audit.db"));
  EXPECT_EQ(cfg.audit.retention, Duration{400LL * 86'400'000});
  EXPECT_EQ(cfg.audit.store_text, StoreText::hash);
  EXPECT_EQ(cfg.audit.synchronous, SyncMode::normal);
  EXPECT_TRUE(cfg.audit.chain_key.empty());
  EXPECT_EQ(cfg.sha256.size(), 64u);
  EXPECT_EQ(cfg.sha256.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST_F(ConfigTest, FullConfigParsesIntoTypedValues) {
  env_vars_["ADMIN_KEY"] = "admin-key-value";
  env_vars_["CHAIN_KEY"] = "chain-key-value";
  env_vars_["STATE_DIRECTORY"] = "/srv/hermes-state";
  write_file("tls/cert.pem", "CERT");
  write_file("tls/key.pem", "KEY");
  const Config& cfg = load_ok(yaml(R"(
gateway:
  instance: gw-1
  threads: 4
  drain_timeout: 5s
log:
  format: json
  level: debug
admin:
  key: "${env:ADMIN_KEY}"
listeners:
  - name: lan
    bind: lan
    port: 8080
    body_limit: 64KiB
    header_timeout: 5s
    body_timeout: 1m
    idle_timeout: 2m
    max_connections: 100
  - name: office
    bind: lan
    port: 8081
    allow: [10.1.0.0/16, "fd00::/8", 192.168.7.7]
    trusted_proxies: [10.1.0.1]
  - name: webhooks
    bind: any
    port: 8443
    tls: {cert: tls/cert.pem, key: tls/key.pem}
  - name: local
    port: 9090
  - name: pinned
    bind: 192.168.1.10
    port: 9090
  - name: public-admin
    bind: any
    port: 9443
    admin: true
audit:
  path: audit.db
  retention: 30d
  store_text: full
  synchronous: full
  chain_key: "${env:CHAIN_KEY}"
  queue_capacity: 1024
  batch_size: 64
  flush_interval: 10ms
  head_log_interval: 1m
  checkpoint_interval: 250ms
)"));

  EXPECT_EQ(cfg.gateway.instance, "gw-1");
  EXPECT_EQ(cfg.gateway.threads, 4u);
  EXPECT_EQ(cfg.gateway.drain_timeout, Duration{5000});
  EXPECT_EQ(cfg.gateway.data_dir, fs::path("/srv/hermes-state"));
  EXPECT_EQ(cfg.log.format, LogFormat::json);
  EXPECT_EQ(cfg.log.level, LogLevel::debug);
  EXPECT_EQ(cfg.admin.key.reveal(), "admin-key-value");
  EXPECT_EQ(cfg.admin.key.source(), "env:ADMIN_KEY");

  ASSERT_EQ(cfg.listeners.size(), 6u);
  const auto& lan = cfg.listeners[0];
  EXPECT_EQ(lan.name, "lan");
  EXPECT_EQ(lan.bind, BindMode::lan);
  EXPECT_FALSE(lan.address.is_v4());
  EXPECT_TRUE(lan.address.is_unspecified());
  EXPECT_EQ(lan.address.to_string(), "::");
  EXPECT_EQ(lan.port, 8080);
  EXPECT_TRUE(lan.admin);
  EXPECT_TRUE(lan.allow.empty());
  EXPECT_EQ(lan.body_limit, ByteSize{64 * 1024});
  EXPECT_EQ(lan.header_timeout, Duration{5000});
  EXPECT_EQ(lan.body_timeout, Duration{60'000});
  EXPECT_EQ(lan.idle_timeout, Duration{120'000});
  EXPECT_EQ(lan.max_connections, 100u);
  EXPECT_EQ(lan.where.line, 11);
  EXPECT_EQ(lan.where.column, 5);

  const auto& office = cfg.listeners[1];
  EXPECT_EQ(office.bind, BindMode::lan);
  ASSERT_EQ(office.allow.size(), 3u);
  EXPECT_EQ(office.allow[0], *Cidr::parse("10.1.0.0/16"));
  EXPECT_EQ(office.allow[1], *Cidr::parse("fd00::/8"));
  EXPECT_EQ(office.allow[2], *Cidr::parse("192.168.7.7/32"));
  ASSERT_EQ(office.trusted_proxies.size(), 1u);
  EXPECT_EQ(office.trusted_proxies[0].to_string(), "10.1.0.1/32");
  EXPECT_EQ(office.where.line, 19);

  const auto& webhooks = cfg.listeners[2];
  EXPECT_EQ(webhooks.bind, BindMode::any);
  EXPECT_EQ(webhooks.address.to_string(), "::");
  EXPECT_FALSE(webhooks.admin) << "bind: any defaults to admin: false";
  ASSERT_TRUE(webhooks.tls.has_value());
  EXPECT_EQ(webhooks.tls->cert, dir_ / "tls/cert.pem");
  EXPECT_EQ(webhooks.tls->key, dir_ / "tls/key.pem");

  const auto& local = cfg.listeners[3];
  EXPECT_EQ(local.bind, BindMode::loopback);
  EXPECT_EQ(local.address.to_string(), "127.0.0.1");
  EXPECT_TRUE(local.admin);

  const auto& pinned = cfg.listeners[4];
  EXPECT_EQ(pinned.bind, BindMode::address);
  EXPECT_EQ(pinned.address, *IpAddress::parse("192.168.1.10"));
  EXPECT_EQ(pinned.port, 9090);
  EXPECT_TRUE(pinned.admin);

  EXPECT_TRUE(cfg.listeners[5].admin) << "an explicit admin: true wins over the bind: any default";

  EXPECT_EQ(cfg.find_listener("office"), &cfg.listeners[1]);
  EXPECT_EQ(cfg.find_listener("nope"), nullptr);

  EXPECT_EQ(cfg.audit.path, fs::path("/srv/hermes-state/audit.db"));
  EXPECT_EQ(cfg.audit.retention, Duration{30LL * 86'400'000});
  EXPECT_EQ(cfg.audit.store_text, StoreText::full);
  EXPECT_EQ(cfg.audit.synchronous, SyncMode::full);
  EXPECT_EQ(cfg.audit.chain_key.reveal(), "chain-key-value");
  EXPECT_EQ(cfg.audit.queue_capacity, 1024u);
  EXPECT_EQ(cfg.audit.batch_size, 64u);
  EXPECT_EQ(cfg.audit.flush_interval, Duration{10});
  EXPECT_EQ(cfg.audit.head_log_interval, Duration{60'000});
  EXPECT_EQ(cfg.audit.checkpoint_interval, Duration{250});
}

TEST_F(ConfigTest, FlowStyleListenersParse) {
  const Config& cfg = load_ok(yaml(R"(
gateway: {instance: gw-1, threads: 2}
listeners:
  - {name: lan, bind: lan, port: 8080}
  - {name: webhooks, bind: any, port: 8443, admin: false}
)"));
  ASSERT_EQ(cfg.listeners.size(), 2u);
  EXPECT_EQ(cfg.listeners[0].bind, BindMode::lan);
  EXPECT_EQ(cfg.listeners[1].bind, BindMode::any);
  EXPECT_FALSE(cfg.listeners[1].admin);
  EXPECT_EQ(cfg.gateway.threads, 2u);
}

TEST_F(ConfigTest, YamlBooleanSpellings) {
  const Config& cfg = load_ok(yaml(R"(
listeners:
  - {name: a, port: 1, admin: no}
  - {name: b, port: 2, admin: off}
  - {name: c, bind: any, port: 3, admin: yes}
  - {name: d, bind: any, port: 4, admin: on}
)"));
  ASSERT_EQ(cfg.listeners.size(), 4u);
  EXPECT_FALSE(cfg.listeners[0].admin);
  EXPECT_FALSE(cfg.listeners[1].admin);
  EXPECT_TRUE(cfg.listeners[2].admin);
  EXPECT_TRUE(cfg.listeners[3].admin);
}

TEST_F(ConfigTest, ShippedExampleConfigIsValid) {
  // config/hermes.yaml "runs as-is on a laptop"; it must at least load.
  std::ifstream in(fs::path(__FILE__).parent_path().parent_path().parent_path() / "config/hermes.yaml");
  if (!in) {
    GTEST_SKIP() << "config/hermes.yaml not found next to the sources";
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The same registries hermesd uses, so the demo's channels and models are known.
  auto result = load_string(text, kFile, env(), &app::builtin_registries());
  ASSERT_TRUE(result.ok()) << format_errors(result.errors);
  EXPECT_FALSE(result.config->listeners.empty());
  EXPECT_FALSE(result.config->channels.empty());
}

TEST_F(ConfigTest, ProductionExamplesAreValid) {
  // config/examples/*.yaml are what docs point operators to: each loads as shipped, with
  // its credentials present.
  auto examples = fs::path(__FILE__).parent_path().parent_path().parent_path() / "config/examples";
  if (!fs::is_directory(examples)) GTEST_SKIP() << "config/examples not found next to the sources";
  int loaded = 0;
  for (const auto& file : fs::directory_iterator(examples)) {
    if (file.path().extension() != ".yaml") continue;
    std::ifstream in(file.path());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    static const std::regex kCredential(R"(\$\{credential:([A-Za-z0-9_.-]+)\})");
    for (std::sregex_iterator it(text.begin(), text.end(), kCredential), end; it != end; ++it) {
      std::ofstream(dir_ / (*it)[1].str()) << "example-secret";
    }
    env_vars_["CREDENTIALS_DIRECTORY"] = dir_.string();
    auto result = load_string(text, file.path().filename().string(), env(), &app::builtin_registries());
    EXPECT_TRUE(result.ok()) << file.path() << "\n" << format_errors(result.errors);
    ++loaded;
  }
  EXPECT_GT(loaded, 0);
}

TEST_F(ConfigTest, DataDirDefaultsWithoutStateDirectory) {
  const Config& cfg = load_ok(yaml(kMinimal));
  EXPECT_EQ(cfg.gateway.data_dir, fs::path("/var/lib/hermes"));
  EXPECT_EQ(cfg.audit.path, fs::path("/var/lib/hermes/audit.db"));
}

TEST_F(ConfigTest, EmptyStateDirectoryIsIgnored) {
  env_vars_["STATE_DIRECTORY"] = "";
  const Config& cfg = load_ok(yaml(kMinimal));
  EXPECT_EQ(cfg.gateway.data_dir, fs::path("/var/lib/hermes"));
}

TEST_F(ConfigTest, ExplicitDataDirWinsOverStateDirectory) {
  env_vars_["STATE_DIRECTORY"] = "/srv/hermes-state";
  const Config& cfg = load_ok(yaml(R"(
gateway:
  data_dir: /data/hermes
listeners:
  - name: a
    port: 8080
audit:
  path: logs/../audit.db
)"));
  EXPECT_EQ(cfg.gateway.data_dir, fs::path("/data/hermes"));
  EXPECT_EQ(cfg.audit.path, fs::path("/data/hermes/audit.db"));
}

TEST_F(ConfigTest, RelativeDataDirResolvesAgainstTheConfigDirectory) {
  const Config& cfg = load_ok(yaml(R"(
gateway:
  data_dir: state
listeners:
  - name: a
    port: 8080
)"));
  EXPECT_EQ(cfg.gateway.data_dir, (dir_ / "state").lexically_normal());
  EXPECT_EQ(cfg.audit.path, (dir_ / "state/audit.db").lexically_normal());
}

TEST_F(ConfigTest, AbsoluteAuditPathIsKept) {
  env_vars_["STATE_DIRECTORY"] = "/srv/hermes-state";
  const Config& cfg = load_ok(yaml(R"(
listeners:
  - name: a
    port: 8080
audit:
  path: /var/log/hermes/audit.db
)"));
  EXPECT_EQ(cfg.audit.path, fs::path("/var/log/hermes/audit.db"));
}

TEST_F(ConfigTest, ListenersOnDifferentAddressesMayShareAPort) {
  const Config& cfg = load_ok(yaml(R"(
listeners:
  - {name: a, bind: 127.0.0.1, port: 8080}
  - {name: b, bind: 127.0.0.2, port: 8080}
  - {name: c, bind: "::1", port: 8080}
)"));
  EXPECT_EQ(cfg.listeners.size(), 3u);
}

TEST_F(ConfigTest, LoadFileNamesTheFileAndRecordsItsAbsolutePath) {
  auto good = write_file("good.yaml", yaml(kMinimal));
  auto result = load_file(good, env());
  ASSERT_TRUE(result.ok()) << format_errors(result.errors);
  EXPECT_EQ(result.config->file, good.lexically_normal());

  auto bad = write_file("bad.yaml", "listeners:\n  - name: a\n    port: abc\n");
  result = load_file(bad, env());
  ASSERT_EQ(result.errors.size(), 1u) << format_errors(result.errors);
  EXPECT_EQ(result.errors[0].file, bad.string());
  EXPECT_EQ(result.errors[0].to_string(), bad.string() + ":3:11: listeners[0].port: expected an integer, got 'abc'");

  result = load_file(dir_ / "missing.yaml", env());
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_FALSE(result.ok());
  EXPECT_TRUE(contains(result.errors[0].to_string(), "missing.yaml"));

  result = load_file(dir_, env());
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].to_string(), dir_.string() + ": is a directory, not a configuration file");
}

// --- YAML syntax errors ------------------------------------------------------

TEST_F(ConfigTest, SyntaxErrorNamesLineAndColumn) {
  auto e = only_error(yaml(R"(
listeners:
  - name: a
    port: @8080
)"));
  EXPECT_EQ(e.line, 3);
  EXPECT_EQ(e.column, 11);
  EXPECT_EQ(e.path, "");
  EXPECT_FALSE(e.message.empty());
  EXPECT_EQ(e.to_string(), "hermes.yaml:3:11: " + e.message);
}

TEST_F(ConfigTest, TabIndentationIsASyntaxError) {
  auto e = only_error("listeners:\n  - name: a\n\t port: 8080\n");
  EXPECT_EQ(e.line, 3);
  EXPECT_EQ(e.column, 1);
  EXPECT_TRUE(contains(e.message, "a tab is used for indentation; YAML indents with spaces only")) << e.message;
}

// The parser's words ("end of map flow not found") say where it gave up, not what is wrong.
TEST_F(ConfigTest, SyntaxErrorsSayWhatIsWrong) {
  auto e = only_error("listeners:\n  - {name: a, port: 8080\nroutes: []\n");
  EXPECT_TRUE(contains(e.message, "'{' opened at 2:5 is never closed with '}'")) << e.message;
  EXPECT_TRUE(contains(e.message, "(YAML: end of map flow not found)")) << e.message;
  e = only_error("listeners: [ {name: a, port: 8080}\n");
  EXPECT_TRUE(contains(e.message, "'[' opened at 1:12 is never closed with ']'")) << e.message;
  e = only_error("listeners:\n  - {name: \"a{\", port: 8080\n");  // a quoted '{' does not count
  EXPECT_TRUE(contains(e.message, "'{' opened at 2:5 is never closed")) << e.message;
  e = only_error("listeners:\n  - name: a\n    port: 8080\nadmin:\n  key: abc: def\n");
  EXPECT_EQ(e.line, 5);
  EXPECT_TRUE(contains(e.message, "put the value in quotes")) << e.message;
}

TEST_F(ConfigTest, EmptyFileIsAnError) {
  auto e = only_error("");
  EXPECT_TRUE(contains(e.message, "empty"));
  EXPECT_EQ(only_error("# only a comment\n").message, e.message);
}

TEST_F(ConfigTest, DocumentMustBeAMap) {
  auto e = only_error("- name: a\n  port: 8080\n");
  EXPECT_CONFIG_ERROR(e, 1, 1, "", "expected a map");
}

// --- unknown keys ------------------------------------------------------------

TEST_F(ConfigTest, UnknownListenerKeyIsReportedAtTheKey) {
  auto e = only_error(yaml(R"(
listeners:
  - name: a
    port: 8080
    prot: 8081
)"));
  EXPECT_CONFIG_ERROR(e, 4, 5, "listeners[0].prot", "unknown key 'prot'");
  EXPECT_TRUE(contains(e.message, "port")) << "the message lists the expected keys: " << e.message;
  EXPECT_EQ(e.to_string(), "hermes.yaml:4:5: listeners[0].prot: " + e.message);
}

TEST_F(ConfigTest, UnknownTopLevelKey) {
  auto e = only_error(yaml(R"(
gateway:
  instance: gw-1
listener:
  - name: a
listeners:
  - name: a
    port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 3, 1, "listener", "unknown key 'listener'");
  EXPECT_TRUE(contains(e.message, "listeners"));
}

TEST_F(ConfigTest, UnknownNestedKeys) {
  write_file("c.pem", "CERT");
  write_file("k.pem", "KEY");
  auto r = load(yaml(R"(
gateway:
  instnace: gw-1
listeners:
  - name: a
    port: 8080
    tls: {cert: c.pem, key: k.pem, ca: ca.pem}
audit:
  retension: 30d
)"));
  EXPECT_EQ(r.errors.size(), 3u) << format_errors(r.errors);
  ASSERT_FALSE(r.ok());
  std::vector<std::string> paths;
  for (const auto& e : r.errors) {
    paths.push_back(e.path);
  }
  EXPECT_NE(std::find(paths.begin(), paths.end(), "gateway.instnace"), paths.end()) << format_errors(r.errors);
  EXPECT_NE(std::find(paths.begin(), paths.end(), "listeners[0].tls.ca"), paths.end()) << format_errors(r.errors);
  EXPECT_NE(std::find(paths.begin(), paths.end(), "audit.retension"), paths.end()) << format_errors(r.errors);
  for (const auto& e : r.errors) {
    if (e.path == "gateway.instnace") {
      EXPECT_CONFIG_ERROR(e, 2, 3, "gateway.instnace", "unknown key 'instnace'");
    }
    if (e.path == "audit.retension") {
      EXPECT_CONFIG_ERROR(e, 8, 3, "audit.retension", "unknown key 'retension'");
    }
  }
}

// --- wrong types -------------------------------------------------------------

TEST_F(ConfigTest, PortThatIsNotANumber) {
  auto e = only_error(yaml(R"(
listeners:
  - name: a
    port: abc
)"));
  EXPECT_CONFIG_ERROR(e, 3, 11, "listeners[0].port", "expected an integer, got 'abc'");
  EXPECT_EQ(e.to_string(), "hermes.yaml:3:11: listeners[0].port: expected an integer, got 'abc'");
}

TEST_F(ConfigTest, PortOutOfRange) {
  auto e = only_error(yaml(R"(
listeners:
  - name: a
    port: 70000
)"));
  EXPECT_CONFIG_ERROR(e, 3, 11, "listeners[0].port", "out of range");

  e = only_error(yaml(R"(
listeners:
  - name: a
    port: -1
)"));
  EXPECT_CONFIG_ERROR(e, 3, 11, "listeners[0].port", "out of range");

  e = only_error(yaml(R"(
listeners:
  - name: a
    port: 0
)"));
  EXPECT_CONFIG_ERROR(e, 3, 11, "listeners[0].port", "between 1 and 65535");

  e = only_error(yaml(R"(
listeners:
  - name: a
    port: 80.5
)"));
  EXPECT_CONFIG_ERROR(e, 3, 11, "listeners[0].port", "expected an integer");
}

TEST_F(ConfigTest, BooleanThatIsNotABoolean) {
  auto e = only_error(yaml(R"(
listeners:
  - name: a
    port: 8080
    admin: maybe
)"));
  EXPECT_CONFIG_ERROR(e, 4, 12, "listeners[0].admin", "expected true or false, got 'maybe'");
}

TEST_F(ConfigTest, IntegerGivenAsAList) {
  auto e = only_error(yaml(R"(
gateway:
  threads: [1]
listeners:
  - name: a
    port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 2, 12, "gateway.threads", "expected an integer, got a list");
}

TEST_F(ConfigTest, ThreadsOutOfBounds) {
  auto e = only_error(yaml(R"(
gateway:
  threads: 0
listeners:
  - name: a
    port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 2, 12, "gateway.threads", "between 1 and 256");
}

TEST_F(ConfigTest, SectionThatIsNotAMap) {
  auto e = only_error(yaml(R"(
gateway: fast
listeners:
  - name: a
    port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 1, 10, "gateway", "expected a map, got a scalar");
}

TEST_F(ConfigTest, ListenersThatAreNotAList) {
  auto e = only_error(yaml(R"(
listeners:
  name: a
  port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 2, 3, "listeners", "expected a list");
}

TEST_F(ConfigTest, ListenerThatIsNotAMapIsOneError) {
  // The element is reported once; it is not also missing its name and port.
  auto e = only_error("listeners: [8080]\n");
  EXPECT_CONFIG_ERROR(e, 1, 13, "listeners[0]", "expected a map, got a scalar");
}

TEST_F(ConfigTest, StringGivenAsAMap) {
  auto e = only_error(yaml(R"(
listeners:
  - name: {first: a}
    port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 2, 11, "listeners[0].name", "expected a string, got a map");
}

TEST_F(ConfigTest, InvalidEnumValue) {
  auto e = only_error(yaml(R"(
log:
  level: loud
listeners:
  - name: a
    port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 2, 10, "log.level", "invalid value 'loud'");
  EXPECT_TRUE(contains(e.message, "trace | debug | info | warn | error")) << e.message;

  e = only_error(yaml(R"(
listeners:
  - name: a
    port: 8080
audit:
  store_text: everything
)"));
  EXPECT_CONFIG_ERROR(e, 5, 15, "audit.store_text", "invalid value 'everything'");
}

TEST_F(ConfigTest, InvalidNames) {
  auto e = only_error(yaml(R"(
listeners:
  - name: Bad Name
    port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 2, 11, "listeners[0].name", "lower-case");

  e = only_error(yaml(R"(
gateway:
  instance: GW.1
listeners:
  - name: a
    port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 2, 13, "gateway.instance", "lower-case");
}

// --- missing keys ------------------------------------------------------------

TEST_F(ConfigTest, ListenerWithoutPort) {
  auto e = only_error(yaml(R"(
listeners:
  - name: a
    bind: lan
)"));
  EXPECT_CONFIG_ERROR(e, 2, 5, "listeners[0].port", "missing required key 'port'");
}

TEST_F(ConfigTest, ListenerWithoutName) {
  auto e = only_error(yaml(R"(
listeners:
  - bind: lan
    port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 2, 5, "listeners[0].name", "missing required key 'name'");
}

TEST_F(ConfigTest, ListenersWithoutPortsDoNotAlsoConflict) {
  // Two missing ports are two errors, not also "port 0 is already bound".
  auto r = load(yaml(R"(
listeners:
  - name: a
  - name: b
)"));
  ASSERT_EQ(r.errors.size(), 2u) << format_errors(r.errors);
  EXPECT_CONFIG_ERROR(r.errors[0], 2, 5, "listeners[0].port", "missing required key 'port'");
  EXPECT_CONFIG_ERROR(r.errors[1], 3, 5, "listeners[1].port", "missing required key 'port'");
}

TEST_F(ConfigTest, NoListeners) {
  auto e = only_error("gateway: {instance: gw-1}\n");
  EXPECT_EQ(e.path, "listeners");
  EXPECT_TRUE(contains(e.message, "at least one listener")) << e.to_string();

  e = only_error("listeners: []\n");
  EXPECT_CONFIG_ERROR(e, 1, 12, "listeners", "at least one listener");

  e = only_error("gateway: {instance: gw-1}\nlisteners:\naudit: {retention: 30d}\n");
  EXPECT_CONFIG_ERROR(e, 2, 1, "listeners", "at least one listener");
}

TEST_F(ConfigTest, AuditCheckpointIntervalMustBePositive) {
  EXPECT_EQ(load_ok(yaml(kMinimal)).audit.checkpoint_interval, Duration{1000});
  auto e = only_error(yaml(kMinimal) + "audit:\n  checkpoint_interval: 0s\n");
  EXPECT_TRUE(contains(e.message, "checkpoint_interval must be greater than zero")) << e.to_string();
  EXPECT_EQ(e.path, "audit.checkpoint_interval");
}

TEST_F(ConfigTest, TlsWithoutKey) {
  write_file("cert.pem", "CERT");
  auto e = only_error(yaml(R"(
listeners:
  - name: a
    port: 8443
    tls:
      cert: cert.pem
)"));
  EXPECT_CONFIG_ERROR(e, 5, 7, "listeners[0].tls.key", "missing required key 'key'");
}

// --- duplicates --------------------------------------------------------------

TEST_F(ConfigTest, DuplicateListenerNameIsReportedAtTheSecondOccurrence) {
  auto e = only_error(yaml(R"(
listeners:
  - name: a
    port: 8080
  - name: b
    port: 8081
  - name: a
    port: 8082
)"));
  EXPECT_CONFIG_ERROR(e, 6, 5, "listeners[2].name", "duplicate listener name 'a'");
  EXPECT_TRUE(contains(e.message, "line 2")) << "names the first definition: " << e.message;
}

TEST_F(ConfigTest, DuplicateMapKeyIsReportedAtTheSecondKey) {
  auto e = only_error(yaml(R"(
gateway:
  threads: 2
  threads: 4
listeners:
  - name: a
    port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 3, 3, "gateway.threads", "duplicate key 'threads'");
}

TEST_F(ConfigTest, DuplicateTopLevelSection) {
  auto e = only_error(yaml(R"(
listeners:
  - name: a
    port: 8080
listeners:
  - name: b
    port: 8081
)"));
  EXPECT_CONFIG_ERROR(e, 4, 1, "listeners", "duplicate key 'listeners'");
}

TEST_F(ConfigTest, DuplicateKeyInsideAListener) {
  auto e = only_error(yaml(R"(
listeners:
  - {name: a, port: 8080, port: 8081}
)"));
  EXPECT_CONFIG_ERROR(e, 2, 27, "listeners[0].port", "duplicate key 'port'");
}

TEST_F(ConfigTest, TwoListenersOnTheSamePort) {
  auto e = only_error(yaml(R"(
listeners:
  - name: a
    port: 8080
  - name: b
    bind: lan
    port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 6, 11, "listeners[1].port", "port 8080 is already bound by listener 'a'");
}

TEST_F(ConfigTest, TwoWildcardListenersOnTheSamePort) {
  auto e = only_error(yaml(R"(
listeners:
  - {name: a, bind: any, port: 8443}
  - {name: b, bind: lan, port: 8080}
  - {name: c, bind: 10.0.0.5, port: 8443}
)"));
  EXPECT_CONFIG_ERROR(e, 4, 37, "listeners[2].port", "already bound by listener 'a'");
}

// --- invalid values ----------------------------------------------------------

TEST_F(ConfigTest, InvalidDuration) {
  auto e = only_error(yaml(R"(
listeners:
  - name: a
    port: 8080
    header_timeout: 10
)"));
  EXPECT_CONFIG_ERROR(e, 4, 21, "listeners[0].header_timeout", "invalid duration '10'");

  e = only_error(yaml(R"(
listeners:
  - name: a
    port: 8080
    idle_timeout: 0
)"));
  EXPECT_CONFIG_ERROR(e, 4, 19, "listeners[0].idle_timeout", "greater than zero");

  e = only_error(yaml(R"(
listeners:
  - name: a
    port: 8080
audit:
  retention: forever
)"));
  EXPECT_CONFIG_ERROR(e, 5, 14, "audit.retention", "invalid duration 'forever'");
}

TEST_F(ConfigTest, InvalidSize) {
  auto e = only_error(yaml(R"(
listeners:
  - name: a
    port: 8080
    body_limit: 1.5B
)"));
  EXPECT_CONFIG_ERROR(e, 4, 17, "listeners[0].body_limit", "invalid size '1.5B'");
}

TEST_F(ConfigTest, InvalidCidr) {
  auto e = only_error(yaml(R"(
listeners:
  - name: a
    bind: lan
    port: 8080
    allow: [10.0.0.0/8, 10.0.0.0/33]
)"));
  EXPECT_CONFIG_ERROR(e, 5, 25, "listeners[0].allow[1]", "invalid CIDR '10.0.0.0/33'");

  e = only_error(yaml(R"(
listeners:
  - name: a
    port: 8080
    trusted_proxies:
      - proxy.local
)"));
  EXPECT_CONFIG_ERROR(e, 5, 9, "listeners[0].trusted_proxies[0]", "invalid CIDR 'proxy.local'");
}

TEST_F(ConfigTest, AllowGivenAsAScalar) {
  auto e = only_error(yaml(R"(
listeners:
  - name: a
    bind: lan
    port: 8080
    allow: 10.0.0.0/8
)"));
  EXPECT_CONFIG_ERROR(e, 5, 12, "listeners[0].allow", "expected a list");
}

TEST_F(ConfigTest, EmptyAllowListRefusesEveryPeer) {
  auto e = only_error(yaml(R"(
listeners:
  - name: a
    bind: lan
    port: 8080
    allow: []
)"));
  EXPECT_CONFIG_ERROR(e, 5, 12, "listeners[0].allow", "allow: is empty");
}

TEST_F(ConfigTest, InvalidBind) {
  auto e = only_error(yaml(R"(
listeners:
  - name: a
    bind: lna
    port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 3, 11, "listeners[0].bind", "invalid bind 'lna'");

  e = only_error(yaml(R"(
listeners:
  - name: a
    bind: 10.0.0.300
    port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 3, 11, "listeners[0].bind", "invalid bind '10.0.0.300'");
}

TEST_F(ConfigTest, ServerNamesAndThePerPeerCap) {
  const Config& cfg = load_ok(yaml(R"(
listeners:
  - {name: a, port: 8080}
  - {name: b, bind: lan, port: 8081, server_names: [Gateway.Corp.Example., "10.0.0.5", "fd00::1"]}
  - {name: c, bind: any, port: 8082, max_connections_per_peer: 0}
  - {name: d, bind: 127.0.0.1, port: 8083, max_connections_per_peer: 8}
)"));
  const auto& a = cfg.listeners[0];
  EXPECT_EQ(a.max_connections_per_peer, 0u) << "loopback peers are this host: no cap by default";
  EXPECT_TRUE(a.checks_host()) << "a loopback listener always checks Host";
  EXPECT_EQ(a.host_names(), (std::vector<std::string>{"localhost", "127.0.0.1", "[::1]"}));
  const auto& b = cfg.listeners[1];
  EXPECT_EQ(b.max_connections_per_peer, 256u);
  EXPECT_TRUE(b.checks_host());
  EXPECT_EQ(b.server_names, (std::vector<std::string>{"gateway.corp.example", "10.0.0.5", "[fd00::1]"}));
  EXPECT_FALSE(cfg.listeners[2].checks_host()) << "no server_names off loopback: every Host is answered";
  EXPECT_EQ(cfg.listeners[2].max_connections_per_peer, 0u);
  EXPECT_EQ(cfg.listeners[3].max_connections_per_peer, 8u);
  EXPECT_TRUE(cfg.listeners[3].checks_host());

  auto e = only_error(yaml(R"(
listeners:
  - {name: a, bind: lan, port: 8080, server_names: [ok.example, "https://gw.example:8443"]}
)"));
  EXPECT_CONFIG_ERROR(e, 2, 65, "listeners[0].server_names[1]", "is not a host name or IP address");
}

TEST_F(ConfigTest, TlsFilesMustBeReadable) {
  write_file("tls/key.pem", "KEY");
  auto e = only_error(yaml(R"(
listeners:
  - name: a
    port: 8443
    tls:
      cert: tls/missing.pem
      key: tls/key.pem
)"));
  EXPECT_CONFIG_ERROR(e, 5, 13, "listeners[0].tls.cert", "cannot read file");
  EXPECT_TRUE(contains(e.message, (dir_ / "tls/missing.pem").string())) << e.message;
}

TEST_F(ConfigTest, TlsFileThatIsADirectoryIsNotReadable) {
  write_file("tls/key.pem", "KEY");
  fs::create_directories(dir_ / "tls/cert.pem");
  auto e = only_error(yaml(R"(
listeners:
  - name: a
    port: 8443
    tls: {cert: tls/cert.pem, key: tls/key.pem}
)"));
  EXPECT_CONFIG_ERROR(e, 4, 17, "listeners[0].tls.cert", "cannot read file");
}

// --- all errors in one pass --------------------------------------------------

TEST_F(ConfigTest, ReportsEveryErrorInOnePass) {
  auto r = load(yaml(R"(
gateway:
  threads: many
listeners:
  - name: a
    port: 8080
    bind: lna
audit:
  retention: forever
)"));
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 3u) << format_errors(r.errors);
  EXPECT_CONFIG_ERROR(r.errors[0], 2, 12, "gateway.threads", "expected an integer");
  EXPECT_CONFIG_ERROR(r.errors[1], 6, 11, "listeners[0].bind", "invalid bind");
  EXPECT_CONFIG_ERROR(r.errors[2], 8, 14, "audit.retention", "invalid duration");
  EXPECT_EQ(format_errors(r.errors),
            r.errors[0].to_string() + "\n" + r.errors[1].to_string() + "\n" + r.errors[2].to_string() + "\n");
}

TEST_F(ConfigTest, EmptyAllowListIsReportedAlongsideOtherErrors) {
  auto r = load(yaml(R"(
gateway:
  threads: many
listeners:
  - name: a
    bind: lan
    port: 8080
    allow: []
)"));
  ASSERT_EQ(r.errors.size(), 2u) << format_errors(r.errors);
  EXPECT_CONFIG_ERROR(r.errors[0], 2, 12, "gateway.threads", "expected an integer");
  EXPECT_CONFIG_ERROR(r.errors[1], 7, 12, "listeners[0].allow", "allow: is empty");
}

TEST_F(ConfigTest, MissingListenersAreReportedAlongsideOtherErrors) {
  auto r = load(yaml(R"(
gateway:
  threads: many
)"));
  ASSERT_EQ(r.errors.size(), 2u) << format_errors(r.errors);
  // Errors come sorted by place; the missing section is reported at the document.
  EXPECT_EQ(r.errors[0].path, "listeners");
  EXPECT_TRUE(contains(r.errors[0].message, "at least one listener")) << r.errors[0].to_string();
  EXPECT_CONFIG_ERROR(r.errors[1], 2, 12, "gateway.threads", "expected an integer");
}

TEST_F(ConfigTest, ErrorsAreSortedByPlace) {
  // The audit section is read after the listeners, but its error comes first in the file.
  auto r = load(yaml(R"(
audit:
  retention: forever
listeners:
  - name: a
    port: abc
)"));
  ASSERT_EQ(r.errors.size(), 2u) << format_errors(r.errors);
  EXPECT_CONFIG_ERROR(r.errors[0], 2, 14, "audit.retention", "invalid duration");
  EXPECT_CONFIG_ERROR(r.errors[1], 5, 11, "listeners[0].port", "expected an integer");
}

// --- secrets -----------------------------------------------------------------

TEST_F(ConfigTest, EnvSecretResolvedThroughTheInjectedEnvironment) {
  env_vars_["ADMIN_KEY"] = "s3cret-from-env";
  const Config& cfg = load_ok(yaml(R"(
admin:
  key: "${env:ADMIN_KEY}"
listeners:
  - name: a
    port: 8080
)"));
  EXPECT_EQ(cfg.admin.key.reveal(), "s3cret-from-env");
  EXPECT_EQ(cfg.admin.key.source(), "env:ADMIN_KEY");
  EXPECT_TRUE(cfg.admin.key.equals("s3cret-from-env"));
  EXPECT_FALSE(cfg.admin.key.equals("s3cret-from-en"));
}

TEST_F(ConfigTest, ProcessEnvironmentIsNeverConsulted) {
  // PATH is set in practically every process environment, but not in the injected one.
  auto e = only_error(yaml(R"(
admin:
  key: "${env:PATH}"
listeners:
  - name: a
    port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 2, 8, "admin.key", "PATH");
}

TEST_F(ConfigTest, MissingEnvVariableNamesItAndTheKeyPath) {
  env_vars_["OTHER_KEY"] = "other-secret-value";
  auto e = only_error(yaml(R"(
admin:
  key: "${env:ADMIN_KEY}"
listeners:
  - name: a
    port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 2, 8, "admin.key", "ADMIN_KEY");
  EXPECT_TRUE(contains(e.to_string(), "hermes.yaml:2:8: admin.key: ")) << e.to_string();
  EXPECT_FALSE(contains(e.to_string(), "other-secret-value"));
}

TEST_F(ConfigTest, EmptyEnvVariableIsAnError) {
  env_vars_["ADMIN_KEY"] = "";
  auto e = only_error(yaml(R"(
admin:
  key: "${env:ADMIN_KEY}"
listeners:
  - name: a
    port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 2, 8, "admin.key", "ADMIN_KEY");
}

TEST_F(ConfigTest, FileSecretRelativeToBaseDir) {
  auto p = write_file("secrets/admin.txt", "s3cret-from-file\n");
  const Config& cfg = load_ok(yaml(R"(
admin:
  key: "${file:secrets/admin.txt}"
listeners:
  - name: a
    port: 8080
)"));
  EXPECT_EQ(cfg.admin.key.reveal(), "s3cret-from-file") << "the trailing newline is not part of the secret";
  EXPECT_EQ(cfg.admin.key.source(), "file:" + p.string());
}

// An inline secret is legal (the demo needs none) but named, so it is not left by accident.
TEST_F(ConfigTest, InlineSecretsAreLoadedWithAWarning) {
  auto result = load(yaml(kMinimal) + "admin:\n  key: hunter2-inline\n");
  ASSERT_TRUE(result.ok()) << format_errors(result.errors);
  EXPECT_EQ(result.config->admin.key.reveal(), "hunter2-inline");
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_EQ(result.warnings[0].line, 5);
  EXPECT_EQ(result.warnings[0].path, "admin.key");
  EXPECT_TRUE(contains(result.warnings[0].message, "warning: an inline secret")) << result.warnings[0].message;
  EXPECT_FALSE(contains(result.warnings[0].to_string(), "hunter2")) << "the warning never shows the secret";
  env_vars_["IT_ADMIN"] = "from-env";
  EXPECT_TRUE(load(yaml(kMinimal) + "admin:\n  key: \"${env:IT_ADMIN}\"\n").warnings.empty());
}

TEST_F(ConfigTest, FileSecretAbsolutePath) {
  auto p = write_file("abs/chain.key", "chain\r\n");
  const Config& cfg = load_ok(yaml(kMinimal) + "audit:\n  chain_key: \"${file:" + p.string() + "}\"\n");
  EXPECT_EQ(cfg.audit.chain_key.reveal(), "chain");
}

// The review froze /healthz with a FIFO as a secret file (read on the event loop by a
// reload): only regular files of at most 64 KiB are read, whoever loads them.
TEST_F(ConfigTest, SecretFilesMustBeSmallRegularFiles) {
  auto fifo = write_file("secrets/placeholder", "x").parent_path() / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto e = only_error(yaml(kMinimal) + "admin:\n  key: \"${file:" + fifo.string() + "}\"\n");
  EXPECT_NE(e.message.find("is not a regular file"), std::string::npos) << e.message;
  auto big = write_file("secrets/big.key", std::string(64 * 1024 + 1, 'k'));
  e = only_error(yaml(kMinimal) + "admin:\n  key: \"${file:" + big.string() + "}\"\n");
  EXPECT_NE(e.message.find("is larger than 64 KiB"), std::string::npos) << e.message;
  auto dir = big.parent_path();
  e = only_error(yaml(kMinimal) + "admin:\n  key: \"${file:" + dir.string() + "}\"\n");
  EXPECT_NE(e.message.find("is not a regular file"), std::string::npos) << e.message;
  auto fits = write_file("secrets/fits.key", std::string(64 * 1024, 'k'));
  const Config& cfg = load_ok(yaml(kMinimal) + "admin:\n  key: \"${file:" + fits.string() + "}\"\n");
  EXPECT_EQ(cfg.admin.key.reveal().size(), 64u * 1024);
}

TEST_F(ConfigTest, MissingOrEmptySecretFile) {
  auto e = only_error(yaml(R"(
admin:
  key: "${file:secrets/nope.txt}"
listeners:
  - name: a
    port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 2, 8, "admin.key", "cannot read secret file");

  write_file("secrets/empty.txt", "\n");
  e = only_error(yaml(R"(
admin:
  key: "${file:secrets/empty.txt}"
listeners:
  - name: a
    port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 2, 8, "admin.key", "is empty");
}

TEST_F(ConfigTest, CredentialSecretFromCredentialsDirectory) {
  write_file("creds/admin", "s3cret-credential");
  env_vars_["CREDENTIALS_DIRECTORY"] = (dir_ / "creds").string();
  const Config& cfg = load_ok(yaml(R"(
admin:
  key: "${credential:admin}"
listeners:
  - name: a
    port: 8080
)"));
  EXPECT_EQ(cfg.admin.key.reveal(), "s3cret-credential");
  EXPECT_EQ(cfg.admin.key.source(), "credential:admin");
}

TEST_F(ConfigTest, CredentialWithoutCredentialsDirectory) {
  auto e = only_error(yaml(R"(
admin:
  key: "${credential:admin}"
listeners:
  - name: a
    port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 2, 8, "admin.key", "CREDENTIALS_DIRECTORY");
}

TEST_F(ConfigTest, MissingCredential) {
  fs::create_directories(dir_ / "creds");
  env_vars_["CREDENTIALS_DIRECTORY"] = (dir_ / "creds").string();
  auto e = only_error(yaml(R"(
admin:
  key: "${credential:admin}"
listeners:
  - name: a
    port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 2, 8, "admin.key", "credential admin is missing or empty");
}

TEST_F(ConfigTest, CredentialNameCannotEscapeTheDirectory) {
  write_file("creds/../outside", "outside");
  env_vars_["CREDENTIALS_DIRECTORY"] = (dir_ / "creds").string();
  auto e = only_error(yaml(R"(
admin:
  key: "${credential:../outside}"
listeners:
  - name: a
    port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 2, 8, "admin.key", "not a plain file name");
}

TEST_F(ConfigTest, UnknownSecretScheme) {
  auto e = only_error(yaml(R"(
admin:
  key: "${vault:admin}"
listeners:
  - name: a
    port: 8080
)"));
  EXPECT_CONFIG_ERROR(e, 2, 8, "admin.key", "unknown secret reference scheme 'vault'");
}

TEST_F(ConfigTest, MalformedSecretReferences) {
  for (const char* ref : {"${env:ADMIN_KEY", "${ADMIN_KEY}", "${env:}"}) {
    auto e = only_error(yaml(R"(
admin:
  key: ")") + ref + "\"\nlisteners:\n  - name: a\n    port: 8080\n");
    EXPECT_CONFIG_ERROR(e, 2, 8, "admin.key", "secret reference");
  }
}

TEST_F(ConfigTest, InlineSecretIsTakenLiterally) {
  const Config& cfg = load_ok(yaml(R"(
admin:
  key: plain-admin-key
listeners:
  - name: a
    port: 8080
)"));
  EXPECT_EQ(cfg.admin.key.reveal(), "plain-admin-key");
  EXPECT_EQ(cfg.admin.key.source(), "inline");
}

TEST_F(ConfigTest, ErrorsNeverContainResolvedSecretValues) {
  // Secrets that do resolve sit beside ones that do not and beside other errors;
  // no error text may carry a resolved value.
  env_vars_["CHAIN_KEY"] = "chain-VALUE-7f3a";
  env_vars_["CREDENTIALS_DIRECTORY"] = (dir_ / "creds").string();
  write_file("creds/admin", "credential-VALUE-91bc");
  write_file("secrets/file.key", "file-VALUE-55de");
  auto r = load(yaml(R"(
admin:
  key: "${credential:admin}"
  extra: "${file:secrets/file.key}"
listeners:
  - name: a
    port: 8080
    tls: {cert: "${env:CHAIN_KEY}", key: "${file:secrets/file.key}"}
audit:
  chain_key: "${env:CHAIN_KEY}"
  synchronous: "${credential:admin}"
  queue_capacity: 1
)"));
  ASSERT_FALSE(r.ok());
  EXPECT_GE(r.errors.size(), 4u) << format_errors(r.errors);
  std::string all = format_errors(r.errors);
  for (const char* value : {"chain-VALUE-7f3a", "credential-VALUE-91bc", "file-VALUE-55de"}) {
    EXPECT_FALSE(contains(all, value)) << "leaked " << value << " in:\n" << all;
  }
}

TEST_F(ConfigTest, SecretErrorStringsDoNotContainTheValue) {
  // The env var exists with a value, but the reference names the wrong variable.
  env_vars_["ADMIN_KEY_OLD"] = "old-admin-VALUE-0042";
  env_vars_["ADMIN_KEY"] = "";
  auto e = only_error(yaml(R"(
admin:
  key: "${env:ADMIN_KEY}"
listeners:
  - name: a
    port: 8080
)"));
  EXPECT_FALSE(contains(e.to_string(), "old-admin-VALUE-0042"));
  EXPECT_FALSE(contains(e.message, "VALUE"));
}

// --- Secret cannot be printed by accident -------------------------------------

template <class T>
concept Streamable = requires(std::ostream& os, const T& t) { os << t; };

static_assert(!Streamable<Secret>, "a Secret must not be printable with <<");
static_assert(!fmt::is_formattable<Secret>::value, "a Secret must not be formattable (fmt, spdlog)");
static_assert(!std::is_convertible_v<Secret, std::string>, "a Secret must not convert to a string");
static_assert(!std::is_convertible_v<Secret, std::string_view>, "a Secret must not convert to a string_view");
static_assert(!std::is_convertible_v<Secret, const char*>, "a Secret must not convert to a C string");

TEST(Secret, OnlyRevealShowsTheValue) {
  Secret s("hunter2", "env:ADMIN_KEY");
  EXPECT_EQ(s.reveal(), "hunter2");
  EXPECT_EQ(s.source(), "env:ADMIN_KEY");
  EXPECT_FALSE(contains(s.source(), "hunter2"));
  EXPECT_FALSE(s.empty());
  EXPECT_TRUE(s.equals("hunter2"));
  EXPECT_FALSE(s.equals("hunter"));
  EXPECT_FALSE(s.equals("hunter22"));
  EXPECT_FALSE(s.equals(""));
}

TEST(Secret, EmptySecretEqualsNothing) {
  Secret s;
  EXPECT_TRUE(s.empty());
  EXPECT_FALSE(s.equals("")) << "an unset admin key must never match an empty bearer token";
  EXPECT_FALSE(s.equals("x"));
}

TEST(Secret, ConstantTimeEquals) {
  EXPECT_TRUE(constant_time_equals("abc", "abc"));
  EXPECT_TRUE(constant_time_equals("", ""));
  EXPECT_FALSE(constant_time_equals("abc", "abd"));
  EXPECT_FALSE(constant_time_equals("abc", "abcd"));
  EXPECT_FALSE(constant_time_equals(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

TEST(ResolveSecret, ErrorsNameTheReferenceButNeverAValue) {
  SecretEnvironment env;
  env.getenv = [](const std::string& name) -> std::optional<std::string> {
    if (name == "CREDENTIALS_DIRECTORY") {
      return "/nonexistent-hermes-creds";
    }
    return std::string("VALUE-OF-") + name;
  };
  env.base_dir = "/nonexistent-hermes-dir";
  for (const char* ref : {"${file:missing.key}", "${credential:admin}", "${vault:admin}", "${env:}", "${env:X",
                          "${credential:../x}"}) {
    auto r = resolve_secret(ref, env);
    EXPECT_FALSE(r.secret.has_value()) << ref;
    EXPECT_FALSE(r.error.empty()) << ref;
    EXPECT_FALSE(contains(r.error, "VALUE-OF-")) << ref << ": " << r.error;
  }
  auto ok = resolve_secret("${env:ADMIN_KEY}", env);
  ASSERT_TRUE(ok.secret.has_value());
  EXPECT_EQ(ok.secret->reveal(), "VALUE-OF-ADMIN_KEY");
  EXPECT_TRUE(ok.error.empty());
}

TEST(ResolveSecret, WithoutGetenvEveryEnvReferenceIsMissing) {
  SecretEnvironment env;  // no getenv function at all
  auto r = resolve_secret("${env:HOME}", env);
  EXPECT_FALSE(r.secret.has_value());
  EXPECT_TRUE(contains(r.error, "HOME"));
}

// --- admission ---------------------------------------------------------------

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

TEST(ListenerAdmits, LanDefaultsToPrivateNetworks) {
  ListenerConfig l;
  l.bind = BindMode::lan;
  for (const char* peer : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "169.254.1.1", "::1",
                           "fd12::1", "fe80::1", "::ffff:192.168.1.1"}) {
    EXPECT_TRUE(l.admits(ip(peer))) << peer;
  }
  for (const char* peer : {"8.8.8.8", "203.0.113.5", "172.32.0.1", "100.128.0.1", "2001:db8::1", "::ffff:8.8.8.8"}) {
    EXPECT_FALSE(l.admits(ip(peer))) << peer;
  }
}

TEST(ListenerAdmits, AllowListIsExact) {
  ListenerConfig l;
  l.bind = BindMode::lan;
  l.allow = {*Cidr::parse("10.1.0.0/16"), *Cidr::parse("fd00::/8")};
  EXPECT_TRUE(l.admits(ip("10.1.2.3")));
  EXPECT_TRUE(l.admits(ip("::ffff:10.1.2.3")));
  EXPECT_TRUE(l.admits(ip("fd00::5")));
  EXPECT_FALSE(l.admits(ip("10.2.0.1"))) << "private, but not in the allow list";
  EXPECT_FALSE(l.admits(ip("127.0.0.1"))) << "not even loopback is implied";
  EXPECT_FALSE(l.admits(ip("192.168.1.1")));
  EXPECT_FALSE(l.admits(ip("8.8.8.8")));

  l.bind = BindMode::any;
  EXPECT_FALSE(l.admits(ip("8.8.8.8"))) << "allow applies to every bind mode";
  EXPECT_TRUE(l.admits(ip("10.1.2.3")));
}

TEST(ListenerAdmits, LoopbackAnyAndAddressAdmitEveryone) {
  for (auto mode : {BindMode::loopback, BindMode::any, BindMode::address}) {
    ListenerConfig l;
    l.bind = mode;
    for (const char* peer : {"127.0.0.1", "10.1.2.3", "8.8.8.8", "2001:db8::1", "::1"}) {
      EXPECT_TRUE(l.admits(ip(peer))) << peer << " mode " << static_cast<int>(mode);
    }
  }
}

TEST_F(ConfigTest, LoadedListenersAdmitAsConfigured) {
  const Config& cfg = load_ok(yaml(R"(
listeners:
  - {name: lan, bind: lan, port: 8080}
  - {name: office, bind: lan, port: 8081, allow: [192.168.7.0/24]}
  - {name: public, bind: any, port: 8443}
)"));
  EXPECT_TRUE(cfg.find_listener("lan")->admits(ip("192.168.1.1")));
  EXPECT_FALSE(cfg.find_listener("lan")->admits(ip("8.8.8.8")));
  EXPECT_TRUE(cfg.find_listener("office")->admits(ip("192.168.7.200")));
  EXPECT_FALSE(cfg.find_listener("office")->admits(ip("192.168.1.1")));
  EXPECT_TRUE(cfg.find_listener("public")->admits(ip("8.8.8.8")));
}

// --- reload ------------------------------------------------------------------

class RestartRequiredTest : public ConfigTest {
 protected:
  std::vector<std::string> changes(std::string_view before, std::string_view after) {
    const Config& a = load_ok(yaml(before));
    const Config& b = load_ok(yaml(after));
    return restart_required_changes(a, b);
  }

  static std::string join(const std::vector<std::string>& list) {
    std::string out;
    for (const auto& item : list) {
      out += item + "; ";
    }
    return out;
  }

  static bool has(const std::vector<std::string>& list, std::string_view item) {
    return std::find(list.begin(), list.end(), item) != list.end();
  }
};

const char* const kReloadBase = R"(
gateway:
  instance: gw-1
  data_dir: /srv/a
  threads: 2
log:
  level: info
admin:
  key: first-key
listeners:
  - name: lan
    bind: lan
    port: 8080
    allow: [10.0.0.0/8]
  - name: local
    port: 9090
audit:
  path: audit.db
)";

std::string replace(std::string text, std::string_view from, std::string_view to) {
  auto pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

TEST_F(RestartRequiredTest, IdenticalConfigNeedsNoRestart) {
  EXPECT_TRUE(changes(kReloadBase, kReloadBase).empty());
}

TEST_F(RestartRequiredTest, LiveChangesNeedNoRestart) {
  std::string next = replace(kReloadBase, "key: first-key", "key: second-key");
  next = replace(next, "allow: [10.0.0.0/8]", "allow: [10.0.0.0/8, 192.168.0.0/16]");
  next = replace(next, "level: info", "level: debug");
  auto list = changes(kReloadBase, next);
  EXPECT_TRUE(list.empty()) << join(list);
}

TEST_F(RestartRequiredTest, AdminKeyChangeAloneIsLive) {
  auto list = changes(kReloadBase, replace(kReloadBase, "key: first-key", "key: second-key"));
  EXPECT_TRUE(list.empty()) << join(list);
}

TEST_F(RestartRequiredTest, AllowListChangeAloneIsLive) {
  auto list = changes(kReloadBase, replace(kReloadBase, "allow: [10.0.0.0/8]", "allow: [172.16.0.0/12]"));
  EXPECT_TRUE(list.empty()) << join(list);
}

TEST_F(RestartRequiredTest, LogLevelChangeAloneIsLive) {
  auto list = changes(kReloadBase, replace(kReloadBase, "level: info", "level: warn"));
  EXPECT_TRUE(list.empty()) << join(list);
}

TEST_F(RestartRequiredTest, UpstreamIdleConnections) {
  auto list = changes(kReloadBase, replace(kReloadBase, "threads: 2", "threads: 2\n  upstream_idle_connections: 16"));
  ASSERT_EQ(list.size(), 1u) << join(list);
  EXPECT_EQ(list[0], "gateway.upstream_idle_connections");
}

TEST_F(RestartRequiredTest, PortChange) {
  auto list = changes(kReloadBase, replace(kReloadBase, "port: 8080", "port: 8081"));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0], "listeners.lan.bind/port");
}

TEST_F(RestartRequiredTest, ProtocolChange) {
  auto list = changes(kReloadBase, replace(kReloadBase, "port: 9090", "port: 9090\n    protocol: lmtp"));
  EXPECT_TRUE(has(list, "listeners.local.protocol")) << join(list);
}

TEST_F(RestartRequiredTest, BindChange) {
  auto list = changes(kReloadBase, replace(kReloadBase, "bind: lan", "bind: any"));
  EXPECT_TRUE(has(list, "listeners.lan.bind/port"));
}

TEST_F(RestartRequiredTest, ListenerAdded) {
  std::string next = replace(kReloadBase, "audit:", "  - {name: extra, port: 9091}\naudit:");
  auto list = changes(kReloadBase, next);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0], "listeners.extra (added)");
}

TEST_F(RestartRequiredTest, ListenerRemoved) {
  std::string next = replace(kReloadBase, "  - name: local\n    port: 9090\n", "");
  auto list = changes(kReloadBase, next);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0], "listeners.local (removed)");
}

TEST_F(RestartRequiredTest, ThreadsChange) {
  auto list = changes(kReloadBase, replace(kReloadBase, "threads: 2", "threads: 3"));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0], "gateway.threads");
}

TEST_F(RestartRequiredTest, DataDirChange) {
  auto list = changes(kReloadBase, replace(kReloadBase, "data_dir: /srv/a", "data_dir: /srv/b"));
  EXPECT_TRUE(has(list, "gateway.data_dir"));
  // The audit database lives inside data_dir, so it moves too.
  EXPECT_TRUE(has(list, "audit.path"));
}

TEST_F(RestartRequiredTest, AuditPathChange) {
  auto list = changes(kReloadBase, replace(kReloadBase, "path: audit.db", "path: other.db"));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0], "audit.path");
}

TEST_F(RestartRequiredTest, TlsEnabled) {
  write_file("cert.pem", "CERT");
  write_file("key.pem", "KEY");
  auto list = changes(kReloadBase, replace(kReloadBase, "port: 9090", "port: 9090\n    tls: {cert: cert.pem, key: key.pem}"));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0], "listeners.local.tls (enabled or disabled)");
}

// --- the reader, for extension factories -------------------------------------

TEST(ConfigReader, SignedIntegersAcceptNegativeValues) {
  ParseContext ctx("x.yaml", SecretEnvironment{});
  YAML::Node node = YAML::Load("-5");
  EXPECT_EQ(convert<std::int64_t>(node, "offset", ctx), std::int64_t{-5}) << format_errors(ctx.errors());
  node = YAML::Load("-9223372036854775808");
  EXPECT_EQ(convert<std::int64_t>(node, "offset", ctx), std::numeric_limits<std::int64_t>::min())
      << format_errors(ctx.errors());
  node = YAML::Load("9223372036854775807");
  EXPECT_EQ(convert<std::int64_t>(node, "offset", ctx), std::numeric_limits<std::int64_t>::max())
      << format_errors(ctx.errors());
  EXPECT_TRUE(ctx.errors().empty()) << format_errors(ctx.errors());
}

TEST(ConfigReader, UnsignedIntegersRejectNegativeAndOversizedValues) {
  ParseContext ctx("x.yaml", SecretEnvironment{});
  EXPECT_EQ(convert<std::uint32_t>(YAML::Load("-1"), "n", ctx), std::nullopt);
  EXPECT_EQ(convert<std::uint32_t>(YAML::Load("4294967296"), "n", ctx), std::nullopt);
  EXPECT_EQ(convert<std::uint32_t>(YAML::Load("4294967295"), "n", ctx), std::uint32_t{4294967295u});
  EXPECT_EQ(convert<std::uint16_t>(YAML::Load("65535"), "n", ctx), std::uint16_t{65535});
  EXPECT_EQ(ctx.errors().size(), 2u) << format_errors(ctx.errors());
}

TEST(ConfigReader, ConvertsUnitsAndAddresses) {
  ParseContext ctx("x.yaml", SecretEnvironment{});
  EXPECT_EQ(convert<Rate>(YAML::Load("20/min"), "r", ctx), (Rate{20, Duration{60'000}}));
  EXPECT_EQ(convert<Rate>(YAML::Load("20"), "r", ctx), std::nullopt);
  EXPECT_EQ(convert<IpAddress>(YAML::Load("10.0.0.1"), "a", ctx), IpAddress::parse("10.0.0.1"));
  EXPECT_EQ(convert<IpAddress>(YAML::Load("nope"), "a", ctx), std::nullopt);
  auto names = convert<std::vector<std::string>>(YAML::Load("[a, b]"), "n", ctx);
  ASSERT_TRUE(names.has_value());
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(ctx.errors().size(), 2u) << format_errors(ctx.errors());
  EXPECT_EQ(ctx.errors()[0].path, "r");
  EXPECT_TRUE(contains(ctx.errors()[0].message, "invalid rate '20'"));
  EXPECT_EQ(ctx.errors()[1].path, "a");
}

TEST(ConfigReader, PathHelpers) {
  EXPECT_EQ(join_path("", "gateway"), "gateway");
  EXPECT_EQ(join_path("listeners[1]", "port"), "listeners[1].port");
  EXPECT_EQ(index_path("listeners", 1), "listeners[1]");
}

// --- error formatting --------------------------------------------------------

TEST(ConfigErrorFormat, FileLineColumnPathMessage) {
  ConfigError e{"/etc/hermes/hermes.yaml", 12, 7, "listeners[1].port", "expected an integer, got 'abc'"};
  EXPECT_EQ(e.to_string(), "/etc/hermes/hermes.yaml:12:7: listeners[1].port: expected an integer, got 'abc'");
}

TEST(ConfigErrorFormat, WithoutPlaceOrPath) {
  EXPECT_EQ((ConfigError{"h.yaml", 0, 0, "listeners", "at least one listener is required"}).to_string(),
            "h.yaml: listeners: at least one listener is required");
  EXPECT_EQ((ConfigError{"h.yaml", 3, 1, "", "unknown token"}).to_string(), "h.yaml:3:1: unknown token");
  EXPECT_EQ(format_errors({}), "");
}

}  // namespace
}  // namespace hermes::config
