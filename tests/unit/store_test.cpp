#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "hermes/core/thread_role.hpp"
#include "hermes/store/database.hpp"
#include "hermes/store/read_pool.hpp"

namespace hermes::store {
namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "hermes-store-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = dir_ / "test.db";
    saved_level_ = spdlog::get_level();
    spdlog::set_level(spdlog::level::off);
  }

  void TearDown() override {
    spdlog::set_level(saved_level_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static std::int64_t scalar(Database& db, const std::string& sql) {
    auto s = db.prepare(sql);
    EXPECT_TRUE(s.step()) << sql;
    return s.column_int(0);
  }

  static bool has_table(Database& db, const std::string& name) {
    auto s = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1");
    s.bind(1, name);
    s.step();
    return s.column_int(0) == 1;
  }

  fs::path dir_;
  fs::path path_;
  spdlog::level::level_enum saved_level_ = spdlog::level::info;
};

// --- migrations and transactions ----------------------------------------------------

TEST_F(StoreTest, MigrateAppliesEachMigrationOnce) {
  std::vector<std::string> migrations = {
      "CREATE TABLE a (x INTEGER)",
      "CREATE TABLE b (y TEXT); INSERT INTO a VALUES (1)",
  };
  {
    Database db(path_, OpenOptions{});
    EXPECT_EQ(db.schema_version(), 0);
    db.migrate(migrations);
    EXPECT_EQ(db.schema_version(), 2);
    EXPECT_EQ(scalar(db, "PRAGMA user_version"), 2);
    EXPECT_TRUE(has_table(db, "b"));
    EXPECT_EQ(scalar(db, "SELECT count(*) FROM a"), 1);

    // Re-running is a no-op (re-applying would fail: the tables exist, and would add a row).
    db.migrate(migrations);
    EXPECT_EQ(db.schema_version(), 2);
    EXPECT_EQ(scalar(db, "SELECT count(*) FROM a"), 1);
  }

  // A new migration on a reopened database applies only that one.
  migrations.push_back("INSERT INTO a VALUES (2)");
  Database db(path_, OpenOptions{});
  EXPECT_EQ(db.schema_version(), 2);
  db.migrate(migrations);
  EXPECT_EQ(db.schema_version(), 3);
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM a"), 2);
}

TEST_F(StoreTest, FailedMigrationRollsBackEntirely) {
  Database db(path_, OpenOptions{});
  const std::vector<std::string> migrations = {
      "CREATE TABLE a (x INTEGER)",
      "CREATE TABLE c (z INTEGER); INSERT INTO no_such_table VALUES (1)",
  };
  EXPECT_THROW(db.migrate(migrations), StoreError);
  EXPECT_EQ(db.schema_version(), 1);  // the first one stays applied
  EXPECT_TRUE(has_table(db, "a"));
  EXPECT_FALSE(has_table(db, "c"));
}

TEST_F(StoreTest, TransactionRollsBackUnlessCommitted) {
  Database db(path_, OpenOptions{});
  db.exec("CREATE TABLE t (x INTEGER)");
  {
    Transaction tx(db);
    db.exec("INSERT INTO t VALUES (1)");
    EXPECT_EQ(scalar(db, "SELECT count(*) FROM t"), 1);
  }
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM t"), 0);
  {
    Transaction tx(db);
    db.exec("INSERT INTO t VALUES (2)");
    tx.commit();
  }
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM t"), 1);

  // Committed data is visible to another connection.
  OpenOptions ro;
  ro.read_only = true;
  Database reader(path_, ro);
  EXPECT_EQ(scalar(reader, "SELECT x FROM t"), 2);
}

TEST_F(StoreTest, StatementBindsEmptyAndNegativeAsNull) {
  Database db(path_, OpenOptions{});
  db.exec("CREATE TABLE t (s TEXT, n INTEGER)");
  auto insert = db.prepare("INSERT INTO t VALUES (?1, ?2)");
  insert.bind(1, std::string_view("")).bind_optional(2, -1).step();
  insert.reset();
  insert.bind(1, std::string_view("x")).bind_optional(2, 0).step();
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM t WHERE s IS NULL AND n IS NULL"), 1);
  auto read = db.prepare("SELECT s, n FROM t ORDER BY rowid");
  ASSERT_TRUE(read.step());
  EXPECT_TRUE(read.column_is_null(0));
  EXPECT_EQ(read.column_text(0), "");
  ASSERT_TRUE(read.step());
  EXPECT_EQ(read.column_text(0), "x");
  EXPECT_FALSE(read.column_is_null(1));
  EXPECT_EQ(read.column_int(1), 0);
  EXPECT_FALSE(read.step());
}

// --- WAL checkpoints -----------------------------------------------------------------

TEST_F(StoreTest, ManualCheckpointsLeaveTheWalToTheOwnerAndCopyWhatNoReaderNeeds) {
  OpenOptions o;
  o.manual_checkpoints = true;
  Database db(path_, o);
  db.exec("CREATE TABLE t (b BLOB)");
  auto insert = db.prepare("INSERT INTO t VALUES (zeroblob(3000))");
  for (int i = 0; i < 1500; ++i) {  // ~1,500 pages, one commit each: past SQLite's automatic 1,000
    insert.reset();
    insert.step();
  }
  EXPECT_GT(db.wal_backlog(), 1500);
  EXPECT_LT(fs::file_size(path_), 64u * 1024);  // nothing copied into the database yet

  db.checkpoint();
  EXPECT_EQ(db.wal_backlog(), 0);
  EXPECT_GT(fs::file_size(path_), 1500u * 3000);

  // A reader's snapshot keeps the frames written after it out of the database.
  OpenOptions ro;
  ro.read_only = true;
  Database reader(path_, ro);
  reader.exec("BEGIN");
  EXPECT_EQ(scalar(reader, "SELECT count(*) FROM t"), 1500);
  insert.reset();
  insert.step();
  ASSERT_GT(db.wal_backlog(), 0);
  db.checkpoint();
  EXPECT_GT(db.wal_backlog(), 0);
  reader.exec("COMMIT");
  db.checkpoint();
  EXPECT_EQ(db.wal_backlog(), 0);
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM t"), 1501);
}

TEST_F(StoreTest, ErrorsAreClassified) {
  {
    Database db(path_, OpenOptions{});
    db.exec("CREATE TABLE t (b BLOB)");
  }
  OpenOptions capped;
  capped.max_size_bytes = 1;  // capped at the current size
  Database db(path_, capped);
  try {
    db.exec("INSERT INTO t VALUES (zeroblob(100000))");
    ADD_FAILURE() << "the insert should not fit";
  } catch (const StoreError& e) {
    EXPECT_TRUE(e.disk_full()) << e.code() << " " << e.what();
    EXPECT_FALSE(e.read_only());
  }

  OpenOptions ro;
  ro.read_only = true;
  Database reader(path_, ro);
  try {
    reader.exec("INSERT INTO t VALUES (1)");
    ADD_FAILURE() << "a read-only handle wrote";
  } catch (const StoreError& e) {
    EXPECT_TRUE(e.read_only()) << e.code() << " " << e.what();
    EXPECT_FALSE(e.disk_full());
  }

  EXPECT_THROW(Database(dir_ / "missing" / "x.db", ro), StoreError);
}

// --- the read pool -------------------------------------------------------------------

TEST_F(StoreTest, ReadPoolRunsOnPoolThreadsAndPropagatesExceptions) {
  {
    Database db(path_, OpenOptions{});
    db.exec("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2), (3)");
  }
  ReadPool pool(path_, 2);
  asio::io_context io;
  std::thread::id io_thread;
  std::thread::id query_thread;
  std::thread::id resumed_thread;
  std::int64_t count = 0;
  std::string runtime_error, store_error;
  bool write_refused = false;
  bool finished = false;
  std::exception_ptr escaped;

  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        io_thread = std::this_thread::get_id();
        co_await pool.run([&](Database& db) {
          query_thread = std::this_thread::get_id();
          count = scalar(db, "SELECT count(*) FROM t");
        });
        resumed_thread = std::this_thread::get_id();

        try {
          co_await pool.run([](Database&) { throw std::runtime_error("boom"); });
        } catch (const std::runtime_error& e) {
          runtime_error = e.what();
        }
        try {
          co_await pool.run([](Database& db) { db.prepare("SELECT * FROM no_such_table"); });
        } catch (const StoreError& e) {
          store_error = e.what();
        }
        try {
          co_await pool.run([](Database& db) { db.exec("INSERT INTO t VALUES (4)"); });
        } catch (const StoreError& e) {
          write_refused = e.read_only();
        }
        // The pool still works after a query failed (its handle was dropped).
        co_await pool.run([&](Database& db) { count = scalar(db, "SELECT sum(x) FROM t"); });
        finished = true;
      },
      [&](std::exception_ptr e) { escaped = e; });

  // The io thread is marked as such: in a debug build any SQLite call on it would abort.
  std::thread runner([&] {
    mark_this_thread_as_io();
    io.run();
  });
  runner.join();

  EXPECT_FALSE(escaped) << "an exception escaped the coroutine";
  EXPECT_TRUE(finished);
  EXPECT_NE(query_thread, std::thread::id());
  EXPECT_NE(query_thread, io_thread);
  EXPECT_NE(query_thread, std::this_thread::get_id());
  EXPECT_EQ(resumed_thread, io_thread) << "the caller resumes on its own executor";
  EXPECT_EQ(count, 6);
  EXPECT_EQ(runtime_error, "boom");
  EXPECT_NE(store_error.find("no_such_table"), std::string::npos) << store_error;
  EXPECT_TRUE(write_refused);
}

// --- io-thread guard -----------------------------------------------------------------

TEST(StoreDeathTest, ExecOnAnIoThreadAbortsInDebugBuilds) {
#ifdef NDEBUG
  GTEST_SKIP() << "assert_not_io_thread is a no-op in release builds";
#else
  // In memory: the re-executed child creates no files it could not clean up.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Database db(":memory:", OpenOptions{});
  db.exec("SELECT 1");  // fine on an ordinary thread
  EXPECT_DEATH(
      {
        mark_this_thread_as_io();
        db.exec("SELECT 1");
      },
      "SQLite call on an io thread");
#endif
}

}  // namespace
}  // namespace hermes::store
