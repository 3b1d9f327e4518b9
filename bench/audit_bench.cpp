// Audit writer throughput and producer cost, with a same-run baseline:
//   baseline: raw SQLite inserts of the same rows in transactions of 512 (no queue, no chain)
//   hermes:   AuditLog::record() from producer threads, batched writer with the HMAC chain
// Usage: audit_bench [--rows N] [--producers P] [--dir DIR]
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "hermes/audit/log.hpp"
#include "hermes/audit/record.hpp"
#include "hermes/audit/schema.hpp"
#include "hermes/observability/metrics.hpp"
#include "hermes/store/database.hpp"

namespace {

using Clock = std::chrono::steady_clock;

hermes::AuditEvent sample_event(int i) {
  hermes::AuditEvent e;
  e.kind = "route.decision";
  e.request_id = "req-" + std::to_string(i);
  e.channel = "api";
  e.sender = "ci-bot";
  e.agent = "general";
  e.rule = "default";
  e.decision = "routed";
  e.status = "ok";
  e.latency_ms = i % 100;
  e.detail = {{"model", "auto"}, {"listener", "lan"}};
  e.text = "What is the status of invoice " + std::to_string(i) + "?";
  return e;
}

double baseline_rows_per_second(const std::filesystem::path& path, int rows) {
  hermes::store::Database db(path, hermes::store::OpenOptions{});
  db.migrate(hermes::audit::migrations());
  auto started = Clock::now();
  for (int i = 0; i < rows;) {
    hermes::store::Transaction tx(db);
    auto insert = db.prepare(
        "INSERT INTO audit_events (ts, instance, request_id, kind, channel, sender, agent, rule, decision, status, "
        "latency_ms, detail, text, prev_hash, hash) VALUES (?1,'bench',?2,'route.decision','api','ci-bot','general',"
        "'default','routed','ok',?3,?4,?5,?6,?6)");
    for (int j = 0; j < 512 && i < rows; ++j, ++i) {
      auto e = sample_event(i);
      insert.bind(1, static_cast<std::int64_t>(i)).bind(2, e.request_id).bind(3, e.latency_ms);
      insert.bind(4, e.detail.dump()).bind(5, e.text).bind(6, std::string(hermes::audit::kGenesisHash));
      insert.step();
      insert.reset();
    }
    tx.commit();
  }
  return rows / std::chrono::duration<double>(Clock::now() - started).count();
}

struct HermesResult {
  double rows_per_second = 0;
  double record_p50_ns = 0;
  double record_p99_ns = 0;
};

HermesResult hermes_writer(const std::filesystem::path& path, int rows, int producers) {
  hermes::observability::MetricsRegistry metrics;
  hermes::audit::AuditLogOptions o;
  o.path = path;
  o.instance = "bench";
  o.chain_key = hermes::Secret("bench-chain-key-0123456789abcdef", "inline");
  o.queue_capacity = static_cast<std::size_t>(rows);  // measure the writer, not back-pressure
  hermes::audit::AuditLog log(o, metrics);
  std::vector<std::vector<double>> samples(static_cast<std::size_t>(producers));
  auto started = Clock::now();
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      auto& mine = samples[static_cast<std::size_t>(p)];
      for (int i = p; i < rows; i += producers) {
        auto e = sample_event(i);
        auto t0 = Clock::now();
        log.record(std::move(e));
        mine.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
      }
    });
  }
  for (auto& t : threads) t.join();
  log.flush(hermes::Duration{600'000});
  HermesResult r;
  r.rows_per_second = rows / std::chrono::duration<double>(Clock::now() - started).count();
  std::vector<double> all;
  for (auto& s : samples) all.insert(all.end(), s.begin(), s.end());
  std::sort(all.begin(), all.end());
  r.record_p50_ns = all[all.size() / 2];
  r.record_p99_ns = all[all.size() * 99 / 100];
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int rows = 200'000;
  int producers = 2;
  std::filesystem::path dir = std::filesystem::temp_directory_path() / "hermes-audit-bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--rows") rows = std::stoi(argv[i + 1]);
    else if (a == "--producers") producers = std::stoi(argv[i + 1]);
    else if (a == "--dir") dir = argv[i + 1];
  }
  spdlog::set_level(spdlog::level::warn);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  double base = baseline_rows_per_second(dir / "baseline.db", rows);
  auto h = hermes_writer(dir / "hermes.db", rows, producers);
  std::printf("| measure | value |\n|---|---|\n");
  std::printf("| rows | %d (producers: %d) |\n", rows, producers);
  std::printf("| baseline: raw SQLite batched inserts | %.0f rows/s |\n", base);
  std::printf("| hermes AuditLog (queue + HMAC chain + batches) | %.0f rows/s |\n", h.rows_per_second);
  std::printf("| ratio hermes / baseline | %.2f |\n", h.rows_per_second / base);
  std::printf("| record() on the producer, p50 | %.0f ns |\n", h.record_p50_ns);
  std::printf("| record() on the producer, p99 | %.0f ns |\n", h.record_p99_ns);
  std::filesystem::remove_all(dir);
  return 0;
}
