#include "hermes/routing/intake.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "hermes/store/database.hpp"

namespace hermes::routing {

namespace asio = boost::asio;

namespace {

const std::vector<std::string>& intake_migrations() {
  static const std::vector<std::string> kMigrations = {R"sql(
CREATE TABLE intake (
  channel      TEXT NOT NULL,
  event_id     TEXT NOT NULL,
  received_at  INTEGER NOT NULL,        -- UTC ms
  message      TEXT NOT NULL,           -- the normalized InboundMessage (JSON)
  completed_at INTEGER,                 -- NULL while pending
  PRIMARY KEY (channel, event_id)
);
CREATE INDEX intake_pending ON intake(completed_at) WHERE completed_at IS NULL;
)sql"};
  return kMigrations;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string to_json(const InboundMessage& m) {
  nlohmann::json context = nlohmann::json::array();
  for (const auto& t : m.context) context.push_back({{"role", t.role}, {"content", t.content}});
  nlohmann::json j = {{"request_id", m.request_id}, {"traceparent", m.traceparent}, {"channel", m.channel},
                      {"channel_type", m.channel_type}, {"account", m.account}, {"conversation", m.conversation},
                      {"thread", m.thread}, {"sender", m.sender}, {"recipient", m.recipient}, {"group", m.group},
                      {"text", m.text}, {"context", context}, {"model", m.model}, {"event_id", m.event_id}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

InboundMessage message_from_json(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  InboundMessage m;
  if (!j.is_object()) return m;
  m.request_id = j.value("request_id", "");
  m.traceparent = j.value("traceparent", "");
  m.channel = j.value("channel", "");
  m.channel_type = j.value("channel_type", "");
  m.account = j.value("account", "");
  m.conversation = j.value("conversation", "");
  m.thread = j.value("thread", "");
  m.sender = j.value("sender", "");
  m.recipient = j.value("recipient", "");
  m.group = j.value("group", false);
  m.text = j.value("text", "");
  m.model = j.value("model", "");
  m.event_id = j.value("event_id", "");
  if (j.contains("context") && j["context"].is_array()) {
    for (const auto& t : j["context"]) m.context.push_back({t.value("role", ""), t.value("content", "")});
  }
  return m;
}

struct IntakeStore::Impl {
  std::unique_ptr<store::Database> db;
  std::chrono::milliseconds remember;
  asio::thread_pool writer{1};  // the one writer thread of intake.db
  std::int64_t last_prune = 0;

  Claim claim_now(const InboundMessage& m) {
    try {
      prune_if_due();
      store::Transaction tx(*db);
      auto insert = db->prepare(
          "INSERT OR IGNORE INTO intake (channel, event_id, received_at, message) VALUES (?1, ?2, ?3, ?4)");
      insert.bind(1, m.channel).bind(2, m.event_id).bind(3, now_ms()).bind(4, to_json(m)).step();
      bool inserted = sqlite3_changes_of(*db) > 0;
      tx.commit();
      return inserted ? Claim::accepted : Claim::duplicate;
    } catch (const store::StoreError& e) {
      spdlog::error("intake: cannot persist {} event {}: {}", m.channel, m.event_id, e.what());
      return Claim::failed;
    }
  }

  static int sqlite3_changes_of(store::Database& d) {
    auto s = d.prepare("SELECT changes()");
    s.step();
    return static_cast<int>(s.column_int(0));
  }

  void prune_if_due() {
    auto now = now_ms();
    if (now - last_prune < 60'000) return;
    last_prune = now;
    auto prune = db->prepare("DELETE FROM intake WHERE completed_at IS NOT NULL AND completed_at < ?1");
    prune.bind(1, now - remember.count()).step();
  }
};

namespace {

asio::awaitable<Claim> claim_on_writer(IntakeStore::Impl* impl, InboundMessage message) {
  co_return impl->claim_now(message);
}

}  // namespace

IntakeStore::IntakeStore(const std::filesystem::path& path, std::chrono::milliseconds remember)
    : impl_(std::make_unique<Impl>()) {
  std::filesystem::create_directories(path.parent_path());
  impl_->db = std::make_unique<store::Database>(path, store::OpenOptions{});
  impl_->db->migrate(intake_migrations());
  impl_->remember = remember;
}

IntakeStore::~IntakeStore() { impl_->writer.join(); }

asio::awaitable<Claim> IntakeStore::claim(InboundMessage message) {
  co_return co_await asio::co_spawn(impl_->writer.get_executor(), claim_on_writer(impl_.get(), std::move(message)),
                                    asio::use_awaitable);
}

void IntakeStore::complete(const std::string& channel, const std::string& event_id) {
  asio::post(impl_->writer, [impl = impl_.get(), channel, event_id] {
    try {
      auto done = impl->db->prepare("UPDATE intake SET completed_at = ?1 WHERE channel = ?2 AND event_id = ?3");
      done.bind(1, now_ms()).bind(2, channel).bind(3, event_id).step();
    } catch (const store::StoreError& e) {
      spdlog::error("intake: cannot complete {} event {}: {}", channel, event_id, e.what());
    }
  });
}

std::vector<InboundMessage> IntakeStore::pending() {
  std::vector<InboundMessage> out;
  auto rows = impl_->db->prepare("SELECT message FROM intake WHERE completed_at IS NULL ORDER BY received_at");
  while (rows.step()) out.push_back(message_from_json(rows.column_text(0)));
  return out;
}

void IntakeStore::flush() {
  asio::post(impl_->writer, asio::use_future).get();
}

}  // namespace hermes::routing
