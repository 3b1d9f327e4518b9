#include "hermes/audit/log.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <thread>

#include "hermes/audit/record.hpp"
#include "hermes/audit/schema.hpp"
#include "hermes/core/thread_role.hpp"
#include "hermes/observability/metrics.hpp"

namespace hermes::audit {

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string apply_text_policy(TextPolicy policy, const std::string& text, const std::string& key) {
  if (text.empty() || policy == TextPolicy::none) return {};
  if (policy == TextPolicy::full) return text;
  // A keyed hash: equal texts still compare equal, but short texts cannot be guessed offline.
  return key.empty() ? "sha256:" + sha256_hex(text) : "hmac-sha256:" + hmac_sha256_hex(key, text);
}

// Makes every text field valid UTF-8 and applies store_text, once per row, on
// the writer thread: the bytes stored are exactly the bytes hashed, and the
// request path pays for neither.
void prepare_for_storage(AuditRecord& r, TextPolicy policy, const std::string& key) {
  for (std::string* field : {&r.request_id, &r.kind, &r.channel, &r.session_id, &r.sender, &r.conversation,
                             &r.agent, &r.rule, &r.decision, &r.status, &r.detail, &r.text, &r.answer}) {
    *field = valid_utf8(std::move(*field));
  }
  r.text = apply_text_policy(policy, r.text, key);
  r.answer = apply_text_policy(policy, r.answer, key);
}

AuditRecord to_record(AuditEvent&& e) {
  AuditRecord r;
  r.ts = now_ms();
  r.request_id = std::move(e.request_id);
  r.kind = std::move(e.kind);
  // kind is NOT NULL: a row without one would fail its batch on every retry and wedge the writer.
  if (r.kind.empty()) {
    r.kind = "unspecified";
  }
  r.channel = std::move(e.channel);
  r.session_id = std::move(e.session_id);
  r.sender = std::move(e.sender);
  r.conversation = std::move(e.conversation);
  r.agent = std::move(e.agent);
  r.rule = std::move(e.rule);
  r.decision = std::move(e.decision);
  r.status = std::move(e.status);
  r.latency_ms = e.latency_ms;
  r.tokens_in = e.tokens_in;
  r.tokens_out = e.tokens_out;
  r.text = std::move(e.text);
  r.answer = std::move(e.answer);
  if (!e.detail_json.empty()) {
    r.detail = std::move(e.detail_json);
  } else if (!e.detail.is_null() && !(e.detail.is_object() && e.detail.empty())) {
    r.detail = e.detail.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return r;
}

constexpr const char* kInsertSql =
    "INSERT INTO audit_events (id, ts, instance, request_id, kind, channel, session_id, sender, conversation, "
    "agent, rule, decision, status, latency_ms, tokens_in, tokens_out, detail, text, prev_hash, hash, answer) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)";

}  // namespace

struct AuditLog::Impl {
  AuditLogOptions options;
  std::string key;
  std::unique_ptr<store::Database> db;  // the writer thread's, after construction

  mutable std::mutex mutex;
  std::condition_variable wake;       // writer: work to do
  std::condition_variable committed;  // flush(): progress
  std::deque<AuditRecord> queue;
  std::size_t in_flight = 0;     // taken by the writer, not yet committed
  std::uint64_t enqueued = 0;    // sequence numbers, for flush()
  std::uint64_t done = 0;
  std::uint64_t flush_target = 0;  // flush() waits for rows up to here: don't hold them back for a batch
  bool stopping = false;
  std::chrono::steady_clock::time_point stop_deadline{};  // set with `stopping`
  std::chrono::steady_clock::time_point stop_started{};
  bool retention_requested = false;
  std::uint64_t retention_runs = 0;
  std::uint64_t dropped = 0;
  bool writable = true;
  std::string last_error;

  std::atomic<std::int64_t> committed_id{0};
  std::atomic<std::size_t> waiting_rows{0};  // queue.size(), for the writer's yield check
  // The writer's scheduling, see BackgroundPriority: in the background while it keeps up.
  // Promoted (under `mutex`, while the writer runs) once a batch's worth of rows waits, a
  // row has waited kPromoteAfterMs, or flush()/stop() wait for it; it settles back when it
  // takes every queued row. (Settling only after a commit that left the queue empty kept it
  // promoted at a steady c=1: rows arrive during every commit.)
  BackgroundPriority priority;
  static constexpr std::int64_t kPromoteAfterMs = 100;
  std::int64_t batch_oldest_ts = 0;  // of the rows in flight
  void promote_if_behind(std::int64_t now_ms) {
    std::int64_t oldest = in_flight > 0 ? batch_oldest_ts : queue.empty() ? now_ms : queue.front().ts;
    if (queue.size() >= options.batch_size || now_ms - oldest >= kPromoteAfterMs) priority.promote();
  }
  std::int64_t next_id = 1;  // writer thread only
  std::int64_t head_id = 0;
  std::string head_hash{kGenesisHash};
  std::thread writer;

  observability::Counter* rows_committed;
  observability::Counter* dropped_total;
  observability::Counter* retention_deleted;
  observability::CounterFamily* commit_errors;
  observability::Gauge* queue_depth;
  observability::Gauge* writable_gauge;
  observability::Gauge* committed_gauge;
  observability::Histogram* batch_seconds;
  observability::Histogram* checkpoint_seconds;
  observability::Counter* checkpoint_errors;

  Impl(AuditLogOptions o, observability::MetricsRegistry& m) : options(std::move(o)), key(options.chain_key.reveal()) {
    rows_committed = &m.counter("hermes_audit_rows_committed_total", "Audit rows committed to the database.").with({});
    dropped_total = &m.counter("hermes_audit_dropped_total",
                               "Audit rows refused because the queue hit its hard limit (logged loudly).")
                         .with({});
    retention_deleted =
        &m.counter("hermes_audit_retention_deleted_total", "Audit rows deleted by retention.").with({});
    commit_errors = &m.counter("hermes_audit_commit_errors_total", "Failed audit commits, by cause.", {"cause"});
    queue_depth = &m.gauge("hermes_audit_queue_depth", "Audit rows waiting to be committed.").with({});
    writable_gauge = &m.gauge("hermes_audit_writable", "1 when the last audit commit succeeded.").with({});
    committed_gauge = &m.gauge("hermes_audit_committed_id", "Highest committed audit row id (the watermark).").with({});
    batch_seconds = &m.histogram("hermes_audit_batch_duration_seconds", "Time to write and commit one batch.").with({});
    checkpoint_seconds = &m.histogram("hermes_audit_checkpoint_duration_seconds",
                                      "Time of a WAL checkpoint: syncing the WAL and copying it into the database.")
                              .with({});
    checkpoint_errors = &m.counter("hermes_audit_checkpoint_errors_total",
                                   "Failed WAL checkpoints (the rows stay committed in the WAL; retried).")
                             .with({});
    writable_gauge->set(1);
  }

  ~Impl() {
    if (lock_fd >= 0) ::close(lock_fd);  // also when the constructor threw after locking
  }

  std::size_t hard_limit() const { return options.queue_capacity * 4; }
  void open_database();
  void load_chain_state();
  void writer_loop();
  // Chains and inserts `batch` in one transaction; `prelude` runs first in the
  // same transaction and may append rows (retention's attesting row).
  bool write_batch(std::vector<AuditRecord>& batch,
                   const std::function<void(std::vector<AuditRecord>&)>& prelude = {});
  bool write_with_retry(std::vector<AuditRecord>& batch);
  bool retention_pass();  // true when more old rows remain
  // Checkpoints (which sync the WAL under synchronous normal) every 1,000 pages as SQLite
  // would, and also once checkpoint_interval has passed: SQLite's page count alone left a
  // quiet gateway's rows unsynced for hours, all of them at risk on power loss.
  static constexpr std::int64_t kCheckpointFrames = 1'000;
  Clock::time_point next_checkpoint{};
  bool checkpoint_failing = false;
  void checkpoint_if_due();
  void checkpoint_now();
  void lock_database_file();
  int lock_fd = -1;
  void set_writable(bool ok, const std::string& error);
};

void AuditLog::Impl::lock_database_file() {
  // Two writers on one file would hand out the same ids; refuse the second.
  auto lock_path = options.path.string() + ".lock";
  lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (lock_fd < 0) {
    throw std::runtime_error("cannot create " + lock_path + ": " + std::strerror(errno));
  }
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd);
    lock_fd = -1;
    throw std::runtime_error("audit database " + options.path.string() +
                             " is in use by another hermesd (it holds " + lock_path + ")");
  }
}

void AuditLog::Impl::open_database() {
  std::filesystem::create_directories(options.path.parent_path());
  lock_database_file();
  store::OpenOptions o;
  o.synchronous = options.synchronous;
  o.max_size_bytes = options.max_size_bytes;
  o.manual_checkpoints = true;
  db = std::make_unique<store::Database>(options.path, o);
  db->migrate(migrations());

  const std::string mode = key.empty() ? "sha256" : "hmac-sha256";
  const std::string fingerprint = key.empty() ? "" : key_fingerprint(key);
  auto get = db->prepare("SELECT key, value FROM audit_meta WHERE key IN ('chain', 'key_fingerprint')");
  std::string stored_mode, stored_fingerprint;
  while (get.step()) {
    (get.column_text(0) == "chain" ? stored_mode : stored_fingerprint) = get.column_text(1);
  }
  if (stored_mode.empty()) {
    auto put = db->prepare("INSERT INTO audit_meta (key, value) VALUES (?1, ?2)");
    put.bind(1, std::string_view("chain")).bind(2, mode).step();
    if (!fingerprint.empty()) {
      put.reset();
      put.bind(1, std::string_view("key_fingerprint")).bind(2, fingerprint).step();
    }
  } else if (stored_mode != mode || stored_fingerprint != fingerprint) {
    std::string was = stored_mode == "sha256" ? "without a chain key (plain SHA-256)" : "with a different chain key";
    std::string now = key.empty() ? "no audit.chain_key is configured now" : "audit.chain_key is set now";
    throw std::runtime_error("audit database " + options.path.string() + " was written " + was + ", but " + now +
                             "; configure the key it was written with, or start a new audit database file");
  }
  load_chain_state();
}

void AuditLog::Impl::load_chain_state() {
  auto seq = db->prepare(
      "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'), 0), "
      "coalesce((SELECT max(id) FROM audit_events), 0))");
  seq.step();
  next_id = seq.column_int(0) + 1;
  auto head = db->prepare("SELECT id, hash FROM audit_events WHERE instance = ?1 ORDER BY id DESC LIMIT 1");
  head.bind(1, options.instance);
  if (head.step()) {
    head_id = head.column_int(0);
    head_hash = head.column_text(1);
  } else {
    // Every row of this instance was removed by retention: continue from the checkpoint.
    auto cp = db->prepare(
        "SELECT through_id, hash FROM audit_checkpoints WHERE instance = ?1 ORDER BY through_id DESC LIMIT 1");
    cp.bind(1, options.instance);
    if (cp.step()) {
      head_id = cp.column_int(0);
      head_hash = cp.column_text(1);
    }
  }
  committed_id.store(next_id - 1);
  committed_gauge->set(static_cast<double>(next_id - 1));
}

void AuditLog::Impl::set_writable(bool ok, const std::string& error) {
  std::lock_guard lock(mutex);
  if (ok && !writable) spdlog::info("audit log writable again");
  writable = ok;
  if (!ok) last_error = error;
  writable_gauge->set(ok ? 1 : 0);
}

bool AuditLog::Impl::write_batch(std::vector<AuditRecord>& batch,
                                  const std::function<void(std::vector<AuditRecord>&)>& prelude) {
  auto started = Clock::now();
  std::int64_t id = next_id;
  std::string prev = head_hash;
  std::size_t original_size = batch.size();
  try {
    store::Transaction tx(*db);
    if (prelude) prelude(batch);
    auto& insert = db->cached(kInsertSql);
    // The writer shares cores with the event loop: a batch without a break kept a request
    // that arrived meanwhile waiting for the rest of it. A yield every few rows lets the
    // event loop run first (c=1 p99 1.27 ms → 0.8 ms). It is kept in the background
    // (SCHED_IDLE) too: a woken event loop should preempt the writer at once, but a remote
    // wakeup may wait for the next tick, and the yield bounds that wait. Not while rows pile
    // up: under saturation yielding starved the writer until the full queue turned requests
    // away with 503s.
    constexpr int kRowsPerYield = 8;
    int rows_since_yield = 0;
    for (auto& r : batch) {
      r.id = id++;
      r.instance = options.instance;
      r.prev_hash = prev;
      r.hash = chain_hash(r, key);
      prev = r.hash;
      insert.bind(1, r.id).bind(2, r.ts).bind(3, r.instance).bind(4, r.request_id).bind(5, r.kind);
      insert.bind(6, r.channel).bind(7, r.session_id).bind(8, r.sender).bind(9, r.conversation);
      insert.bind(10, r.agent).bind(11, r.rule).bind(12, r.decision).bind(13, r.status);
      insert.bind_optional(14, r.latency_ms).bind_optional(15, r.tokens_in).bind_optional(16, r.tokens_out);
      insert.bind(17, r.detail).bind(18, r.text).bind(19, r.prev_hash).bind(20, r.hash).bind(21, r.answer);
      insert.step();
      insert.reset();
      if (++rows_since_yield == kRowsPerYield) {
        rows_since_yield = 0;
        if (waiting_rows.load(std::memory_order_relaxed) < options.batch_size) std::this_thread::yield();
      }
    }
    tx.commit();
  } catch (const store::StoreError& e) {
    batch.resize(original_size);  // rows a prelude appended are rebuilt on the next try
    const char* cause = e.disk_full() ? "full" : e.read_only() ? "read_only" : "other";
    commit_errors->with({cause}).inc();
    if (writable) spdlog::error("audit log: commit of {} row(s) failed ({}): {}", batch.size(), cause, e.what());
    set_writable(false, e.what());
    return false;
  }
  next_id = id;
  head_hash = prev;
  head_id = id - 1;
  committed_id.store(id - 1);
  committed_gauge->set(static_cast<double>(id - 1));
  rows_committed->inc(batch.size());
  batch_seconds->observe(std::chrono::duration<double>(Clock::now() - started).count());
  set_writable(true, "");
  return true;
}

bool AuditLog::Impl::retention_pass() {
  if (options.retention.count() <= 0) return false;
  const std::int64_t cutoff = now_ms() - options.retention.count();
  constexpr int kBatchesPerPass = 20;  // then let queued rows through before continuing
  for (int pass_batch = 0; pass_batch < kBatchesPerPass; ++pass_batch) {
    std::uint64_t deleted = 0;
    // Deletes the oldest rows (a contiguous id prefix), records a checkpoint per
    // instance, and appends a chained audit.retention row attesting them: all in
    // one transaction, so a crash never leaves an unattested checkpoint.
    auto prelude = [&](std::vector<AuditRecord>& rows) {
      auto oldest = db->prepare("SELECT id, ts, instance, hash FROM audit_events ORDER BY id LIMIT 500");
      std::int64_t through = 0;
      std::map<std::string, std::pair<std::int64_t, std::string>> last_per_instance;
      std::map<std::string, std::int64_t> count_per_instance;
      while (oldest.step() && oldest.column_int(1) < cutoff) {
        through = oldest.column_int(0);
        last_per_instance[oldest.column_text(2)] = {through, oldest.column_text(3)};
        ++count_per_instance[oldest.column_text(2)];
      }
      if (through == 0) return;
      auto cp = db->prepare(
          "INSERT OR REPLACE INTO audit_checkpoints (instance, through_id, hash, ts, deleted_rows) "
          "VALUES (?1, ?2, ?3, ?4, ?5)");
      nlohmann::json checkpoints = nlohmann::json::array();
      for (const auto& [instance, last] : last_per_instance) {
        cp.bind(1, instance).bind(2, last.first).bind(3, last.second).bind(4, now_ms());
        cp.bind(5, count_per_instance[instance]).step();
        cp.reset();
        checkpoints.push_back({{"instance", instance}, {"through_id", last.first}, {"hash", last.second}});
        deleted += static_cast<std::uint64_t>(count_per_instance[instance]);
      }
      auto del = db->prepare("DELETE FROM audit_events WHERE id <= ?1");
      del.bind(1, through).step();
      AuditEvent ev;
      ev.kind = "audit.retention";
      ev.decision = "applied";
      ev.status = "ok";
      ev.detail = {{"deleted_rows", deleted},
                   {"retention", format_duration(options.retention)},
                   {"checkpoints", checkpoints}};
      rows.push_back(to_record(std::move(ev)));
      prepare_for_storage(rows.back(), options.store_text, key);
    };
    std::vector<AuditRecord> rows;
    if (!write_batch(rows, prelude)) {
      return false;  // logged by write_batch; the next pass retries
    }
    if (deleted == 0) return false;
    retention_deleted->inc(deleted);
    spdlog::info("audit retention: deleted {} row(s) older than {}", deleted, format_duration(options.retention));
  }
  return true;
}

bool AuditLog::Impl::write_with_retry(std::vector<AuditRecord>& batch) {
  // Keep the rows and retry with growing backoff while running; at shutdown keep trying
  // until the drain deadline (an operator may free space meanwhile), then say loudly, and
  // exactly, what could not be written.
  for (int attempt = 1;; ++attempt) {
    if (write_batch(batch)) return true;
    checkpoint_if_due();  // what was committed before the failures still gets synced
    std::unique_lock lock(mutex);
    if (stopping && std::chrono::steady_clock::now() >= stop_deadline) {
      std::size_t lost = batch.size() + queue.size();
      spdlog::critical("audit log: {} row(s) could not be written before shutdown ({} attempts over {} ms): {}; "
                       "counted in hermes_audit_dropped_total",
                       lost, attempt,
                       std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                             stop_started)
                           .count(),
                       last_error);
      dropped += lost;
      dropped_total->inc(lost);
      queue.clear();
      waiting_rows.store(0, std::memory_order_relaxed);
      return false;
    }
    auto backoff = stopping ? std::chrono::milliseconds(200)
                            : std::chrono::milliseconds(std::min(5000, 100 << std::min(attempt - 1, 6)));
    wake.wait_for(lock, backoff);
  }
}

void AuditLog::Impl::checkpoint_if_due() {
  auto backlog = db->wal_backlog();
  if (backlog == 0 || (Clock::now() < next_checkpoint && backlog < kCheckpointFrames)) return;
  checkpoint_now();
}

void AuditLog::Impl::checkpoint_now() {
  auto started = Clock::now();
  try {
    db->checkpoint();
    checkpoint_seconds->observe(std::chrono::duration<double>(Clock::now() - started).count());
    checkpoint_failing = false;
  } catch (const store::StoreError& e) {
    // Rows stay committed in the WAL; the next checkpoint retries (logged once per spell).
    if (!checkpoint_failing) spdlog::warn("audit log: checkpoint failed: {}", e.what());
    checkpoint_failing = true;
    checkpoint_errors->inc();
  }
  next_checkpoint = Clock::now() + options.checkpoint_interval;
}

void AuditLog::Impl::writer_loop() {
  auto next_retention = Clock::now() + std::chrono::seconds(10);
  auto next_head_log = Clock::now() + options.head_log_interval;
  next_checkpoint = Clock::now() + options.checkpoint_interval;
  std::int64_t logged_head = -1;
  std::vector<AuditRecord> batch;
  name_this_thread("hermes-audit");
  priority.attach(pthread_self());
  for (;;) {
    bool run_retention = false;
    {
      std::unique_lock lock(mutex);
      auto next_periodic = std::min(next_retention, next_head_log);
      if (db->wal_backlog() > 0) next_periodic = std::min(next_periodic, next_checkpoint);
      wake.wait_until(lock, next_periodic, [&] { return stopping || !queue.empty() || retention_requested; });
      if (!queue.empty() && queue.size() < options.batch_size && !stopping) {
        // Give a burst a moment to fill the batch: one transaction for many rows.
        wake.wait_for(lock, options.flush_interval,
                      [&] { return stopping || queue.size() >= options.batch_size || done < flush_target; });
      }
      if (stopping && queue.empty()) {
        lock.unlock();
        if (db->wal_backlog() > 0) checkpoint_now();  // the last rows synced even if a reader keeps close from it
        break;
      }
      std::size_t n = std::min(queue.size(), options.batch_size);
      batch.assign(std::make_move_iterator(queue.begin()), std::make_move_iterator(queue.begin() + static_cast<long>(n)));
      queue.erase(queue.begin(), queue.begin() + static_cast<long>(n));
      waiting_rows.store(queue.size(), std::memory_order_relaxed);
      in_flight = n;
      if (n > 0) batch_oldest_ts = batch.front().ts;
      if (queue.empty()) priority.settle();  // caught up: step aside again
      run_retention = retention_requested || Clock::now() >= next_retention;
    }
    for (auto& r : batch) prepare_for_storage(r, options.store_text, key);
    if (!batch.empty()) {
      // The clock starts at the first commit not yet synced, so a burst after a quiet
      // spell is synced once, checkpoint_interval later, not at its first batch.
      if (db->wal_backlog() == 0) next_checkpoint = std::max(next_checkpoint, Clock::now() + options.checkpoint_interval);
      write_with_retry(batch);
      std::lock_guard lock(mutex);
      done += batch.size();
      in_flight = 0;
      queue_depth->set(static_cast<double>(queue.size()));
      committed.notify_all();
      batch.clear();
    }
    if (run_retention) {
      bool more = retention_pass();
      std::lock_guard lock(mutex);
      retention_requested = false;
      ++retention_runs;
      next_retention = more ? Clock::now() : Clock::now() + options.retention_check_interval;
      committed.notify_all();
    }
    checkpoint_if_due();
    if (Clock::now() >= next_head_log) {
      if (head_id != logged_head) {
        spdlog::info("audit chain head: instance={} id={} hash={}", options.instance, head_id, head_hash);
        logged_head = head_id;
      }
      next_head_log = Clock::now() + options.head_log_interval;
    }
  }
  spdlog::info("audit log closed: instance={} head id={} hash={}", options.instance, head_id, head_hash);
}

AuditLog::AuditLog(AuditLogOptions options, observability::MetricsRegistry& metrics)
    : impl_(std::make_unique<Impl>(std::move(options), metrics)) {
  impl_->open_database();
  impl_->writer = std::thread([impl = impl_.get()] { impl->writer_loop(); });
  if (impl_->priority.available()) {
    spdlog::info("audit writer: background scheduling (SCHED_IDLE while it keeps up)");
  } else {
    spdlog::info("audit writer: normal scheduling; leaving SCHED_IDLE again needs RLIMIT_NICE >= 20 "
                 "(systemd LimitNICE=+0) or CAP_SYS_NICE");
  }
}

AuditLog::~AuditLog() { stop(); }

void AuditLog::record(AuditEvent event) {
  AuditRecord r = to_record(std::move(event));
  std::lock_guard lock(impl_->mutex);
  if (impl_->stopping || impl_->queue.size() + impl_->in_flight >= impl_->hard_limit()) {
    ++impl_->dropped;
    impl_->dropped_total->inc();
    if ((impl_->dropped & (impl_->dropped - 1)) == 0) {  // log at 1, 2, 4, 8, ... so a flood stays readable
      spdlog::error("audit log: queue at its hard limit ({} rows); {} row(s) refused so far (kind {})",
                    impl_->hard_limit(), impl_->dropped, r.kind);
    }
    return;
  }
  impl_->queue.push_back(std::move(r));
  impl_->waiting_rows.store(impl_->queue.size(), std::memory_order_relaxed);
  ++impl_->enqueued;
  impl_->queue_depth->set(static_cast<double>(impl_->queue.size() + impl_->in_flight));
  if (impl_->queue.size() == 1 || impl_->queue.size() == impl_->options.batch_size) {
    impl_->wake.notify_one();
  }
  impl_->promote_if_behind(impl_->queue.back().ts);
}

bool AuditLog::has_headroom() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->queue.size() + impl_->in_flight < impl_->options.queue_capacity;
}

std::int64_t AuditLog::committed_id() const { return impl_->committed_id.load(); }

AuditHealth AuditLog::health() const {
  AuditHealth h;
  std::lock_guard lock(impl_->mutex);
  h.writable = impl_->writable;
  h.last_error = impl_->last_error;
  h.queue_depth = impl_->queue.size() + impl_->in_flight;
  h.committed_id = impl_->committed_id.load();
  h.head_id = impl_->head_id;
  h.head_hash = impl_->head_hash;
  h.chain = impl_->key.empty() ? "sha256" : "hmac-sha256";
  h.dropped = impl_->dropped;
  return h;
}

bool AuditLog::flush(Duration timeout) {
  std::unique_lock lock(impl_->mutex);
  auto target = impl_->enqueued;
  impl_->flush_target = std::max(impl_->flush_target, target);
  if (!impl_->stopping) impl_->priority.promote();  // someone waits: no background pace
  impl_->wake.notify_one();
  return impl_->committed.wait_for(lock, timeout, [&] { return impl_->done >= target; });
}

void AuditLog::run_retention_now() {
  std::unique_lock lock(impl_->mutex);
  if (impl_->stopping) return;
  auto runs = impl_->retention_runs;
  impl_->retention_requested = true;
  impl_->wake.notify_one();
  impl_->committed.wait(lock, [&] { return impl_->retention_runs > runs; });
}

void AuditLog::stop() { stop(std::chrono::steady_clock::now() + impl_->options.stop_retry_for); }

void AuditLog::stop(std::chrono::steady_clock::time_point retry_until) {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopping && !impl_->writer.joinable()) return;
    if (!impl_->stopping) {
      impl_->priority.promote();  // the writer still runs: drain at full pace
      impl_->stop_deadline = retry_until;
      impl_->stop_started = std::chrono::steady_clock::now();
    }
    impl_->stopping = true;
    impl_->wake.notify_all();
  }
  if (impl_->writer.joinable()) impl_->writer.join();
}

}  // namespace hermes::audit
