#include "hermes/routing/sessions.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <utility>

#include "hermes/core/digest.hpp"
#include "hermes/core/thread_role.hpp"

namespace hermes::routing {

std::string_view session_owner(std::string_view key) {
  if (key.substr(0, 4) != "api|") return {};
  // api|<channel>|<key name>|<hint>: channel and key names are identifiers, without '|'.
  auto channel_end = key.find('|', 4);
  if (channel_end == std::string_view::npos) return {};
  auto key_end = key.find('|', channel_end + 1);
  return key_end == std::string_view::npos ? std::string_view() : key.substr(0, key_end);
}

std::size_t turn_bytes(const ChatTurn& t) {
  std::size_t n = t.role.size() + t.content.size() + t.parts.size() + t.tool_call_id.size();
  for (const auto& c : t.tool_calls) n += c.id.size() + c.name.size() + c.arguments.size();
  return n;
}

// `first` moved past `tool` results whose call is not in the window: a model refuses a
// result without the assistant turn that asked for it.
std::size_t without_orphan_results(const std::vector<ChatTurn>& turns, std::size_t first) {
  while (first < turns.size() && turns[first].role == "tool") ++first;
  return first;
}

// A turn in sessions.db: {"role","content"} as before tool calls existed (such rows still
// read), plus "parts", "tool_calls" [{id,name,arguments}] and "tool_call_id" when set.
nlohmann::json turn_to_json(const ChatTurn& t) {
  nlohmann::json j = {{"role", t.role}, {"content", t.content}};
  if (!t.parts.empty()) j["parts"] = t.parts;
  if (!t.tool_call_id.empty()) j["tool_call_id"] = t.tool_call_id;
  if (!t.tool_calls.empty()) {
    auto& calls = j["tool_calls"] = nlohmann::json::array();
    for (const auto& c : t.tool_calls) calls.push_back({{"id", c.id}, {"name", c.name}, {"arguments", c.arguments}});
  }
  return j;
}

ChatTurn turn_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return {};
  ChatTurn t{j.value("role", ""), j.value("content", "")};
  t.parts = j.value("parts", "");
  t.tool_call_id = j.value("tool_call_id", "");
  if (auto calls = j.find("tool_calls"); calls != j.end() && calls->is_array()) {
    for (const auto& c : *calls) {
      if (c.is_object()) t.tool_calls.push_back({c.value("id", ""), c.value("name", ""), c.value("arguments", "")});
    }
  }
  return t;
}

void trim_history(std::vector<ChatTurn>& turns, std::size_t max_bytes) {
  std::size_t total = 0;
  for (const auto& t : turns) total += turn_bytes(t);
  std::size_t drop = 0;
  while (total > max_bytes && drop + 1 < turns.size()) {
    total -= turn_bytes(turns[drop]);
    ++drop;
  }
  while (drop + 1 < turns.size() && turns[drop].role == "tool") total -= turn_bytes(turns[drop++]);
  turns.erase(turns.begin(), turns.begin() + static_cast<long>(drop));
  if (total > max_bytes && !turns.empty()) {
    auto& last = turns.back();
    std::size_t keep = max_bytes > last.role.size() ? max_bytes - last.role.size() : 0;
    if (last.content.size() > keep) last.content.resize(keep);  // JSON encoding replaces a cut sequence
  }
}

void InMemorySessionStore::evict(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  if (!it->second.owner.empty()) {
    auto owner = owners_.find(it->second.owner);
    owner->second.erase(it->second.owner_position);
    if (owner->second.empty()) owners_.erase(owner);
  }
  lru_.erase(it->second.position);
  entries_.erase(it);
}

InMemorySessionStore::Entry& InMemorySessionStore::touch(const std::string& key) {
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.position);
    if (!it->second.owner.empty()) {
      auto& owned = owners_[it->second.owner];
      owned.splice(owned.begin(), owned, it->second.owner_position);
    }
    return it->second;
  }
  std::string owner(session_owner(key));
  if (!owner.empty()) {
    // A key that names ever new sessions recycles its own oldest, not everyone's.
    auto owned = owners_.find(owner);
    while (owned != owners_.end() && owned->second.size() >= std::max<std::size_t>(bounds_.max_per_key, 1)) {
      std::string oldest = owned->second.back();
      evict(oldest);
      owned = owners_.find(owner);
    }
  }
  while (entries_.size() >= std::max<std::size_t>(bounds_.max_sessions, 1) && !lru_.empty()) {
    std::string oldest = lru_.back();
    evict(oldest);
  }
  lru_.push_front(key);
  auto& e = entries_[key];
  e.position = lru_.begin();
  e.session.id = generate_session_id();
  if (!owner.empty()) {
    auto& owned = owners_[owner];
    owned.push_front(key);
    e.owner = std::move(owner);
    e.owner_position = owned.begin();
  }
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
  trim_history(e.session.turns, bounds_.max_bytes);
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

namespace {
// Names a sender chose become part of a key held in memory and on disk: past this size
// they are replaced by their SHA-256 (still one session per name, at a bounded cost).
constexpr std::size_t kMaxNamePart = 128;

std::string bounded(std::string_view part) {
  if (part.size() <= kMaxNamePart) return std::string(part);
  return "sha256:" + sha256_hex(part);
}
}  // namespace

std::string session_key(const InboundMessage& m) {
  if (m.channel_type == "api") {
    return m.session_hint.empty() ? std::string()
                                  : "api|" + m.channel + "|" + m.api_key + "|" + bounded(m.session_hint);
  }
  std::string key = m.channel + "|" + bounded(m.account) + "|" + bounded(m.conversation) + "|" + bounded(m.thread);
  if (m.group) key += "|" + bounded(m.sender);  // no context ever crosses senders in a group
  return key;
}

std::vector<ChatTurn> history_window(const std::vector<ChatTurn>& turns, std::size_t max_turns,
                                     std::size_t token_budget) {
  std::size_t budget_chars = token_budget * 4;
  std::size_t used = 0;
  std::size_t first = turns.size();
  while (first > 0 && turns.size() - first < max_turns) {
    std::size_t cost = turn_bytes(turns[first - 1]) - turns[first - 1].role.size() + 4;
    if (used + cost > budget_chars) break;
    used += cost;
    --first;
  }
  first = without_orphan_results(turns, first);
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

SqliteSessionStore::SqliteSessionStore(const std::filesystem::path& path, SessionBounds bounds,
                                       std::chrono::milliseconds idle_reset)
    : memory_(bounds), bounds_(bounds), idle_reset_(idle_reset) {
  std::filesystem::create_directories(path.parent_path());
  db_ = std::make_unique<store::Database>(path, store::OpenOptions{});
  db_->migrate(session_migrations());
  prune_rows();
  const std::size_t max_in_memory = bounds.max_sessions;
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
      for (const auto& t : turns) s.turns.push_back(turn_from_json(t));
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

void SqliteSessionStore::prune() {
  {
    std::lock_guard lock(mutex_);
    prune_requested_ = true;
    ++scheduled_;
  }
  wake_.notify_one();
  flush();
}

void SqliteSessionStore::prune_rows() {
  try {
    if (idle_reset_.count() > 0) {
      auto idle = db_->prepare("DELETE FROM sessions WHERE last_active < ?1");
      idle.bind(1, to_ms(std::chrono::system_clock::now()) - idle_reset_.count()).step();
    }
    // Rows past the newest max_sessions are never loaded back: memory holds at most that many.
    auto excess = db_->prepare(
        "DELETE FROM sessions WHERE key IN (SELECT key FROM sessions ORDER BY last_active DESC LIMIT -1 OFFSET ?1)");
    excess.bind(1, static_cast<std::int64_t>(bounds_.max_sessions)).step();
  } catch (const store::StoreError& e) {
    spdlog::error("sessions: pruning failed: {}", e.what());
  }
}

void SqliteSessionStore::writer_loop() {
  name_this_thread("hermes-sessions");
  constexpr auto kPruneEvery = std::chrono::minutes(1);
  auto next_prune = std::chrono::steady_clock::now() + kPruneEvery;
  for (;;) {
    std::vector<std::string> keys;
    std::uint64_t upto = 0;
    bool prune_now = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_until(lock, next_prune, [&] { return stopping_ || !dirty_.empty() || prune_requested_; });
      if (dirty_.empty() && stopping_) return;
      prune_now = std::exchange(prune_requested_, false) || std::chrono::steady_clock::now() >= next_prune;
      if (!dirty_.empty()) {
        // Let a burst coalesce: one transaction for many changes.
        wake_.wait_for(lock, std::chrono::milliseconds(20), [&] { return stopping_; });
      }
      for (auto& [key, flag] : dirty_) keys.push_back(key);
      dirty_.clear();
      upto = scheduled_;
    }
    std::vector<std::pair<std::string, Session>> batch;
    for (const auto& key : keys) {
      if (auto s = memory_.peek(key)) batch.emplace_back(key, std::move(*s));
    }
    if (!batch.empty()) write(batch);
    if (prune_now) {
      prune_rows();
      next_prune = std::chrono::steady_clock::now() + kPruneEvery;
    }
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
      for (const auto& t : s.turns) turns.push_back(turn_to_json(t));
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
