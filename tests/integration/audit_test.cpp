// The audit log of a running hermesd: rows land, verify passes, tampering is
// caught naming the row, kill -9 keeps every committed row, a full database
// turns /readyz false without blocking other requests.
#include <gtest/gtest.h>
#include <signal.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <thread>

#include "harness.hpp"
#include "hermes/store/database.hpp"

namespace hermes::test {
namespace {

struct Command {
  int exit_code = -1;
  std::string output;
};

Command run(const std::string& command) {
  Command c;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) c.output += buf.data();
  int status = ::pclose(p);
  c.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return c;
}

std::string ctl(const std::string& args) { return std::string(HERMESCTL_PATH) + " " + args; }

const char* kKeyedConfig = R"(
gateway: {instance: it-audit, data_dir: "${DATA}", threads: 2}
listeners:
  - {name: main, bind: loopback, port: ${PORT0}}
  - {name: guard, bind: lan, allow: [192.0.2.0/24], port: ${PORT1}}
audit: {chain_key: "${file:chain.key}", store_text: hash}
)";

void refuse_connections(std::uint16_t port, int n) {
  for (int i = 0; i < n; ++i) {
    RawConnection c(port);
    c.closed_by_peer(2s);
  }
}

void exec_sql(const std::filesystem::path& db, const std::string& sql) {
  store::Database d(db, store::OpenOptions{});
  d.exec(sql);
}

class AuditIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_.dir().write("chain.key", "it-chain-key-0123456789\n");
    ASSERT_TRUE(daemon_.start()) << daemon_.log();
    refuse_connections(daemon_.port(1), 5);
    ASSERT_EQ(daemon_.audit_events("listener.refused", 5).size(), 5u);
    daemon_.signal(SIGTERM);
    ASSERT_EQ(daemon_.wait_exit(), 0) << daemon_.log();
  }
  Command verify() { return run(ctl("audit verify --config " + daemon_.config_path().string())); }
  Daemon daemon_{kKeyedConfig};
};

TEST_F(AuditIntegration, VerifyPassesOnAnUntouchedLog) {
  auto v = verify();
  EXPECT_EQ(v.exit_code, 0) << v.output;
  EXPECT_NE(v.output.find("OK: 6 row(s) verified (hmac-sha256 chain)"), std::string::npos) << v.output;
  auto q = run(ctl("audit query --config " + daemon_.config_path().string() + " --kind listener.refused --format json"));
  EXPECT_EQ(q.exit_code, 0);
  auto rows = nlohmann::json::parse(q.output.substr(0, q.output.rfind(']') + 1));
  EXPECT_EQ(rows.size(), 5u);
  // Without the key, verify refuses to vouch for a keyed chain.
  auto no_key = run(ctl("audit verify --db " + daemon_.audit_db().string()));
  EXPECT_EQ(no_key.exit_code, 1);
  EXPECT_NE(no_key.output.find("keyed chain"), std::string::npos);
}

TEST_F(AuditIntegration, AnEditedRowFailsVerifyNamingIt) {
  exec_sql(daemon_.audit_db(), "UPDATE audit_events SET status = 'ok' WHERE id = 3");
  auto v = verify();
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.output.find("FAIL: row 3: hash mismatch"), std::string::npos) << v.output;
}

TEST_F(AuditIntegration, ADeletedRowFailsVerifyAtTheNextRow) {
  exec_sql(daemon_.audit_db(), "DELETE FROM audit_events WHERE id = 4");
  auto v = verify();
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.output.find("FAIL: row 5: prev_hash does not link"), std::string::npos) << v.output;
}

TEST_F(AuditIntegration, AnInsertedRowFailsVerifyNamingIt) {
  // A forger copies row 2, links it after row 2 and gives it a fresh id between 2 and 3.
  exec_sql(daemon_.audit_db(),
           "UPDATE audit_events SET id = id + 100 WHERE id >= 3;"
           "INSERT INTO audit_events (id, ts, instance, kind, decision, status, prev_hash, hash) "
           "SELECT 3, ts, instance, 'listener.refused', 'refused', 'peer_not_allowed', hash, "
           "'0000000000000000000000000000000000000000000000000000000000000001' FROM audit_events WHERE id = 2;");
  auto v = verify();
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.output.find("FAIL: row 3: hash mismatch"), std::string::npos) << v.output;
}

TEST_F(AuditIntegration, ExportWritesOneJsonObjectPerLine) {
  auto e = run(ctl("audit export --db " + daemon_.audit_db().string() + " --format jsonl"));
  EXPECT_EQ(e.exit_code, 0);
  std::istringstream lines(e.output);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    auto row = nlohmann::json::parse(line);
    EXPECT_EQ(row["id"], ++n);
    EXPECT_EQ(row["instance"], "it-audit");
  }
  EXPECT_EQ(n, 6);
}

// hermesd got its data directory from $STATE_DIRECTORY (systemd, ./scripts/run); the
// operator's shell has none. hermesctl asks the running hermesd for its database.
TEST(AuditLocation, HermesctlFindsTheDatabaseOfTheHermesdServingTheConfiguration) {
  Daemon daemon(R"(
gateway: {instance: it-where, threads: 1}
listeners:
  - {name: main, bind: loopback, port: ${PORT0}}
)");
  ASSERT_TRUE(daemon.start()) << daemon.log();
  ASSERT_EQ(daemon.audit_events("gateway.start", 1).size(), 1u);
  auto query = "env -u STATE_DIRECTORY " + ctl("audit query --kind gateway.start --config " +
                                               daemon.config_path().string());
  auto found = run(query);
  EXPECT_EQ(found.exit_code, 0) << found.output;
  EXPECT_NE(found.output.find("using " + daemon.audit_db().string() + ", the audit database of the hermesd (pid " +
                              std::to_string(daemon.pid()) + ")"),
            std::string::npos)
      << found.output;
  EXPECT_NE(found.output.find("gateway.start"), std::string::npos) << found.output;

  daemon.signal(SIGTERM);
  ASSERT_EQ(daemon.wait_exit(), 0) << daemon.log();
  auto stopped = run(query);
  EXPECT_EQ(stopped.exit_code, 1) << stopped.output;
  EXPECT_NE(stopped.output.find("no audit database at /var/lib/hermes/audit.db (gateway.data_dir, else "
                                "$STATE_DIRECTORY, else /var/lib/hermes), and no hermesd serving this configuration "
                                "answers on its admin listener; give --db PATH"),
            std::string::npos)
      << stopped.output;
}

TEST(AuditDurability, KillNineKeepsEveryRowBelowTheReportedWatermark) {
  Daemon d(R"(
gateway: {instance: it-kill, data_dir: "${DATA}", threads: 2}
listeners:
  - {name: main, bind: loopback, port: ${PORT0}}
)");
  ASSERT_TRUE(d.start()) << d.log();
  std::atomic<bool> stop{false};
  // Reloads are audited: a steady stream of rows while we kill.
  std::thread writer([&] {
    while (!stop.load()) {
      d.signal(SIGHUP);
      std::this_thread::sleep_for(1ms);
    }
  });
  std::this_thread::sleep_for(500ms);
  auto status = nlohmann::json::parse(http_get(d.port(), "/status").body);
  std::int64_t watermark = status["audit"]["committed_id"];
  d.signal(SIGKILL);
  stop = true;
  writer.join();
  EXPECT_EQ(d.wait_exit(), -2);
  ASSERT_GT(watermark, 20) << "the writer should have committed a good number of rows";

  auto v = run(ctl("audit verify --db " + d.audit_db().string()));
  EXPECT_EQ(v.exit_code, 0) << v.output;
  store::Database db(d.audit_db(), store::OpenOptions{});
  auto integrity = db.prepare("PRAGMA integrity_check");
  ASSERT_TRUE(integrity.step());
  EXPECT_EQ(integrity.column_text(0), "ok");
  auto count = db.prepare("SELECT count(*), min(id), max(id) FROM audit_events WHERE id <= ?1");
  count.bind(1, watermark);
  ASSERT_TRUE(count.step());
  EXPECT_EQ(count.column_int(0), watermark);
  EXPECT_EQ(count.column_int(1), 1);
  EXPECT_EQ(count.column_int(2), watermark);
}

// Reloads until config.reload rows fill the small database and /readyz says so.
bool fill_until_unready(Daemon& d) {
  for (int i = 0; i < 3000; ++i) {
    d.signal(SIGHUP);
    std::this_thread::sleep_for(1ms);
    if (i % 50 == 49 && http_get(d.port(), "/readyz").status == 503) return true;
  }
  return false;
}

TEST(AuditBackPressure, AFullDatabaseTurnsReadyzFalseWithoutBlockingOtherPaths) {
  Daemon d(R"(
gateway: {instance: it-full, data_dir: "${DATA}", threads: 2}
listeners:
  - {name: main, bind: loopback, port: ${PORT0}}
audit: {max_size: 128KiB}
)");
  ASSERT_TRUE(d.start()) << d.log();
  EXPECT_EQ(http_get(d.port(), "/readyz").status, 200);
  ASSERT_TRUE(fill_until_unready(d)) << d.log();
  auto readyz = http_get(d.port(), "/readyz");
  EXPECT_NE(readyz.body.find("audit log not writable"), std::string::npos) << readyz.body;
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(http_get(d.port(), "/healthz").status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 500ms);
  auto metrics = http_get(d.port(), "/metrics").body;
  EXPECT_EQ(metric_value(metrics, "hermes_audit_writable"), 0);
  EXPECT_GT(metric_value(metrics, R"(hermes_audit_commit_errors_total{cause="full"})"), 0);
  auto status = nlohmann::json::parse(http_get(d.port(), "/status").body);
  EXPECT_FALSE(status["audit"]["writable"]);
  EXPECT_GT(status["audit"]["queue_depth"], 0) << "rows wait in memory; none silently dropped";
  EXPECT_EQ(status["audit"]["dropped"], 0);
}

// A full audit database at stop: rows are retried until the drain deadline, then counted
// and logged exactly, and the process still exits on time.
TEST(AuditBackPressure, RowsAFullDatabaseHoldsAtStopAreRetriedUntilTheDrainDeadlineThenCounted) {
  Daemon d(R"(
gateway: {instance: it-full-stop, data_dir: "${DATA}", threads: 2, drain_timeout: 1500ms}
listeners:
  - {name: main, bind: loopback, port: ${PORT0}}
audit: {max_size: 128KiB}
)");
  ASSERT_TRUE(d.start()) << d.log();
  ASSERT_TRUE(fill_until_unready(d)) << d.log();
  auto status = nlohmann::json::parse(http_get(d.port(), "/status").body);
  auto queued = status["audit"]["queue_depth"].get<std::uint64_t>();
  ASSERT_GT(queued, 0u);
  auto stopped = std::chrono::steady_clock::now();
  d.signal(SIGTERM);
  EXPECT_EQ(d.wait_exit(15s), 0) << d.log();
  auto took = std::chrono::steady_clock::now() - stopped;
  EXPECT_GT(took, 1000ms) << "rows were retried until the drain deadline";
  EXPECT_LT(took, 6s);
  auto log = d.log();
  auto at = log.find("row(s) could not be written before shutdown");
  ASSERT_NE(at, std::string::npos) << log;
  auto line_start = log.rfind("audit log: ", at);
  auto lost = std::stoull(log.substr(line_start + 11, at - line_start - 11));
  EXPECT_GE(lost, queued) << "every queued row is counted, none silently";
}

TEST(AuditStatus, StatusPublishesTheChainHeadAndMode) {
  Daemon d(R"(
gateway: {instance: it-status, data_dir: "${DATA}", threads: 1}
listeners:
  - {name: main, bind: loopback, port: ${PORT0}}
)");
  ASSERT_TRUE(d.start()) << d.log();
  ASSERT_EQ(d.audit_events("gateway.start").size(), 1u);
  auto status = nlohmann::json::parse(http_get(d.port(), "/status").body);
  EXPECT_EQ(status["audit"]["chain"], "sha256");
  EXPECT_NE(status["audit"]["chain_note"].get<std::string>().find("no audit.chain_key"), std::string::npos);
  EXPECT_EQ(status["audit"]["head"]["id"], 1);
  EXPECT_EQ(status["audit"]["head"]["hash"], d.audit_events("gateway.start")[0]["hash"]);
}

}  // namespace
}  // namespace hermes::test
