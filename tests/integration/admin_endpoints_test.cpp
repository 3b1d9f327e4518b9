// The real hermesd on loopback: admin endpoints, admission at accept, start-up refusal.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>

#include "harness.hpp"

namespace hermes::test {
namespace {

const char* kBasicConfig = R"(
gateway: {instance: it-basic, data_dir: "${DATA}", threads: 2, drain_timeout: 3s}
listeners:
  - {name: main, bind: loopback, port: ${PORT0}}
  - {name: hooks, bind: loopback, port: ${PORT1}, admin: false}
)";

TEST(AdminEndpoints, HealthReadyMetricsStatusFromLoopback) {
  Daemon d(kBasicConfig);
  ASSERT_TRUE(d.start()) << d.log();

  auto health = http_get(d.port(0), "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
  EXPECT_EQ(http_get(d.port(0), "/readyz").status, 200);

  auto metrics = http_get(d.port(0), "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.headers["content-type"].find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_EQ(metric_value(metrics.body, R"(hermes_http_requests_total{listener="main",route="/healthz",code="200"})"), 1);
  EXPECT_GT(metric_value(metrics.body, "process_resident_memory_bytes"), 1e6);
  EXPECT_GT(metric_value(metrics.body, "process_open_fds"), 3);
  EXPECT_NE(metrics.body.find("hermes_build_info{version=\"0.1.0\""), std::string::npos);
  EXPECT_NE(metrics.body.find("hermes_http_request_duration_seconds_bucket{listener=\"main\",route=\"/healthz\""),
            std::string::npos);

  auto status = http_get(d.port(0), "/status");
  ASSERT_EQ(status.status, 200);
  auto json = nlohmann::json::parse(status.body);
  EXPECT_EQ(json["pid"], d.pid());
  EXPECT_EQ(json["instance"], "it-basic");
  EXPECT_EQ(json["config"]["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(json["listeners"].size(), 2u);
  EXPECT_EQ(json["listeners"][0]["port"], d.port(0));
}

TEST(AdminEndpoints, ListenerWithoutAdminServesNoAdminRoutes) {
  Daemon d(kBasicConfig);
  ASSERT_TRUE(d.start()) << d.log();
  EXPECT_EQ(http_get(d.port(1), "/metrics").status, 404);
  EXPECT_EQ(http_get(d.port(1), "/healthz").status, 404);
}

TEST(AdminEndpoints, WrongMethodIs405WithAllow) {
  Daemon d(kBasicConfig);
  ASSERT_TRUE(d.start()) << d.log();
  auto r = http_request(d.port(0), "POST", "/healthz", {}, "x");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers["allow"], "GET");
  auto head = http_request(d.port(0), "HEAD", "/healthz");
  EXPECT_EQ(head.status, 200);
}

TEST(AdminEndpoints, ForwardingHeadersDoNotChangeTheTrustedPeer) {
  // A loopback peer claiming to forward for a public address is still judged
  // by its socket address; the header is not how trust is decided.
  Daemon d(kBasicConfig);
  ASSERT_TRUE(d.start()) << d.log();
  auto r = http_get(d.port(0), "/status", {{"X-Forwarded-For", "203.0.113.7"}, {"Forwarded", "for=203.0.113.7"}});
  EXPECT_EQ(r.status, 200);
}

TEST(Admission, PeerOutsideAllowListIsCutOffBeforeAnyByte) {
  Daemon d(R"(
gateway: {instance: it-guard, data_dir: "${DATA}", threads: 1}
listeners:
  - {name: guarded, bind: lan, port: ${PORT0}, allow: [10.0.0.0/8]}
  - {name: admin, bind: loopback, port: ${PORT1}}
)");
  ASSERT_TRUE(d.start()) << d.log();
  for (int i = 0; i < 3; ++i) {
    RawConnection c(d.port(0));
    ASSERT_TRUE(c.connected());
    c.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    EXPECT_TRUE(c.closed_by_peer(3s));
    EXPECT_EQ(c.read_until("HTTP", 100ms), "") << "a refused peer must not get a response";
  }
  auto metrics = http_get(d.port(1), "/metrics");
  EXPECT_EQ(metric_value(metrics.body, R"(hermes_listener_refused_total{listener="guarded"})"), 3);
  EXPECT_EQ(metric_value(metrics.body, R"(hermes_listener_accepted_total{listener="guarded"})"), 0);
  EXPECT_NE(d.log().find("refused connection from 127.0.0.1"), std::string::npos) << d.log();
  auto rows = d.audit_events("listener.refused", 3);
  ASSERT_EQ(rows.size(), 3u) << d.log();
  EXPECT_EQ(rows[0]["decision"], "refused");
  EXPECT_EQ(rows[0]["status"], "peer_not_allowed");
  EXPECT_EQ(rows[0]["detail"]["listener"], "guarded");
  EXPECT_EQ(rows[0]["detail"]["peer"], "127.0.0.1");
}

TEST(Admission, ConnectionCapShedsAtAccept) {
  Daemon d(R"(
gateway: {instance: it-cap, data_dir: "${DATA}", threads: 1}
listeners:
  - {name: small, bind: loopback, port: ${PORT0}, max_connections: 2, admin: true}
  - {name: admin, bind: loopback, port: ${PORT1}}
)");
  ASSERT_TRUE(d.start()) << d.log();
  RawConnection a(d.port(0)), b(d.port(0));
  // Make sure both are admitted before the third arrives.
  a.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  b.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_EQ(a.read_response().status, 200);
  EXPECT_EQ(b.read_response().status, 200);
  RawConnection c(d.port(0));
  EXPECT_TRUE(c.closed_by_peer(3s));
  auto metrics = http_get(d.port(1), "/metrics");
  EXPECT_EQ(metric_value(metrics.body, R"(hermes_listener_shed_total{listener="small"})"), 1);
}

TEST(Startup, InvalidConfigRefusesToStartNamingLineAndColumn) {
  Daemon d(R"(
gateway: {instance: it-bad, data_dir: "${DATA}"}
listeners:
  - {name: main, colour: blue, bind: loopback, port: ${PORT0}}
)");
  EXPECT_FALSE(d.start(5s));
  EXPECT_EQ(d.wait_exit(5s), 1);
  EXPECT_NE(d.log().find("hermes.yaml:4:18: listeners[0].colour: unknown key 'colour'"), std::string::npos)
      << d.log();
}

TEST(Startup, PortInUseIsAClearError) {
  Daemon first(kBasicConfig);
  ASSERT_TRUE(first.start()) << first.log();
  Daemon second(R"(
gateway: {instance: it-clash, data_dir: "${DATA}"}
listeners:
  - {name: clash, bind: loopback, port: )" + std::to_string(first.port(0)) + "}\n");
  EXPECT_FALSE(second.start(5s));
  EXPECT_EQ(second.wait_exit(5s), 1);
  EXPECT_NE(second.log().find("listener clash: cannot listen on 127.0.0.1:" + std::to_string(first.port(0))),
            std::string::npos)
      << second.log();
}

TEST(Hermesctl, CheckConfigExitCodesAndErrorList) {
  TempDir dir;
  auto good = dir.write("good.yaml", "listeners:\n  - {name: a, port: 8080}\n");
  auto bad = dir.write("bad.yaml",
                       "listeners:\n  - {name: a, port: 80800}\n  - {name: a, port: 8081, bind: moon}\n"
                       "admin: {key: \"${env:HERMES_TEST_SURELY_UNSET}\"}\n");
  std::string ctl = HERMESCTL_PATH;
  EXPECT_EQ(std::system((ctl + " check-config " + good.string() + " >/dev/null").c_str()), 0);
  auto out = dir.path() / "out.txt";
  int rc = std::system((ctl + " check-config " + bad.string() + " >" + out.string() + " 2>&1").c_str());
  EXPECT_EQ(WEXITSTATUS(rc), 1);
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("bad.yaml:2:21: listeners[0].port: integer 80800 is out of range"), std::string::npos) << text;
  EXPECT_NE(text.find("listeners[1].bind: invalid bind 'moon'"), std::string::npos) << text;
  EXPECT_NE(text.find("bad.yaml:3:5: listeners[1].name: duplicate listener name 'a'"), std::string::npos) << text;
  EXPECT_NE(text.find("admin.key: environment variable HERMES_TEST_SURELY_UNSET is not set"), std::string::npos)
      << text;
}

// Errors in an operator's words (#19): no Boost source paths, and a directory is named so.
TEST(Hermesctl, ErrorsSayWhatIsWrong) {
  TempDir dir;
  std::string ctl = HERMESCTL_PATH;
  auto run = [&](const std::string& args, int& rc) {
    auto out = dir.path() / "out.txt";
    rc = WEXITSTATUS(std::system((ctl + " " + args + " >" + out.string() + " 2>&1").c_str()));
    std::ifstream in(out);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  int rc = 0;
  auto refused = run("status --url http://127.0.0.1:" + std::to_string(free_port()), rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(refused.find("cannot connect to 127.0.0.1:"), std::string::npos) << refused;
  EXPECT_NE(refused.find("Connection refused"), std::string::npos) << refused;
  EXPECT_EQ(refused.find("/usr/include"), std::string::npos) << refused;
  auto directory = run("check-config " + dir.path().string(), rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(directory.find("is a directory, not a configuration file"), std::string::npos) << directory;
  auto inline_secret = dir.write("inline.yaml", "admin: {key: xoxb-not-a-reference}\nlisteners:\n  - {name: a, port: 8080}\n");
  auto warned = run("check-config " + inline_secret.string(), rc);
  EXPECT_EQ(rc, 0) << warned;
  EXPECT_NE(warned.find("inline.yaml:1:14: admin.key: warning: an inline secret"), std::string::npos) << warned;
  EXPECT_NE(warned.find(": OK ("), std::string::npos) << warned;
  EXPECT_EQ(warned.find("xoxb-not"), std::string::npos) << warned;
}

// `hermesctl reload` signals the hermesd that answers at --url, not every hermesd on the host.
TEST(Hermesctl, ReloadSignalsTheInstanceAtTheUrl) {
  Daemon d(R"(
gateway: {instance: it-ctl-reload, data_dir: "${DATA}"}
listeners:
  - {name: main, bind: loopback, port: ${PORT0}}
)");
  ASSERT_TRUE(d.start()) << d.log();
  std::string ctl = HERMESCTL_PATH;
  auto out = d.dir().path() / "reload.txt";
  int rc = std::system(
      (ctl + " reload --url http://127.0.0.1:" + std::to_string(d.port()) + " >" + out.string() + " 2>&1").c_str());
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(WEXITSTATUS(rc), 0) << text;
  EXPECT_NE(text.find("sent SIGHUP to hermesd pid " + std::to_string(d.pid())), std::string::npos) << text;
  auto reloads = d.audit_events("config.reload", 1, 5s);
  ASSERT_EQ(reloads.size(), 1u) << d.log();
  EXPECT_EQ(reloads[0]["status"], "applied");
}

}  // namespace
}  // namespace hermes::test
