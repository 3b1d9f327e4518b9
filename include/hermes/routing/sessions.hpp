#pragma once
// Session state behind an interface, so high availability can later move it
// to Redis without touching the pipeline. Sessions hold history turns; the
// in-memory store keeps at most `max_sessions` (least recently used leave).

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <condition_variable>
#include <filesystem>
#include <thread>

#include "hermes/core/message.hpp"
#include "hermes/store/database.hpp"

namespace hermes::routing {

struct Session {
  std::string id;  // stable, safe to log and audit
  std::vector<ChatTurn> turns;
  std::chrono::system_clock::time_point last_active{};
};

class SessionStore {
 public:
  virtual ~SessionStore() = default;
  // The session for `key`, opened fresh when absent or idle longer than `idle_reset`.
  virtual Session open(const std::string& key, std::chrono::milliseconds idle_reset) = 0;
  // Appends turns, keeping at most `max_turns`.
  virtual void append(const std::string& key, const std::vector<ChatTurn>& turns, std::size_t max_turns) = 0;
  // Starts a new session for `key` (the /reset and /new commands); returns the new id.
  virtual std::string reset(const std::string& key) = 0;
};

// What one store may hold. Senders choose session names (the API's `user`), so every
// dimension is bounded: the count overall, the count per API key, and the history bytes
// of each session (the oldest turns go first).
struct SessionBounds {
  std::size_t max_sessions = 10'000;
  std::size_t max_per_key = 1'000;
  std::size_t max_bytes = 256 * 1024;
};

class InMemorySessionStore final : public SessionStore {
 public:
  explicit InMemorySessionStore(std::size_t max_sessions) : bounds_{max_sessions} {}
  explicit InMemorySessionStore(SessionBounds bounds) : bounds_(bounds) {}
  Session open(const std::string& key, std::chrono::milliseconds idle_reset) override;
  void append(const std::string& key, const std::vector<ChatTurn>& turns, std::size_t max_turns) override;
  std::string reset(const std::string& key) override;
  std::size_t size() const;
  // The session as stored, without touching it (for persistence).
  std::optional<Session> peek(const std::string& key) const;
  // Puts back a session loaded from disk (start-up only).
  void restore(const std::string& key, Session session);

 private:
  using Lru = std::list<std::string>;
  struct Entry {
    Session session;
    Lru::iterator position;
    std::string owner;             // the API key's part of the key; empty: not counted per key
    Lru::iterator owner_position;  // in owners_[owner]
  };
  Entry& touch(const std::string& key);  // creates when absent; caller holds the lock
  void evict(const std::string& key);   // caller holds the lock

  SessionBounds bounds_;
  mutable std::mutex mutex_;
  Lru lru_;  // front: most recent
  std::unordered_map<std::string, Entry> entries_;
  std::unordered_map<std::string, Lru> owners_;  // per API key, front: most recent
};

// The part of a session key that counts against SessionBounds::max_per_key: an API
// session's "api|channel|key"; empty for other channels (a session per conversation).
std::string_view session_owner(std::string_view key);

// Drops the oldest turns until the history is at most `max_bytes` (the newest turn is
// cut when it alone is larger).
void trim_history(std::vector<ChatTurn>& turns, std::size_t max_bytes);
// A turn as sessions.db stores it (JSON), and back; rows from before tool calls read too.
nlohmann::json turn_to_json(const ChatTurn& turn);
ChatTurn turn_from_json(const nlohmann::json& json);

// Sessions that survive a restart: the in-memory LRU in front, and every
// change written behind to SQLite (data_dir/sessions.db) by its own thread,
// coalesced per key and committed in batches, so no SQLite call ever runs on
// an io thread. At start the newest `max_sessions` sessions are loaded back. Rows idle
// longer than idle_reset are deleted, since they would reset anyway, and rows past the
// newest `max_sessions` too: at start and then every minute while running.
class SqliteSessionStore final : public SessionStore {
 public:
  SqliteSessionStore(const std::filesystem::path& path, std::size_t max_in_memory,
                     std::chrono::milliseconds idle_reset)
      : SqliteSessionStore(path, SessionBounds{max_in_memory}, idle_reset) {}
  SqliteSessionStore(const std::filesystem::path& path, SessionBounds bounds, std::chrono::milliseconds idle_reset);
  ~SqliteSessionStore() override;  // writes what is pending
  Session open(const std::string& key, std::chrono::milliseconds idle_reset) override;
  void append(const std::string& key, const std::vector<ChatTurn>& turns, std::size_t max_turns) override;
  std::string reset(const std::string& key) override;
  // Blocks until every change made before the call is committed (tests, shutdown).
  void flush();
  std::size_t loaded() const { return loaded_; }
  std::size_t in_memory() const { return memory_.size(); }
  // Deletes idle rows and rows past the newest max_sessions (the writer does it every minute).
  void prune();

 private:
  void schedule(const std::string& key);
  void writer_loop();
  void write(const std::vector<std::pair<std::string, Session>>& batch);
  void prune_rows();  // on the writer thread (or in the constructor)

  InMemorySessionStore memory_;
  std::unique_ptr<store::Database> db_;
  SessionBounds bounds_;
  std::chrono::milliseconds idle_reset_;
  std::size_t loaded_ = 0;
  bool prune_requested_ = false;
  std::mutex mutex_;
  std::condition_variable wake_, written_;
  std::unordered_map<std::string, bool> dirty_;
  std::uint64_t scheduled_ = 0, committed_ = 0;
  bool stopping_ = false;
  std::thread writer_;
};

// Session key from (channel, account, conversation, thread), per sender in
// group conversations. The API is stateless unless `user` / X-Hermes-Session
// names a session. Empty: the message has no session.
std::string session_key(const InboundMessage& m);

// The newest turns that fit both `max_turns` and an approximate token budget
// (about 4 characters per token), oldest first.
std::vector<ChatTurn> history_window(const std::vector<ChatTurn>& turns, std::size_t max_turns,
                                     std::size_t token_budget);

}  // namespace hermes::routing
