#pragma once
// SQLite plumbing shared by the audit log, sessions and dedup: one handle with
// the pragmas we want, prepared statements, and versioned migrations.
// Blocking: never call from an io thread (asserted in debug builds).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace hermes::store {

class StoreError : public std::runtime_error {
 public:
  StoreError(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }  // the SQLite result code
  bool disk_full() const;              // SQLITE_FULL (disk or max_page_count)
  bool read_only() const;              // SQLITE_READONLY / SQLITE_CANTOPEN / SQLITE_IOERR

 private:
  int code_;
};

enum class Synchronous { off, normal, full };

struct OpenOptions {
  bool read_only = false;
  Synchronous synchronous = Synchronous::normal;
  std::uint64_t max_size_bytes = 0;  // 0: unlimited; else writes beyond fail like a full disk
  int busy_timeout_ms = 5000;
  // WAL checkpoints only when the owner calls checkpoint(), instead of SQLite's default (in
  // the committing call, once 1,000 pages wait): for an owner that also checkpoints on a clock.
  bool manual_checkpoints = false;
};

class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view text);  // empty binds NULL
  Statement& bind_null(int index);
  // Optional ints: negative values bind NULL (our "not applicable").
  Statement& bind_optional(int index, std::int64_t value);
  bool step();  // true while a row is available
  void reset();
  std::int64_t column_int(int index) const;
  std::string column_text(int index) const;  // NULL reads as ""
  bool column_is_null(int index) const;
  int column_count() const;
  std::string column_name(int index) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

class Database {
 public:
  Database(const std::filesystem::path& path, const OpenOptions& options);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void exec(std::string_view sql);
  Statement prepare(std::string_view sql);
  // The statement for `sql`, prepared on first use and kept for the life of the handle:
  // for SQL run on every batch or request, where preparing costs more than running.
  // Returned reset and unbound; one use at a time per SQL text.
  Statement& cached(std::string_view sql);
  // Rows the last INSERT, UPDATE or DELETE on this handle changed (0 when ignored).
  int changes() const;
  sqlite3* handle() const { return db_; }
  const std::filesystem::path& path() const { return path_; }

  // With manual_checkpoints: WAL frames committed since the last checkpoint copied them
  // (0 otherwise), and a PASSIVE checkpoint, which copies what no reader still needs and
  // syncs as `synchronous` says. Throws StoreError.
  std::int64_t wal_backlog() const { return wal_frames_ - checkpointed_frames_; }
  void checkpoint();

  // Applies migrations[i] for every i >= PRAGMA user_version, each in its own transaction.
  void migrate(const std::vector<std::string>& migrations);
  int schema_version();

 private:
  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
  std::int64_t wal_frames_ = 0;          // frames in the WAL after the last commit
  std::int64_t checkpointed_frames_ = 0;  // of those, copied into the database
  static int on_wal_commit(void* self, sqlite3* db, const char* schema, int frames);
  std::unordered_map<std::string, Statement> cached_;  // finalized before the handle closes
};

// RAII transaction: commits on commit(), rolls back otherwise.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  void commit();

 private:
  Database& db_;
  bool done_ = false;
};

void assert_not_io_thread(const char* what);

}  // namespace hermes::store
