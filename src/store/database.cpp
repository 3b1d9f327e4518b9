#include "hermes/store/database.hpp"

#include <sqlite3.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>

#include "hermes/core/thread_role.hpp"

namespace hermes::store {
namespace {

[[noreturn]] void throw_error(sqlite3* db, int rc, std::string_view context) {
  std::string msg = std::string(context) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  throw StoreError(rc, msg);
}

// Before the first connection: SQLite's memory statistics take a global mutex on every
// allocation (one lock and unlock per malloc on the audit writer); nothing reads them.
void initialize_sqlite_once() {
  static const bool initialized = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return sqlite3_initialize() == SQLITE_OK;
  }();
  (void)initialized;
}

}  // namespace

bool StoreError::disk_full() const { return (code_ & 0xff) == SQLITE_FULL; }
bool StoreError::read_only() const {
  int primary = code_ & 0xff;
  return primary == SQLITE_READONLY || primary == SQLITE_CANTOPEN || primary == SQLITE_IOERR ||
         primary == SQLITE_PERM;
}

void assert_not_io_thread([[maybe_unused]] const char* what) {
#ifndef NDEBUG
  if (this_thread_is_io()) {
    spdlog::critical("SQLite call on an io thread: {}", what);
    assert(!"SQLite call on an io thread");
  }
#endif
}

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db) {
  int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr);
  if (rc != SQLITE_OK) throw_error(db, rc, "prepare");
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement::Statement(Statement&& other) noexcept : db_(other.db_), stmt_(other.stmt_) { other.stmt_ = nullptr; }

Statement& Statement::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  if (text.empty()) {
    sqlite3_bind_null(stmt_, index);
  } else {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  return *this;
}

Statement& Statement::bind_null(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Statement& Statement::bind_optional(int index, std::int64_t value) {
  return value < 0 ? bind_null(index) : bind(index, value);
}

bool Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw_error(db_, rc, "step");
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::int64_t Statement::column_int(int index) const { return sqlite3_column_int64(stmt_, index); }

std::string Statement::column_text(int index) const {
  const auto* text = sqlite3_column_text(stmt_, index);
  return text ? std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, index)))
              : std::string();
}

bool Statement::column_is_null(int index) const { return sqlite3_column_type(stmt_, index) == SQLITE_NULL; }
int Statement::column_count() const { return sqlite3_column_count(stmt_); }
std::string Statement::column_name(int index) const { return sqlite3_column_name(stmt_, index); }

Database::Database(const std::filesystem::path& path, const OpenOptions& options) : path_(path) {
  assert_not_io_thread("open");
  initialize_sqlite_once();
  int flags = options.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  flags |= SQLITE_OPEN_NOMUTEX;  // one thread per handle
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = "cannot open " + path.string() + ": " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    sqlite3_close(db_);
    db_ = nullptr;
    throw StoreError(rc, msg);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, options.busy_timeout_ms);
  if (!options.read_only) {
    exec("PRAGMA journal_mode=WAL");
    const char* sync = options.synchronous == Synchronous::off    ? "OFF"
                       : options.synchronous == Synchronous::full ? "FULL"
                                                                  : "NORMAL";
    exec(std::string("PRAGMA synchronous=") + sync);
    exec("PRAGMA foreign_keys=ON");
    if (options.manual_checkpoints) sqlite3_wal_hook(db_, &Database::on_wal_commit, this);  // replaces autocheckpoint
    if (options.max_size_bytes > 0) {
      auto page_size = prepare("PRAGMA page_size");
      page_size.step();
      auto pages = std::max<std::int64_t>(1, static_cast<std::int64_t>(options.max_size_bytes) / page_size.column_int(0));
      exec("PRAGMA max_page_count=" + std::to_string(pages));
    }
  }
}

Database::~Database() {
  cached_.clear();
  sqlite3_close(db_);
}

void Database::exec(std::string_view sql) {
  assert_not_io_thread("exec");
  char* err = nullptr;
  int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw StoreError(sqlite3_extended_errcode(db_), std::string(sql.substr(0, 60)) + ": " + msg);
  }
}

Statement Database::prepare(std::string_view sql) {
  assert_not_io_thread("prepare");
  return Statement(db_, sql);
}

Statement& Database::cached(std::string_view sql) {
  assert_not_io_thread("cached");
  auto found = cached_.find(std::string(sql));
  if (found == cached_.end()) found = cached_.emplace(std::string(sql), Statement(db_, sql)).first;
  found->second.reset();
  return found->second;
}

int Database::on_wal_commit(void* self, sqlite3*, const char*, int frames) {
  static_cast<Database*>(self)->wal_frames_ = frames;
  return SQLITE_OK;
}

void Database::checkpoint() {
  int wal_frames = 0;
  int copied = 0;
  int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &wal_frames, &copied);
  if (rc != SQLITE_OK) throw_error(db_, rc, "checkpoint of " + path_.string());
  if (copied >= wal_frames) {
    wal_frames_ = checkpointed_frames_ = 0;  // all copied: the next commit starts the WAL over
  } else {
    wal_frames_ = wal_frames;  // a reader still needs the rest: copied next time
    checkpointed_frames_ = copied;
  }
}

int Database::changes() const { return sqlite3_changes(db_); }

int Database::schema_version() {
  auto s = prepare("PRAGMA user_version");
  s.step();
  return static_cast<int>(s.column_int(0));
}

void Database::migrate(const std::vector<std::string>& migrations) {
  for (int v = schema_version(); v < static_cast<int>(migrations.size()); ++v) {
    Transaction tx(*this);
    exec(migrations[static_cast<std::size_t>(v)]);
    exec("PRAGMA user_version=" + std::to_string(v + 1));
    tx.commit();
    spdlog::info("{}: schema migrated to version {}", path_.filename().string(), v + 1);
  }
}

namespace {

// BEGIN/COMMIT/ROLLBACK run once per batch: cached, not re-parsed by sqlite3_exec each time.
void run_cached(Database& db, std::string_view sql) {
  auto& statement = db.cached(sql);
  statement.step();
  statement.reset();
}

}  // namespace

Transaction::Transaction(Database& db) : db_(db) { run_cached(db_, "BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (!done_) {
    try {
      run_cached(db_, "ROLLBACK");
    } catch (const StoreError&) {
      // The transaction may already have been rolled back by SQLite (e.g. SQLITE_FULL).
    }
  }
}

void Transaction::commit() {
  run_cached(db_, "COMMIT");
  done_ = true;
}

}  // namespace hermes::store
