// Request and session ids: format, uniqueness, and sorting by time (the audit log's
// request_id and session_id indexes rely on it to grow at their end).
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>

#include "hermes/core/message.hpp"

namespace {

bool lower_hex(const std::string& s) { return s.find_first_not_of("0123456789abcdef") == std::string::npos; }

TEST(Ids, RequestIdIs32HexCharactersLedByTheTimeInMilliseconds) {
  auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  std::string id = hermes::generate_request_id();
  auto after = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch()).count();
  ASSERT_EQ(id.size(), 32u);
  EXPECT_TRUE(lower_hex(id)) << id;
  long long stamped = std::stoll(id.substr(0, 12), nullptr, 16);
  EXPECT_GE(stamped, before);
  EXPECT_LE(stamped, after);
}

TEST(Ids, RequestIdsSortByCreationTime) {
  std::string first = hermes::generate_request_id();
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  std::string second = hermes::generate_request_id();
  EXPECT_LT(first, second);
}

TEST(Ids, IdsAreUniqueWithinOneMillisecond) {
  std::set<std::string> requests, sessions;
  for (int i = 0; i < 10'000; ++i) {
    requests.insert(hermes::generate_request_id());
    sessions.insert(hermes::generate_session_id());
  }
  EXPECT_EQ(requests.size(), 10'000u);
  EXPECT_EQ(sessions.size(), 10'000u);
}

TEST(Ids, SessionIdIs28HexCharactersLedByTheTime) {
  auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  std::string a = hermes::generate_session_id();
  std::string b = hermes::generate_session_id();
  ASSERT_EQ(a.size(), 28u);
  EXPECT_TRUE(lower_hex(a)) << a;
  EXPECT_GE(std::stoll(a.substr(0, 12), nullptr, 16), before);
  EXPECT_NE(a.substr(12), b.substr(12)) << "64 random bits after the time";
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_LT(a, hermes::generate_session_id()) << "later sessions sort after earlier ones";
}

}  // namespace
