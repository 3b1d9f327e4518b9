#include "hermes/routing/sessions.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "hermes/core/thread_role.hpp"

namespace hermes::routing {

InMemorySessionStore::Entry& InMemorySessionStore::touch(const std::string& key) {
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.position);
    return it->second;
  }
  while (entries_.size() >= max_sessions_ && !lru_.empty()) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(key);
  auto& e = entries_[key];
  e.position = lru_.begin();
  e.session.id = generate_session_id();
  return e;
}

Session InMemorySessionStore::open(const std::string& key, std::chrono::milliseconds idle_reset) {
  std::lock_guard lock(mutex_);
  auto& e = touch(key);
  auto now = std::chrono::system_clock::now();
  if (!e.session.turns.empty() && idle_reset.count() > 0 && now - e.session.last_active > idle_reset) {
    e.session.turns.clear();
    e.session.id = generate_session_id();
  }
  e.session.last_active = now;
  return e.session;
}

void InMemorySessionStore::append(const std::string& key, const std::vector<ChatTurn>& turns, std::size_t max_turns) {
  std::lock_guard lock(mutex_);
  auto& e = touch(key);
  e.session.turns.insert(e.session.turns.end(), turns.begin(), turns.end());
  if (e.session.turns.size() > max_turns) {
    e.session.turns.erase(e.session.turns.begin(),
                          e.session.turns.begin() + static_cast<long>(e.session.turns.size() - max_turns));
  }
  e.session.last_active = std::chrono::system_clock::now();
}

std::string InMemorySessionStore::reset(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto& e = touch(key);
  e.session.turns.clear();
  e.session.id = generate_session_id();
  return e.session.id;
}

std::size_t InMemorySessionStore::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

std::string session_key(const InboundMessage& m) {
  if (m.channel_type == "api") {
    return m.session_hint.empty() ? std::string() : "api|" + m.channel + "|" + m.api_key + "|" + m.session_hint;
  }
  std::string key = m.channel + "|" + m.account + "|" + m.conversation + "|" + m.thread;
  if (m.group) key += "|" + m.sender;  // no context ever crosses senders in a group
  return key;
}

std::vector<ChatTurn> history_window(const std::vector<ChatTurn>& turns, std::size_t max_turns,
                                     std::size_t token_budget) {
  std::size_t budget_chars = token_budget * 4;
  std::size_t used = 0;
  std::size_t first = turns.size();
  while (first > 0 && turns.size() - first < max_turns) {
    std::size_t cost = turns[first - 1].content.size() + 4;
    if (used + cost > budget_chars) break;
    used += cost;
    --first;
  }
  return {turns.begin() + static_cast<long>(first), turns.end()};
}

}  // namespace hermes::routing

namespace hermes::routing {

std::optional<Session> InMemorySessionStore::peek(const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second.session;
}

void InMemorySessionStore::restore(const std::string& key, Session session) {
  std::lock_guard lock(mutex_);
  auto& e = touch(key);
  e.session = std::move(session);
}

namespace {

const std::vector<std::string>& session_migrations() {
  static const std::vector<std::string> kMigrations = {R"sql(
CREATE TABLE sessions (
  key         TEXT PRIMARY KEY,   -- channel|account|conversation|thread[|sender]
  id          TEXT NOT NULL,
  turns       TEXT NOT NULL,      -- JSON [{"role","content"}], at most sessions.max_turns
  last_active INTEGER NOT NULL    -- UTC ms
);
CREATE INDEX sessions_last_active ON sessions(last_active);
)sql"};
  return kMigrations;
}

std::int64_t to_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

SqliteSessionStore::SqliteSessionStore(const std::filesystem::path& path, std::size_t max_in_memory,
                                       std::chrono::milliseconds idle_reset)
    : memory_(max_in_memory) {
  std::filesystem::create_directories(path.parent_path());
  db_ = std::make_unique<store::Database>(path, store::OpenOptions{});
  db_->migrate(session_migrations());
  if (idle_reset.count() > 0) {
    auto prune = db_->prepare("DELETE FROM sessions WHERE last_active < ?1");
    prune.bind(1, to_ms(std::chrono::system_clock::now()) - idle_reset.count()).step();
  }
  // Oldest first, so the newest end up most recently used in the LRU.
  auto rows = db_->prepare(
      "SELECT key, id, turns, last_active FROM (SELECT * FROM sessions ORDER BY last_active DESC LIMIT ?1) "
      "ORDER BY last_active");
  rows.bind(1, static_cast<std::int64_t>(max_in_memory));
  while (rows.step()) {
    Session s;
    s.id = rows.column_text(1);
    auto turns = nlohmann::json::parse(rows.column_text(2), nullptr, false);
    if (turns.is_array()) {
      for (const auto& t : turns) s.turns.push_back({t.value("role", ""), t.value("content", "")});
    }
    s.last_active = std::chrono::system_clock::time_point(std::chrono::milliseconds(rows.column_int(3)));
    memory_.restore(rows.column_text(0), std::move(s));
    ++loaded_;
  }
  writer_ = std::thread([this] { writer_loop(); });
}

SqliteSessionStore::~SqliteSessionStore() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
}

Session SqliteSessionStore::open(const std::string& key, std::chrono::milliseconds idle_reset) {
  Session s = memory_.open(key, idle_reset);
  schedule(key);
  return s;
}

void SqliteSessionStore::append(const std::string& key, const std::vector<ChatTurn>& turns, std::size_t max_turns) {
  memory_.append(key, turns, max_turns);
  schedule(key);
}

std::string SqliteSessionStore::reset(const std::string& key) {
  auto id = memory_.reset(key);
  schedule(key);
  return id;
}

void SqliteSessionStore::schedule(const std::string& key) {
  {
    std::lock_guard lock(mutex_);
    dirty_[key] = true;
    ++scheduled_;
  }
  wake_.notify_one();
}

void SqliteSessionStore::flush() {
  std::unique_lock lock(mutex_);
  auto target = scheduled_;
  wake_.notify_one();
  written_.wait(lock, [&] { return committed_ >= target || stopping_; });
}

void SqliteSessionStore::writer_loop() {
  name_this_thread("hermes-sessions");
  for (;;) {
    std::vector<std::string> keys;
    std::uint64_t upto = 0;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !dirty_.empty(); });
      if (dirty_.empty() && stopping_) return;
      // Let a burst coalesce: one transaction for many changes.
      wake_.wait_for(lock, std::chrono::milliseconds(20), [&] { return stopping_; });
      for (auto& [key, flag] : dirty_) keys.push_back(key);
      dirty_.clear();
      upto = scheduled_;
    }
    std::vector<std::pair<std::string, Session>> batch;
    for (const auto& key : keys) {
      if (auto s = memory_.peek(key)) batch.emplace_back(key, std::move(*s));
    }
    write(batch);
    {
      std::lock_guard lock(mutex_);
      committed_ = std::max(committed_, upto);
    }
    written_.notify_all();
  }
}

void SqliteSessionStore::write(const std::vector<std::pair<std::string, Session>>& batch) {
  try {
    store::Transaction tx(*db_);
    auto& upsert = db_->cached("INSERT OR REPLACE INTO sessions (key, id, turns, last_active) VALUES (?1, ?2, ?3, ?4)");
    for (const auto& [key, s] : batch) {
      nlohmann::json turns = nlohmann::json::array();
      for (const auto& t : s.turns) turns.push_back({{"role", t.role}, {"content", t.content}});
      upsert.bind(1, key).bind(2, s.id);
      upsert.bind(3, turns.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      upsert.bind(4, to_ms(s.last_active)).step();
      upsert.reset();
    }
    tx.commit();
  } catch (const store::StoreError& e) {
    // Memory stays authoritative; the next change to each session rewrites it.
    spdlog::error("sessions: could not persist {} session(s): {}", batch.size(), e.what());
  }
}

}  // namespace hermes::routing
