// SIGHUP reload (good, invalid, restart-only), SIGTERM drain and sd_notify datagrams.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>

#include "harness.hpp"

namespace hermes::test {
namespace {

std::string config_with(const std::string& extra_listener_keys, const std::string& log_level = "info") {
  return R"(
gateway: {instance: it-signals, data_dir: "${DATA}", threads: 2, drain_timeout: 3s}
log: {level: )" + log_level + R"(}
listeners:
  - {name: main, bind: loopback, port: ${PORT0})" + extra_listener_keys + R"(}
)";
}

std::string config_sha(std::uint16_t port) {
  return nlohmann::json::parse(http_get(port, "/status").body)["config"]["sha256"];
}

TEST(Reload, GoodFileIsAppliedAndRecorded) {
  Daemon d(config_with(""));
  ASSERT_TRUE(d.start()) << d.log();
  auto before = config_sha(d.port());
  d.rewrite_config(config_with(", max_connections: 100", "debug"));
  d.signal(SIGHUP);
  ASSERT_TRUE(d.wait_notify("RELOADING=1"));
  ASSERT_TRUE(d.wait_notify("READY=1"));
  EXPECT_NE(config_sha(d.port()), before);
  auto status = nlohmann::json::parse(http_get(d.port(), "/status").body);
  EXPECT_EQ(status["listeners"][0]["max_connections"], 100);
  auto metrics = http_get(d.port(), "/metrics").body;
  EXPECT_EQ(metric_value(metrics, R"(hermes_config_reloads_total{result="applied"})"), 1);
  auto rows = d.audit_events("config.reload");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["decision"], "applied");
  EXPECT_EQ(rows[0]["detail"]["sha256"], config_sha(d.port()));
  EXPECT_EQ(rows[0]["detail"]["previous_sha256"], before);
}

TEST(Reload, InvalidFileKeepsTheRunningConfig) {
  Daemon d(config_with(""));
  ASSERT_TRUE(d.start()) << d.log();
  auto before = config_sha(d.port());
  d.rewrite_config(config_with(", port: 1"));  // duplicate key
  d.signal(SIGHUP);
  ASSERT_TRUE(d.wait_notify("RELOADING=1"));
  ASSERT_TRUE(d.wait_notify("READY=1"));
  EXPECT_EQ(http_get(d.port(), "/healthz").status, 200);
  EXPECT_EQ(config_sha(d.port()), before);
  auto metrics = http_get(d.port(), "/metrics").body;
  EXPECT_EQ(metric_value(metrics, R"(hermes_config_reloads_total{result="invalid_config"})"), 1);
  EXPECT_NE(d.log().find("reload refused:"), std::string::npos);
  EXPECT_NE(d.log().find("duplicate key 'port'"), std::string::npos) << d.log();
  auto rows = d.audit_events("config.reload");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["decision"], "refused");
  EXPECT_EQ(rows[0]["status"], "invalid_config");
  EXPECT_NE(rows[0]["detail"]["errors"][0].get<std::string>().find("duplicate key 'port'"), std::string::npos);
}

TEST(Reload, RestartOnlyChangeIsRefused) {
  Daemon d(config_with(""));
  ASSERT_TRUE(d.start()) << d.log();
  auto before = config_sha(d.port());
  d.rewrite_config(R"(
gateway: {instance: it-signals, data_dir: "${DATA}", threads: 2, drain_timeout: 3s}
listeners:
  - {name: main, bind: loopback, port: ${PORT1}}
)");
  d.signal(SIGHUP);
  ASSERT_TRUE(d.wait_notify("READY=1"));
  EXPECT_EQ(http_get(d.port(0), "/healthz").status, 200) << "still serving on the old port";
  EXPECT_EQ(http_get(d.port(1), "/healthz").status, 0) << "the new port is not bound";
  EXPECT_EQ(config_sha(d.port()), before);
  EXPECT_NE(d.log().find("listeners.main.bind/port changed; this needs a restart"), std::string::npos) << d.log();
  auto metrics = http_get(d.port(), "/metrics").body;
  EXPECT_EQ(metric_value(metrics, R"(hermes_config_reloads_total{result="restart_required"})"), 1);
  auto rows = d.audit_events("config.reload");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["status"], "restart_required");
  EXPECT_EQ(rows[0]["detail"]["changes"][0], "listeners.main.bind/port");
}

TEST(Shutdown, SigtermDrainsAnInFlightRequestThenExitsZero) {
  Daemon d(config_with(""));
  ASSERT_TRUE(d.start()) << d.log();
  RawConnection busy(d.port());
  RawConnection idle(d.port());
  busy.send("POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n01234");
  idle.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  ASSERT_EQ(idle.read_response().status, 200);
  std::this_thread::sleep_for(100ms);

  d.signal(SIGTERM);
  ASSERT_TRUE(d.wait_notify("STOPPING=1"));
  EXPECT_TRUE(idle.closed_by_peer(2s)) << "an idle keep-alive connection is closed at once";
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(d.wait_exit(10ms), -1) << "must wait for the in-flight request";
  busy.send("56789");
  auto r = busy.read_response();
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers["connection"], "close");
  EXPECT_EQ(d.wait_exit(5s), 0) << d.log();
  EXPECT_EQ(http_get(d.port(), "/healthz").status, 0);
}

TEST(Shutdown, DrainDeadlineCutsStragglers) {
  Daemon d(R"(
gateway: {instance: it-signals, data_dir: "${DATA}", threads: 1, drain_timeout: 500ms}
listeners:
  - {name: main, bind: loopback, port: ${PORT0}, body_timeout: 30s}
)");
  ASSERT_TRUE(d.start()) << d.log();
  RawConnection busy(d.port());
  busy.send("POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n01234");
  std::this_thread::sleep_for(100ms);
  auto started = std::chrono::steady_clock::now();
  d.signal(SIGTERM);
  EXPECT_EQ(d.wait_exit(5s), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  EXPECT_TRUE(busy.closed_by_peer(1s));
  EXPECT_NE(d.log().find("drain deadline reached"), std::string::npos) << d.log();
}

TEST(SdNotify, ReadyIsSentOnceListenersAreBound) {
  Daemon d(config_with(""));
  ASSERT_TRUE(d.start()) << d.log();
  // READY=1 arrived (start() waits for it); the port must already answer.
  EXPECT_EQ(http_get(d.port(), "/healthz").status, 200);
  EXPECT_NE(d.notifications().back().find("STATUS="), std::string::npos);
}

TEST(SdNotify, WatchdogPingsComeFromTheEventLoop) {
  Daemon d(config_with(""), {{"WATCHDOG_USEC", "200000"}});
  ASSERT_TRUE(d.start()) << d.log();
  EXPECT_TRUE(d.wait_notify("WATCHDOG=1", 2s));
  EXPECT_TRUE(d.wait_notify("WATCHDOG=1", 2s));
}

}  // namespace
}  // namespace hermes::test
