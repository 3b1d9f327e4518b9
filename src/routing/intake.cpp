#include "hermes/routing/intake.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <functional>
#include <map>
#include <mutex>
#include <future>
#include <optional>

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
)sql",
                                                      R"sql(
CREATE TABLE outbox (
  id                 INTEGER PRIMARY KEY,
  channel            TEXT NOT NULL,
  event_id           TEXT NOT NULL,
  part               INTEGER NOT NULL,
  created_at         INTEGER NOT NULL,   -- UTC ms
  entry              TEXT NOT NULL,      -- the OutboxEntry (JSON)
  attempts           INTEGER NOT NULL DEFAULT 0,
  attempt_started_at INTEGER,            -- set before a send, cleared by its outcome
  last_attempt_at    INTEGER,
  last_error         TEXT,
  delivered_at       INTEGER,
  peer_id            TEXT,
  failed_at          INTEGER,
  UNIQUE (channel, event_id, part)
);
CREATE INDEX outbox_open ON outbox(id) WHERE delivered_at IS NULL AND failed_at IS NULL;
)sql",
                                                      R"sql(
-- A peer that reports a failure after accepting a message (WhatsApp's statuses) names it
-- by the id it gave.
CREATE INDEX outbox_peer ON outbox(channel, peer_id) WHERE peer_id IS NOT NULL;
)sql",
                                                      R"sql(
-- Who wrote when (WhatsApp's 24-hour window is kept from the claims), and answers held
-- until their recipient writes again.
ALTER TABLE intake ADD COLUMN conversation TEXT;
CREATE INDEX intake_conversation ON intake(channel, conversation, received_at) WHERE conversation IS NOT NULL;
ALTER TABLE outbox ADD COLUMN held_since INTEGER;
ALTER TABLE outbox ADD COLUMN held_until INTEGER;
)sql"};
  return kMigrations;
}

// ?1 completion time, ?2 channel, ?3 event id.
// An answered claim keeps only what dedup needs: the message itself (its text) is in the
// audit log per store_text, and a long dedup retention must not keep plaintext as long.
constexpr std::string_view kCompleteClaim =
    "UPDATE intake SET completed_at = ?1, message = '{}' WHERE channel = ?2 AND event_id = ?3";

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
                      {"text", m.text}, {"context", context}, {"model", m.model}, {"event_id", m.event_id},
                      {"client", m.client.to_string()}};
  if (!m.delivery_context.empty()) j["delivery_context"] = m.delivery_context;
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
  m.delivery_context = j.value("delivery_context", "");
  if (auto client = IpAddress::parse(j.value("client", ""))) m.client = *client;
  if (j.contains("context") && j["context"].is_array()) {
    for (const auto& t : j["context"]) m.context.push_back({t.value("role", ""), t.value("content", "")});
  }
  return m;
}

namespace {

std::string entry_to_json(const OutboxEntry& e) {
  nlohmann::json j = {{"parts", e.parts},         {"request_id", e.request_id}, {"account", e.account},
                      {"conversation", e.conversation}, {"thread", e.thread},  {"recipient", e.recipient},
                      {"agent", e.agent},         {"text", e.text},             {"error_code", e.error_code}};
  if (!e.delivery_context.empty()) j["delivery_context"] = e.delivery_context;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// What entry_from_row() reads, in its order.
constexpr std::string_view kEntryColumns =
    "SELECT id, channel, event_id, part, created_at, entry, attempts, attempt_started_at, held_since, held_until ";

OutboxEntry entry_from_row(store::Statement& row) {
  OutboxEntry e;
  e.id = row.column_int(0);
  e.channel = row.column_text(1);
  e.event_id = row.column_text(2);
  e.part = static_cast<int>(row.column_int(3));
  e.created_at_ms = row.column_int(4);
  e.attempts = static_cast<int>(row.column_int(6));
  e.ambiguous = !row.column_is_null(7);
  if (!row.column_is_null(8)) e.held_since_ms = row.column_int(8);
  if (!row.column_is_null(9)) e.held_until_ms = row.column_int(9);
  auto j = nlohmann::json::parse(row.column_text(5), nullptr, false);
  if (!j.is_object()) return e;
  e.parts = j.value("parts", 1);
  e.request_id = j.value("request_id", "");
  e.account = j.value("account", "");
  e.conversation = j.value("conversation", "");
  e.thread = j.value("thread", "");
  e.recipient = j.value("recipient", "");
  e.agent = j.value("agent", "");
  e.text = j.value("text", "");
  e.error_code = j.value("error_code", "");
  e.delivery_context = j.value("delivery_context", "");
  return e;
}

}  // namespace

// Group commit: every write queued while the writer thread is busy joins the next
// transaction, each in a savepoint of its own, so one failing write does not undo the
// others. A transaction per write (a claim, an outbox entry, each delivery state) made
// the writer thread the busiest part of a Slack event. Callers still resume only once
// their write is committed. The batch lives on the writer thread: no lock.
struct IntakeStore::Impl {
  // A write: `work` runs inside the batch's transaction (a StoreError it throws rolls
  // back its savepoint); `done` learns whether it was committed.
  struct Job {
    std::function<void()> work;
    std::function<void(bool committed)> done;
  };

  std::unique_ptr<store::Database> db;
  std::chrono::milliseconds remember;
  std::mutex retention_mutex;
  std::map<std::string, std::chrono::milliseconds> retention;  // channels that remember longer
  asio::thread_pool writer{1};  // the one writer thread of intake.db
  std::int64_t last_prune = 0;
  std::vector<Job> queued;    // writer thread only
  bool drain_posted = false;  // writer thread only

  // From any thread: the job reaches the writer thread, then its batch.
  void submit_later(Job job) {
    asio::post(writer, [this, job = std::move(job)]() mutable { submit(std::move(job)); });
  }

  // On the writer thread: the job joins the batch that the next drain commits.
  void submit(Job job) {
    queued.push_back(std::move(job));
    if (drain_posted) return;
    drain_posted = true;
    asio::post(writer, [this] { drain(); });
  }

  void drain() {
    std::vector<Job> jobs;
    jobs.swap(queued);
    drain_posted = false;
    std::vector<char> ok(jobs.size(), 0);
    bool committed = false;
    try {
      store::Transaction tx(*db);
      for (std::size_t i = 0; i < jobs.size(); ++i) ok[i] = run_in_savepoint(jobs[i]);
      tx.commit();
      committed = true;
    } catch (const std::exception& e) {
      // SQLite gave up the whole transaction (disk full, I/O error) or the savepoint
      // machinery failed: every write of the batch is reported lost to its caller.
      spdlog::error("intake.db: a batch of {} write(s) could not be committed: {}", jobs.size(), e.what());
    }
    for (std::size_t i = 0; i < jobs.size(); ++i) jobs[i].done(committed && ok[i]);
    prune_if_due();  // after the batch: a failing prune must not cost its writes
  }

  bool run_in_savepoint(Job& job) {
    db->cached("SAVEPOINT job").step();
    try {
      job.work();
      db->cached("RELEASE job").step();
      return true;
    } catch (const store::StoreError&) {
      // Logged by the write itself, which knows what it was writing.
    } catch (const std::exception& e) {
      // Anything else (bad_alloc) must not end the writer thread, and with it the process.
      spdlog::error("intake.db: a write failed: {}", e.what());
    }
    db->cached("ROLLBACK TO job").step();
    db->cached("RELEASE job").step();
    return false;
  }

  Claim claim_now(const InboundMessage& m) {
    try {
      auto& insert = db->cached(
          "INSERT OR IGNORE INTO intake (channel, event_id, received_at, message, conversation) "
          "VALUES (?1, ?2, ?3, ?4, ?5)");
      insert.bind(1, m.channel).bind(2, m.event_id).bind(3, now_ms()).bind(4, to_json(m)).bind(5, m.conversation);
      insert.step();
      return db->changes() > 0 ? Claim::accepted : Claim::duplicate;
    } catch (const store::StoreError& e) {
      spdlog::error("intake: cannot persist {} event {}: {}", m.channel, m.event_id, e.what());
      throw;
    }
  }

  void prune_if_due() {
    auto now = now_ms();
    if (now - last_prune < 60'000) return;
    last_prune = now;
    std::map<std::string, std::chrono::milliseconds> longer;
    {
      std::lock_guard lock(retention_mutex);
      longer = retention;
    }
    try {
      // Claims of channels with their own retention are pruned by it, the rest by the default.
      auto prune_default = db->prepare(
          "DELETE FROM intake WHERE completed_at IS NOT NULL AND completed_at < ?1 AND channel NOT IN "
          "(SELECT value FROM json_each(?2))");
      nlohmann::json names = nlohmann::json::array();
      for (const auto& [channel, keep] : longer) names.push_back(channel);
      prune_default.bind(1, now - remember.count()).bind(2, names.dump()).step();
      for (const auto& [channel, keep] : longer) {
        auto prune_channel =
            db->prepare("DELETE FROM intake WHERE channel = ?1 AND completed_at IS NOT NULL AND completed_at < ?2");
        prune_channel.bind(1, channel).bind(2, now - keep.count()).step();
      }
      auto prune_outbox = db->prepare(
          "DELETE FROM outbox WHERE coalesce(delivered_at, failed_at) IS NOT NULL AND coalesce(delivered_at, failed_at) < ?1");
      prune_outbox.bind(1, now - remember.count()).step();
    } catch (const store::StoreError& e) {
      spdlog::error("intake.db: pruning old claims and deliveries failed (tried again in a minute): {}", e.what());
    }
  }

  // Queues the answer's parts and completes the intake claim: both or neither.
  // Throws StoreError (logged) when they could not be written.
  std::vector<OutboxEntry> enqueue_now(std::vector<OutboxEntry> parts) {
    if (parts.empty()) return parts;
    const std::string channel = parts.front().channel;
    const std::string event_id = parts.front().event_id;
    try {
      auto& insert = db->cached(
          "INSERT INTO outbox (channel, event_id, part, created_at, entry) VALUES (?1, ?2, ?3, ?4, ?5) "
          "ON CONFLICT (channel, event_id, part) DO NOTHING RETURNING id");
      auto created = now_ms();
      std::vector<OutboxEntry> queued_parts;
      for (auto& e : parts) {
        e.created_at_ms = created;
        insert.bind(1, e.channel).bind(2, e.event_id).bind(3, std::int64_t{e.part}).bind(4, created);
        insert.bind(5, entry_to_json(e));
        if (insert.step()) {  // no row: this part was queued before (a replay); never queue it twice
          e.id = insert.column_int(0);
          queued_parts.push_back(std::move(e));
        }
        insert.reset();
      }
      auto& done = db->cached(kCompleteClaim);
      done.bind(1, created).bind(2, channel).bind(3, event_id).step();
      return queued_parts;
    } catch (const store::StoreError& e) {
      spdlog::error("outbox: cannot queue the answer to {} event {}: {}", channel, event_id, e.what());
      throw;
    }
  }

  void update(std::string_view sql, std::int64_t id, std::string_view text) {
    try {
      auto& s = db->cached(sql);
      s.bind(1, now_ms()).bind(2, id);
      if (sql.find("?3") != std::string_view::npos) s.bind(3, text);
      s.step();
    } catch (const store::StoreError& e) {
      spdlog::error("outbox: cannot record the delivery state of entry {}: {}", id, e.what());
      throw;
    }
  }
};

namespace {

// Runs on the writer thread: queues `work` in the next batch and returns its result
// once the batch is committed, or `if_lost` when it was not.
template <class Result>
struct BatchWaiter {
  explicit BatchWaiter(asio::any_io_executor ex) : committed(std::move(ex), asio::steady_timer::time_point::max()) {}
  asio::steady_timer committed;  // cancelled by `done`
  std::optional<Result> result;
  bool ok = false;
};

template <class Result>
asio::awaitable<Result> in_next_batch(IntakeStore::Impl* impl, std::function<Result()> work, Result if_lost) {
  // Shared with the job, which does not rely on this frame outliving it.
  auto waiter = std::make_shared<BatchWaiter<Result>>(co_await asio::this_coro::executor);
  impl->submit({[waiter, work = std::move(work)] { waiter->result = work(); },
                [waiter](bool committed) {
                  waiter->ok = committed;
                  waiter->committed.cancel();
                }});
  co_await waiter->committed.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return waiter->ok && waiter->result ? std::move(*waiter->result) : std::move(if_lost);
}

template <class Result>
asio::awaitable<Result> batched(IntakeStore::Impl* impl, std::function<Result()> work, Result if_lost) {
  co_return co_await asio::co_spawn(impl->writer.get_executor(),
                                    in_next_batch<Result>(impl, std::move(work), std::move(if_lost)),
                                    asio::use_awaitable);
}

// A delivery state change; the caller waits for its commit, whatever the outcome.
asio::awaitable<void> update_batched(IntakeStore::Impl* impl, std::string_view sql, std::int64_t id,
                                     std::string text) {
  std::function<bool()> work = [impl, sql, id, text = std::move(text)] {
    impl->update(sql, id, text);
    return true;
  };
  co_await batched<bool>(impl, std::move(work), false);
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
  auto m = std::make_shared<InboundMessage>(std::move(message));
  std::function<Claim()> work = [impl = impl_.get(), m] { return impl->claim_now(*m); };
  co_return co_await batched<Claim>(impl_.get(), std::move(work), Claim::failed);
}

void IntakeStore::remember_for(const std::string& channel, std::chrono::milliseconds retention) {
  std::lock_guard lock(impl_->retention_mutex);
  impl_->retention[channel] = retention;
}

void IntakeStore::complete(const std::string& channel, const std::string& event_id) {
  auto work = [impl = impl_.get(), channel, event_id] {
    try {
      auto& done = impl->db->cached(kCompleteClaim);
      done.bind(1, now_ms()).bind(2, channel).bind(3, event_id).step();
    } catch (const store::StoreError& e) {
      spdlog::error("intake: cannot complete {} event {}: {}", channel, event_id, e.what());
      throw;
    }
  };
  impl_->submit_later({std::move(work), [](bool) {}});
}

void IntakeStore::set_delivery_context(const std::string& channel, const std::string& event_id,
                                       const std::string& delivery_context) {
  auto work = [impl = impl_.get(), channel, event_id, delivery_context] {
    try {
      auto& update = impl->db->cached(
          "UPDATE intake SET message = json_set(message, '$.delivery_context', ?1) "
          "WHERE channel = ?2 AND event_id = ?3 AND completed_at IS NULL");
      update.bind(1, delivery_context).bind(2, channel).bind(3, event_id).step();
    } catch (const store::StoreError& e) {
      spdlog::error("intake: cannot record the delivery context of {} event {}: {}", channel, event_id, e.what());
      throw;
    }
  };
  impl_->submit_later({std::move(work), [](bool) {}});
}

std::vector<InboundMessage> IntakeStore::pending() {
  std::vector<InboundMessage> out;
  auto rows = impl_->db->prepare("SELECT message FROM intake WHERE completed_at IS NULL ORDER BY received_at");
  while (rows.step()) out.push_back(message_from_json(rows.column_text(0)));
  return out;
}

asio::awaitable<std::optional<std::vector<OutboxEntry>>> IntakeStore::enqueue(std::vector<OutboxEntry> parts) {
  using Queued = std::optional<std::vector<OutboxEntry>>;
  auto p = std::make_shared<std::vector<OutboxEntry>>(std::move(parts));
  std::function<Queued()> work = [impl = impl_.get(), p] { return Queued(impl->enqueue_now(std::move(*p))); };
  co_return co_await batched<Queued>(impl_.get(), std::move(work), std::nullopt);
}

namespace {

// ?1 is the time, ?2 the id, ?3 the text (when used).
constexpr std::string_view kAttemptStarted = "UPDATE outbox SET attempt_started_at = ?1 WHERE id = ?2";
constexpr std::string_view kDelivered =
    "UPDATE outbox SET delivered_at = ?1, attempt_started_at = NULL, peer_id = ?3 WHERE id = ?2";
constexpr std::string_view kAttemptFailed =
    "UPDATE outbox SET attempts = attempts + 1, attempt_started_at = NULL, last_attempt_at = ?1, last_error = ?3 "
    "WHERE id = ?2";
constexpr std::string_view kGaveUp =
    "UPDATE outbox SET failed_at = ?1, attempt_started_at = NULL, last_error = ?3 WHERE id = ?2";

}  // namespace

asio::awaitable<void> IntakeStore::attempt_started(std::int64_t id) {
  co_await update_batched(impl_.get(), kAttemptStarted, id, std::string());
}

asio::awaitable<void> IntakeStore::delivered(std::int64_t id, std::string peer_id) {
  co_await update_batched(impl_.get(), kDelivered, id, std::move(peer_id));
}

asio::awaitable<void> IntakeStore::attempt_failed(std::int64_t id, std::string detail) {
  co_await update_batched(impl_.get(), kAttemptFailed, id, std::move(detail));
}

asio::awaitable<void> IntakeStore::gave_up(std::int64_t id, std::string detail) {
  co_await update_batched(impl_.get(), kGaveUp, id, std::move(detail));
}

asio::awaitable<void> IntakeStore::hold(std::int64_t id, std::int64_t since, std::int64_t until) {
  Impl* impl = impl_.get();
  std::function<bool()> work = [impl, id, since, until] {
    try {
      auto& held = impl->db->cached(
          "UPDATE outbox SET held_since = ?1, held_until = ?2, attempt_started_at = NULL WHERE id = ?3");
      held.bind(1, since).bind(2, until).bind(3, id).step();
    } catch (const store::StoreError& e) {
      spdlog::error("outbox: cannot record the hold of entry {}: {}", id, e.what());
      throw;
    }
    return true;
  };
  co_await batched<bool>(impl, std::move(work), false);
}

asio::awaitable<std::optional<OutboxEntry>> IntakeStore::failed_after_delivery(std::string channel,
                                                                                 std::string peer_id,
                                                                                 std::string detail, bool requeue) {
  Impl* impl = impl_.get();
  std::function<std::optional<OutboxEntry>()> work = [impl, channel, peer_id, detail,
                                                      requeue]() -> std::optional<OutboxEntry> {
    auto& find = impl->db->cached(std::string(kEntryColumns) +
                                  "FROM outbox WHERE channel = ?1 AND peer_id = ?2 AND delivered_at IS NOT NULL");
    find.bind(1, channel).bind(2, peer_id);
    if (!find.step()) return std::nullopt;  // unknown, or already failed: nothing changes
    OutboxEntry e = entry_from_row(find);
    find.reset();
    bool again = requeue && e.attempts < Outbox::kMaxRequeues;
    if (!again) e.attempts = Outbox::kMaxRequeues;  // tells the caller it was not requeued
    // Requeued, it is undelivered again and forgets the peer's id (a second failed status
    // for that id finds nothing) and any earlier hold.
    auto& fail = impl->db->cached(
        again ? "UPDATE outbox SET delivered_at = NULL, peer_id = NULL, attempts = attempts + 1, "
                "held_since = NULL, held_until = NULL, last_attempt_at = ?1, last_error = ?3 "
                "WHERE id = ?2"
                : "UPDATE outbox SET delivered_at = NULL, failed_at = ?1, last_error = ?3 WHERE id = ?2");
    fail.bind(1, now_ms()).bind(2, e.id).bind(3, detail).step();
    return e;
  };
  co_return co_await batched<std::optional<OutboxEntry>>(impl, std::move(work), std::nullopt);
}

asio::awaitable<std::optional<std::int64_t>> IntakeStore::last_received(std::string channel,
                                                                        std::string conversation) {
  using When = std::optional<std::int64_t>;
  Impl* impl = impl_.get();
  // On the writer thread, as every use of the handle: a read after the writes queued before it.
  std::function<When()> work = [impl, channel, conversation]() -> When {
    auto& newest = impl->db->cached(
        "SELECT max(received_at) FROM intake WHERE channel = ?1 AND conversation = ?2 AND conversation IS NOT NULL");
    newest.bind(1, channel).bind(2, conversation);
    if (!newest.step() || newest.column_is_null(0)) return std::nullopt;
    return newest.column_int(0);
  };
  co_return co_await batched<When>(impl, std::move(work), std::nullopt);
}

std::vector<OutboxEntry> IntakeStore::undelivered() {
  std::vector<OutboxEntry> out;
  auto rows = impl_->db->prepare(
      std::string(kEntryColumns) + "FROM outbox "
      "WHERE delivered_at IS NULL AND failed_at IS NULL ORDER BY id");
  while (rows.step()) out.push_back(entry_from_row(rows));
  return out;
}

void IntakeStore::flush() {
  // A job of its own, queued the way complete() queues: it is done after every write
  // queued before it.
  std::promise<void> done;
  auto committed = done.get_future();
  impl_->submit_later({[] {}, [&done](bool) { done.set_value(); }});
  committed.get();
}

}  // namespace hermes::routing
