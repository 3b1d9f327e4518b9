#include "hermes/routing/sessions.hpp"

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
  e.session.id = generate_request_id().substr(0, 16);
  return e;
}

Session InMemorySessionStore::open(const std::string& key, std::chrono::milliseconds idle_reset) {
  std::lock_guard lock(mutex_);
  auto& e = touch(key);
  auto now = std::chrono::system_clock::now();
  if (!e.session.turns.empty() && idle_reset.count() > 0 && now - e.session.last_active > idle_reset) {
    e.session.turns.clear();
    e.session.id = generate_request_id().substr(0, 16);
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
  e.session.id = generate_request_id().substr(0, 16);
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
