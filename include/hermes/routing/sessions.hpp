#pragma once
// Session state behind an interface, so high availability can later move it
// to Redis without touching the pipeline. Sessions hold history turns; the
// in-memory store keeps at most `max_sessions` (least recently used leave).

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "hermes/core/message.hpp"

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

class InMemorySessionStore final : public SessionStore {
 public:
  explicit InMemorySessionStore(std::size_t max_sessions) : max_sessions_(max_sessions) {}
  Session open(const std::string& key, std::chrono::milliseconds idle_reset) override;
  void append(const std::string& key, const std::vector<ChatTurn>& turns, std::size_t max_turns) override;
  std::string reset(const std::string& key) override;
  std::size_t size() const;

 private:
  using Lru = std::list<std::string>;
  struct Entry {
    Session session;
    Lru::iterator position;
  };
  Entry& touch(const std::string& key);  // creates when absent; caller holds the lock

  std::size_t max_sessions_;
  mutable std::mutex mutex_;
  Lru lru_;  // front: most recent
  std::unordered_map<std::string, Entry> entries_;
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
