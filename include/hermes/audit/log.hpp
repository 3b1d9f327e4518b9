#pragma once
// The audit log: an AuditSink backed by SQLite. Producers only enqueue (no
// I/O, no hashing on the request path); one writer thread per database file
// assigns ids, links the hash chain and commits in batches. A row counts as
// acknowledged once committed (committed_id() is the watermark).
//
// Back-pressure: has_headroom() tells ingress to refuse with 503 before it
// acknowledges anything. If the disk is full or read-only the writer keeps the
// rows in memory, retries, and reports unwritable (so /readyz turns false);
// rows are never silently dropped.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "hermes/core/audit_sink.hpp"
#include "hermes/core/secret.hpp"
#include "hermes/core/units.hpp"
#include "hermes/store/database.hpp"

namespace hermes::observability {
class MetricsRegistry;
}

namespace hermes::audit {

enum class TextPolicy { full, hash, none };

struct AuditLogOptions {
  std::filesystem::path path;
  std::string instance;
  TextPolicy store_text = TextPolicy::hash;
  Secret chain_key;  // empty: plain SHA-256 chain
  store::Synchronous synchronous = store::Synchronous::normal;
  std::uint64_t max_size_bytes = 0;
  std::size_t queue_capacity = 65'536;  // beyond this, has_headroom() is false
  std::size_t batch_size = 512;
  Duration flush_interval{5};
  // How long committed rows may wait in the WAL before a checkpoint syncs them into the
  // database (sooner once 1,000 pages wait): the power-loss window of synchronous normal.
  Duration checkpoint_interval{1'000};
  // At stop, how long rows that cannot be written (a full disk or max_size) are retried
  // before they are counted as dropped: the gateway's drain_timeout.
  std::chrono::milliseconds stop_retry_for{10'000};
  Duration retention{400LL * 86'400'000};  // 0: keep forever
  Duration retention_check_interval{3'600'000};
  Duration head_log_interval{300'000};
};

struct AuditHealth {
  bool writable = true;
  std::string last_error;
  std::size_t queue_depth = 0;
  std::int64_t committed_id = 0;
  std::int64_t head_id = 0;
  std::string head_hash;
  std::string chain;  // "hmac-sha256" or "sha256"
  std::uint64_t dropped = 0;
};

class AuditLog final : public AuditSink {
 public:
  // Opens (creating and migrating) the database and starts the writer thread.
  // Throws store::StoreError or std::runtime_error on start-up failures, e.g.
  // a chain key that differs from the one the database was written with.
  AuditLog(AuditLogOptions options, observability::MetricsRegistry& metrics);
  ~AuditLog() override;  // stop()s

  void record(AuditEvent event) override;
  bool has_headroom() const;
  std::int64_t committed_id() const;
  AuditHealth health() const;

  // Blocks until every event recorded before the call is committed, or the
  // timeout passes (false). For shutdown and tests; never on an io thread.
  bool flush(Duration timeout);
  // Runs one retention pass now (normally periodic) on the writer thread and waits for it.
  void run_retention_now();
  // Commits what is queued, then stops the writer thread.
  void stop();
  // The same, retrying rows that cannot be written (a full disk) until `retry_until` at
  // the latest, instead of for options.stop_retry_for.
  void stop(std::chrono::steady_clock::time_point retry_until);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hermes::audit
