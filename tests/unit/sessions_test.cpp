#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <filesystem>

#include "hermes/routing/sessions.hpp"

namespace hermes::routing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class SqliteSessions : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "hermes-sessions-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    spdlog::set_level(spdlog::level::warn);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path db() const { return dir_ / "sessions.db"; }
  fs::path dir_;
};

TEST_F(SqliteSessions, ARestartKeepsHistoryAndIds) {
  std::string id;
  {
    SqliteSessionStore store(db(), 100, 24h);
    id = store.open("chat|acc|dm-1|", 24h).id;
    store.append("chat|acc|dm-1|", {{"user", "my name is Ada"}, {"assistant", "hello Ada"}}, 50);
    store.append("chat|acc|dm-2|", {{"user", "other user"}, {"assistant", "hi"}}, 50);
    store.flush();
  }
  SqliteSessionStore again(db(), 100, 24h);
  EXPECT_EQ(again.loaded(), 2u);
  auto s = again.open("chat|acc|dm-1|", 24h);
  EXPECT_EQ(s.id, id);
  ASSERT_EQ(s.turns.size(), 2u);
  EXPECT_EQ(s.turns[0].content, "my name is Ada");
  EXPECT_EQ(again.open("chat|acc|dm-2|", 24h).turns[0].content, "other user") << "no context crosses sessions";
}

TEST_F(SqliteSessions, ResetIsPersistedAndMaxTurnsKept) {
  {
    SqliteSessionStore store(db(), 100, 24h);
    for (int i = 0; i < 10; ++i) store.append("k", {{"user", "m" + std::to_string(i)}}, 4);
    store.append("gone", {{"user", "x"}}, 4);
    store.reset("gone");
    store.flush();
  }
  SqliteSessionStore again(db(), 100, 24h);
  auto s = again.open("k", 24h);
  ASSERT_EQ(s.turns.size(), 4u);
  EXPECT_EQ(s.turns.front().content, "m6");
  EXPECT_TRUE(again.open("gone", 24h).turns.empty());
}

TEST_F(SqliteSessions, LoadsOnlyTheNewestAndDropsIdleOnes) {
  {
    SqliteSessionStore store(db(), 100, 24h);
    for (int i = 0; i < 5; ++i) {
      store.append("s" + std::to_string(i), {{"user", "hi"}}, 10);
      store.flush();
      std::this_thread::sleep_for(5ms);
    }
  }
  SqliteSessionStore bounded(db(), 2, 24h);
  EXPECT_EQ(bounded.loaded(), 2u);
  EXPECT_FALSE(bounded.open("s4", 24h).turns.empty());
  std::this_thread::sleep_for(50ms);
  SqliteSessionStore pruned(db(), 100, 10ms);
  EXPECT_EQ(pruned.loaded(), 0u) << "sessions idle longer than idle_reset are dropped";
}

TEST(HistoryWindow, KeepsTheNewestTurnsWithinTurnAndTokenBudgets) {
  std::vector<ChatTurn> turns;
  for (int i = 0; i < 10; ++i) turns.push_back({"user", std::string(40, static_cast<char>('a' + i))});
  auto by_turns = history_window(turns, 3, 100000);
  ASSERT_EQ(by_turns.size(), 3u);
  EXPECT_EQ(by_turns.front().content[0], 'h');
  auto by_tokens = history_window(turns, 100, 25);  // ~100 chars: two 44-char turns fit
  EXPECT_EQ(by_tokens.size(), 2u);
}

TEST(SessionKey, GroupsArePerSenderAndTheApiIsStatelessWithoutAHint) {
  InboundMessage m;
  m.channel = "slack";
  m.conversation = "C1";
  m.sender = "U1";
  auto shared = session_key(m);
  m.group = true;
  auto per_sender = session_key(m);
  m.sender = "U2";
  EXPECT_NE(session_key(m), per_sender);
  EXPECT_NE(shared, per_sender);
  InboundMessage api;
  api.channel_type = "api";
  EXPECT_EQ(session_key(api), "");
  api.session_hint = "alice";
  EXPECT_FALSE(session_key(api).empty());
}

// The review's 500 KB `user` names: the key stays small and is still one session per name.
TEST(SessionKey, LongNamesAreHashedAndStayDistinct) {
  InboundMessage api;
  api.channel_type = "api";
  api.channel = "api";
  api.api_key = "ci";
  api.session_hint = std::string(500'000, 'a');
  auto long_a = session_key(api);
  EXPECT_LT(long_a.size(), 200u);
  api.session_hint.back() = 'b';
  EXPECT_NE(session_key(api), long_a);
  api.session_hint = "alice";
  EXPECT_EQ(session_key(api), "api|api|ci|alice") << "short names are kept as they are";
  EXPECT_EQ(session_owner(session_key(api)), "api|api|ci");
  EXPECT_EQ(session_owner("slack|T1|C1|"), "") << "only API sessions count per key";
  InboundMessage webhook;
  webhook.channel = "hooks";
  webhook.conversation = std::string(100'000, 'c');
  EXPECT_LT(session_key(webhook).size(), 250u);
}

TEST(SessionBounds, AKeyRecyclesItsOwnOldestSessionsNotEveryonesAndHistoryIsCapped) {
  InMemorySessionStore store(SessionBounds{100, 3, 1024});
  store.open("api|api|victim|s", 24h);
  for (int i = 0; i < 50; ++i) store.open("api|api|attacker|" + std::to_string(i), 24h);
  EXPECT_EQ(store.size(), 4u) << "three for the flooding key, one for the other";
  EXPECT_TRUE(store.peek("api|api|victim|s"));
  EXPECT_TRUE(store.peek("api|api|attacker|49"));
  EXPECT_FALSE(store.peek("api|api|attacker|46"));
  store.append("api|api|victim|s", {{"user", std::string(600, 'a')}, {"assistant", std::string(600, 'b')}}, 50);
  auto s = store.peek("api|api|victim|s");
  ASSERT_TRUE(s);
  ASSERT_EQ(s->turns.size(), 1u) << "the oldest turn went to keep the history under 1 KiB";
  EXPECT_EQ(s->turns[0].role, "assistant");
  store.append("api|api|victim|s", {{"user", std::string(5000, 'c')}}, 50);
  s = store.peek("api|api|victim|s");
  ASSERT_EQ(s->turns.size(), 1u);
  EXPECT_LE(s->turns[0].role.size() + s->turns[0].content.size(), 1024u) << "a huge turn alone is cut";
}

TEST_F(SqliteSessions, RowsPastTheBoundArePrunedWhileRunning) {
  SqliteSessionStore store(db(), SessionBounds{3, 1000, 1 << 20}, 24h);
  for (int i = 0; i < 10; ++i) {
    store.append("s" + std::to_string(i), {{"user", "hi"}}, 10);
    store.flush();
    std::this_thread::sleep_for(2ms);
  }
  store.prune();
  SqliteSessionStore reopened(db(), SessionBounds{100, 1000, 1 << 20}, 24h);
  EXPECT_EQ(reopened.loaded(), 3u) << "only the newest max_sessions rows are kept";
  EXPECT_FALSE(reopened.open("s9", 24h).turns.empty());
}

ChatTurn calling(std::string id) {
  ChatTurn t{"assistant", ""};
  t.tool_calls.push_back({id, "get_weather", R"({"q":"x"})"});
  return t;
}

ChatTurn result(std::string id) {
  ChatTurn t{"tool", "sunny"};
  t.tool_call_id = std::move(id);
  return t;
}

TEST(History, WindowsNeverStartWithAToolResultWhoseCallIsLeftOut) {
  std::vector<ChatTurn> turns{{"user", "q1"}, calling("c1"), result("c1"), result("c1b"), {"assistant", "a1"},
                              {"user", "q2"}};
  for (std::size_t max_turns = 1; max_turns <= turns.size(); ++max_turns) {
    auto window = history_window(turns, max_turns, 100000);
    ASSERT_FALSE(window.empty()) << max_turns;
    EXPECT_NE(window.front().role, "tool") << max_turns;
    for (std::size_t i = 0; i < window.size(); ++i) {
      if (window[i].role == "tool") {
        // Its call is in the window, before it.
        bool called = false;
        for (std::size_t j = 0; j < i; ++j) called = called || !window[j].tool_calls.empty();
        EXPECT_TRUE(called) << max_turns;
      }
    }
  }
  auto trimmed = turns;
  trim_history(trimmed, 40);  // about the last two turns' worth
  ASSERT_FALSE(trimmed.empty());
  EXPECT_NE(trimmed.front().role, "tool");
}

TEST(History, StructuredTurnsRoundTripAndOldRowsStillRead) {
  ChatTurn user{"user", "what is this?"};
  user.parts = R"([{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"data:,x"}}])";
  for (const auto& turn : {user, calling("c1"), result("c1"), ChatTurn{"assistant", "plain"}}) {
    EXPECT_EQ(turn_from_json(nlohmann::json::parse(turn_to_json(turn).dump())), turn);
  }
  // A row written before tool calls existed.
  EXPECT_EQ(turn_from_json(nlohmann::json::parse(R"({"role":"user","content":"hi"})")), (ChatTurn{"user", "hi"}));
  EXPECT_EQ(turn_from_json(nlohmann::json::parse("7")), ChatTurn{});
}

}  // namespace
}  // namespace hermes::routing
