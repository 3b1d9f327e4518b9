// The outbox ledger (routing::IntakeStore) and the HTTP delivery mapping.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <algorithm>
#include <filesystem>
#include <future>
#include <thread>

#include "hermes/channels/async.hpp"
#include "hermes/net/client.hpp"
#include "hermes/routing/intake.hpp"

#include <sqlite3.h>

namespace hermes {
namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;

template <class T>
T run(asio::awaitable<T> work) {
  asio::io_context io;
  auto result = asio::co_spawn(io, std::move(work), asio::use_future);
  io.run();
  return result.get();
}

class OutboxLedger : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "hermes-outbox-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    store_ = std::make_unique<routing::IntakeStore>(dir_ / "intake.db", std::chrono::hours(24));
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void reopen() {
    store_.reset();
    store_ = std::make_unique<routing::IntakeStore>(dir_ / "intake.db", std::chrono::hours(24));
  }

  InboundMessage message(const std::string& event_id) {
    InboundMessage m;
    m.channel = "hooks";
    m.event_id = event_id;
    m.sender = "u1";
    m.text = "hi";
    return m;
  }

  std::vector<OutboxEntry> answer(const std::string& event_id, int parts) {
    std::vector<OutboxEntry> out;
    for (int i = 0; i < parts; ++i) {
      OutboxEntry e;
      e.channel = "hooks";
      e.event_id = event_id;
      e.part = i;
      e.parts = parts;
      e.conversation = "c1";
      e.thread = "t1";
      e.agent = "general";
      e.text = "part " + std::to_string(i);
      out.push_back(e);
    }
    return out;
  }

  fs::path dir_;
  std::unique_ptr<routing::IntakeStore> store_;
};

TEST_F(OutboxLedger, QueueingAnAnswerCompletesItsIntakeClaimInTheSameTransaction) {
  ASSERT_EQ(run(store_->claim(message("ev-1"))), IntakeClaim::accepted);
  ASSERT_EQ(store_->pending().size(), 1u);
  auto queued = run(store_->enqueue(answer("ev-1", 2)));
  ASSERT_TRUE(queued.has_value());
  ASSERT_EQ(queued->size(), 2u);
  EXPECT_LT((*queued)[0].id, (*queued)[1].id);
  EXPECT_TRUE(store_->pending().empty());
  auto open = store_->undelivered();
  ASSERT_EQ(open.size(), 2u);
  EXPECT_EQ(open[1].text, "part 1");
  EXPECT_EQ(open[1].thread, "t1");
  EXPECT_EQ(open[1].parts, 2);
  EXPECT_FALSE(open[0].ambiguous);
}

// Writes that arrive together share a transaction (group commit), each in its own
// savepoint: a write that fails leaves the others of its batch committed.
TEST_F(OutboxLedger, ConcurrentWritesAreCommittedTogetherAndAFailingOneAloneIsLost) {
  constexpr int kClaims = 64;
  ASSERT_EQ(run(store_->claim(message("answered"))), IntakeClaim::accepted);
  ASSERT_EQ(run(store_->claim(message("unanswered"))), IntakeClaim::accepted);
  std::vector<InboundMessage> messages;
  for (int i = 0; i < kClaims; ++i) messages.push_back(message("burst-" + std::to_string(i)));
  messages[20].event_id = messages[21].event_id;  // a retry of another event in the same burst
  auto broken = answer("unanswered", 2);
  broken[1].channel.clear();  // outbox.channel is NOT NULL: this write fails after part 0 was inserted
  asio::io_context io;
  std::vector<std::future<IntakeClaim>> claims;
  for (auto& m : messages) claims.push_back(asio::co_spawn(io, store_->claim(m), asio::use_future));
  auto good = asio::co_spawn(io, store_->enqueue(answer("answered", 2)), asio::use_future);
  auto bad = asio::co_spawn(io, store_->enqueue(broken), asio::use_future);
  std::thread second([&io] { io.run(); });
  io.run();
  second.join();

  int accepted = 0, duplicate = 0, failed = 0;
  for (auto& c : claims) {
    switch (c.get()) {
      case IntakeClaim::accepted: ++accepted; break;
      case IntakeClaim::duplicate: ++duplicate; break;
      case IntakeClaim::failed: ++failed; break;
    }
  }
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(duplicate, 1);
  EXPECT_EQ(accepted, kClaims - 1);
  auto queued = good.get();
  ASSERT_TRUE(queued.has_value());
  EXPECT_EQ(queued->size(), 2u);
  EXPECT_FALSE(bad.get().has_value()) << "the failed write reports its failure";

  reopen();  // what is on disk
  auto open = store_->undelivered();
  ASSERT_EQ(open.size(), 2u) << "the good answer's parts, none of the failed one (its part 0 rolled back)";
  EXPECT_EQ(open[0].event_id, "answered");
  auto pending = store_->pending();
  auto is_pending = [&pending](const std::string& id) {
    return std::any_of(pending.begin(), pending.end(), [&id](const InboundMessage& m) { return m.event_id == id; });
  };
  EXPECT_TRUE(is_pending("unanswered")) << "the failed answer did not complete its claim";
  EXPECT_FALSE(is_pending("answered")) << "the good answer completed its claim";
  EXPECT_EQ(pending.size(), static_cast<std::size_t>(kClaims - 1 + 1)) << "the burst's claims and 'unanswered'";
}

TEST_F(OutboxLedger, FlushWaitsForAFireAndForgetCompletion) {
  ASSERT_EQ(run(store_->claim(message("done-later"))), IntakeClaim::accepted);
  for (int i = 0; i < 200; ++i) {
    store_->complete("hooks", "done-later");
    store_->flush();
    ASSERT_TRUE(store_->pending().empty()) << "round " << i;
    ASSERT_EQ(run(store_->claim(message("done-later-" + std::to_string(i)))), IntakeClaim::accepted);
    store_->complete("hooks", "done-later-" + std::to_string(i));
  }
}

// A channel whose peer re-delivers for days keeps its answered ids longer; the others are
// pruned by the default; an answered claim keeps no message text.
TEST_F(OutboxLedger, AChannelMayRememberItsAnsweredEventsLongerAndTheyKeepNoText) {
  auto m = [this](const std::string& channel, const std::string& id) {
    auto msg = message(id);
    msg.channel = channel;
    msg.text = "secret text " + id;
    return msg;
  };
  ASSERT_EQ(run(store_->claim(m("wa", "wamid.1"))), IntakeClaim::accepted);
  ASSERT_EQ(run(store_->claim(m("hooks", "ev.1"))), IntakeClaim::accepted);
  store_->complete("wa", "wamid.1");
  store_->complete("hooks", "ev.1");
  store_->flush();
  store_.reset();
  {
    // Both answered two days ago, by the clock the store reads.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "intake.db").c_str(), &db), SQLITE_OK);
    std::string sql = "UPDATE intake SET completed_at = completed_at - " + std::to_string(48LL * 3'600'000);
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_stmt* rows = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT message FROM intake", -1, &rows, nullptr), SQLITE_OK);
    while (sqlite3_step(rows) == SQLITE_ROW) {
      EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(rows, 0)), "{}");
    }
    sqlite3_finalize(rows);
    sqlite3_close(db);
  }
  reopen();
  store_->remember_for("wa", std::chrono::hours(8 * 24));
  ASSERT_EQ(run(store_->claim(m("hooks", "ev.2"))), IntakeClaim::accepted);  // its batch prunes
  store_->flush();
  EXPECT_EQ(run(store_->claim(m("wa", "wamid.1"))), IntakeClaim::duplicate) << "kept for 8 days";
  EXPECT_EQ(run(store_->claim(m("hooks", "ev.1"))), IntakeClaim::accepted) << "pruned after 24 hours";
}

TEST_F(OutboxLedger, APeerMayFailAnEntryItHadAccepted) {
  auto queued = run(store_->enqueue(answer("ev-late", 1)));
  ASSERT_TRUE(queued && queued->size() == 1);
  auto id = (*queued)[0].id;
  run(store_->delivered(id, "wamid.OUT9"));
  EXPECT_FALSE(run(store_->failed_after_delivery("hooks", "wamid.other", "x", false)).has_value());
  EXPECT_FALSE(run(store_->failed_after_delivery("other-channel", "wamid.OUT9", "x", false)).has_value());
  auto failed = run(store_->failed_after_delivery("hooks", "wamid.OUT9", "whatsapp:131047", false));
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->id, id);
  EXPECT_EQ(failed->event_id, "ev-late");
  EXPECT_FALSE(run(store_->failed_after_delivery("hooks", "wamid.OUT9", "again", false)).has_value()) << "only once";
  EXPECT_TRUE(store_->undelivered().empty()) << "a failed entry is not sent again";
}

// WhatsApp's 131047 with a window template: the entry Meta failed is sent again, held
// until its user writes; the hold is durable.
TEST_F(OutboxLedger, ARequeuedEntryIsSentAgainAndItsHoldSurvivesARestart) {
  auto queued = run(store_->enqueue(answer("ev-window", 1)));
  ASSERT_TRUE(queued && queued->size() == 1);
  auto id = (*queued)[0].id;
  run(store_->delivered(id, "wamid.OUT7"));
  auto again = run(store_->failed_after_delivery("hooks", "wamid.OUT7", "whatsapp:131047", true));
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(run(store_->failed_after_delivery("hooks", "wamid.OUT7", "whatsapp:131047", true)).has_value())
      << "the peer's id is forgotten: a second status moves nothing";
  run(store_->hold(id, 1'000, 5'000));
  reopen();
  auto open = store_->undelivered();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].id, id);
  EXPECT_EQ(open[0].attempts, 1);
  EXPECT_EQ(open[0].held_since_ms, 1'000);
  EXPECT_EQ(open[0].held_until_ms, 5'000);
  run(store_->delivered(id, "wamid.OUT8"));
  EXPECT_TRUE(store_->undelivered().empty());
}

TEST_F(OutboxLedger, IntakeKnowsWhenAConversationLastWrote) {
  auto from = [](const std::string& conversation, const std::string& event_id) {
    InboundMessage m;
    m.channel = "wa";
    m.event_id = event_id;
    m.conversation = conversation;
    m.text = "hi";
    return m;
  };
  EXPECT_FALSE(run(store_->last_received("wa", "15550001")).has_value());
  auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  ASSERT_EQ(run(store_->claim(from("15550001", "wamid.A"))), IntakeClaim::accepted);
  store_->complete("wa", "wamid.A");  // an answered claim still counts
  store_->flush();
  auto last = run(store_->last_received("wa", "15550001"));
  ASSERT_TRUE(last.has_value());
  EXPECT_GE(*last, before);
  EXPECT_FALSE(run(store_->last_received("wa", "15550002")).has_value());
  EXPECT_FALSE(run(store_->last_received("other", "15550001")).has_value());
}

TEST_F(OutboxLedger, AnAnswerQueuedTwiceIsKeptOnce) {
  ASSERT_TRUE(run(store_->enqueue(answer("ev-2", 1)))->size() == 1);
  auto again = run(store_->enqueue(answer("ev-2", 1)));
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->empty());
  EXPECT_EQ(store_->undelivered().size(), 1u);
}

TEST_F(OutboxLedger, DeliveredAndGivenUpEntriesAreNotResumed) {
  auto queued = *run(store_->enqueue(answer("ev-3", 3)));
  run(store_->delivered(queued[0].id, "1700000000.000100"));
  run(store_->gave_up(queued[1].id, "http_400"));
  run(store_->attempt_failed(queued[2].id, "http_503"));
  run(store_->attempt_failed(queued[2].id, "http_503"));
  reopen();
  auto open = store_->undelivered();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].id, queued[2].id);
  EXPECT_EQ(open[0].attempts, 2);
  EXPECT_FALSE(open[0].ambiguous);
}

TEST_F(OutboxLedger, ASendWithoutARecordedOutcomeIsAmbiguousAfterARestart) {
  auto queued = *run(store_->enqueue(answer("ev-4", 2)));
  run(store_->attempt_started(queued[0].id));
  run(store_->attempt_started(queued[1].id));
  run(store_->attempt_failed(queued[1].id, "connect"));  // the outcome is known: not ambiguous
  reopen();
  auto open = store_->undelivered();
  ASSERT_EQ(open.size(), 2u);
  EXPECT_TRUE(open[0].ambiguous);
  EXPECT_FALSE(open[1].ambiguous);
}

TEST(HttpDelivery, StatusesMapToDeliveredRetryOrFailed) {
  net::ClientResult r;
  r.status = 200;
  EXPECT_EQ(channels::classify_http_delivery(r).result, DeliveryResult::delivered);
  r.status = 503;
  EXPECT_EQ(channels::classify_http_delivery(r).result, DeliveryResult::retry);
  EXPECT_EQ(channels::classify_http_delivery(r).detail, "http_503");
  r.status = 404;
  EXPECT_EQ(channels::classify_http_delivery(r).result, DeliveryResult::failed);
  r.status = 429;
  r.headers = {{"Retry-After", "7"}};
  auto d = channels::classify_http_delivery(r);
  EXPECT_EQ(d.result, DeliveryResult::retry);
  EXPECT_EQ(d.retry_after, std::chrono::seconds(7));
  net::ClientResult down;
  down.error = net::ClientErrorKind::connect;
  EXPECT_EQ(channels::classify_http_delivery(down).result, DeliveryResult::retry);
}

TEST(HttpDelivery, RetryAfterParsing) {
  EXPECT_EQ(net::parse_retry_after("30", std::chrono::hours(24)), std::chrono::seconds(30));
  EXPECT_EQ(net::parse_retry_after(" 2", std::chrono::hours(24)), std::chrono::seconds(2));
  EXPECT_EQ(net::parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", std::chrono::hours(24)), std::chrono::milliseconds(0));
  EXPECT_EQ(net::parse_retry_after("-5", std::chrono::hours(24)), std::chrono::milliseconds(0));
  EXPECT_EQ(net::parse_retry_after("999999999", std::chrono::hours(24)), std::chrono::hours(24));
}

}  // namespace
}  // namespace hermes
