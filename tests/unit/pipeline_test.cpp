#include "hermes/routing/pipeline.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hermes/config/config.hpp"
#include "hermes/core/audit_sink.hpp"
#include "hermes/core/backend.hpp"
#include "hermes/core/message.hpp"
#include "hermes/core/reply.hpp"
#include "hermes/observability/metrics.hpp"
#include "hermes/routing/limiter.hpp"
#include "hermes/routing/sessions.hpp"

// GCC 12 coroutine rules followed below: coroutines are free functions taking
// their parameters by value; no temporary with a destructor inside a co_await
// expression (awaitables are named first); no co_await in a condition.

namespace hermes::routing {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Keeps everything the pipeline said to the channel.
class RecordingReply final : public ReplyStream {
 public:
  asio::awaitable<void> begin(const ReplyMeta& meta) override {
    ++begins;
    this->meta = meta;
    co_return;
  }
  asio::awaitable<bool> write_delta(std::string_view delta) override {
    text.append(delta);
    co_return true;
  }
  asio::awaitable<void> finish(const Usage&, std::string_view reason) override {
    ++finishes;
    finish_reason = std::string(reason);
    co_return;
  }
  asio::awaitable<void> fail(const ReplyError& e) override {
    ++fails;
    error = e;
    co_return;
  }

  int begins = 0;
  int finishes = 0;
  int fails = 0;
  ReplyMeta meta;
  std::string text;
  std::string finish_reason;
  ReplyError error;
};

// Records every request and answers "seen:<earlier turns> last:<new text>",
// optionally after waiting on a timer (which also interleaves concurrent calls).
class FakeBackend final : public ModelBackend {
 public:
  explicit FakeBackend(std::chrono::milliseconds delay = 0ms) : delay_(delay) {}

  asio::awaitable<Completion> complete(CompletionRequest request, ReplyStream& reply) override {
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(request);
      int now = ++active_;
      peak_ = std::max(peak_, now);
    }
    if (delay_.count() > 0) {
      auto executor = co_await asio::this_coro::executor;
      asio::steady_timer timer(executor, delay_);
      auto wait = timer.async_wait(asio::use_awaitable);
      co_await std::move(wait);
    }
    std::string answer = "seen:" + std::to_string(request.messages.size() - 1) + " last:" +
                         (request.messages.empty() ? std::string() : request.messages.back().content);
    auto write = reply.write_delta(answer);
    co_await std::move(write);
    {
      std::lock_guard lock(mutex_);
      --active_;
    }
    Completion c;
    c.ok = true;
    c.streamed = true;
    c.usage.prompt_tokens = 1;
    c.usage.completion_tokens = 1;
    co_return c;
  }
  BackendHealth health() const override { return {}; }

  std::vector<CompletionRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::size_t calls() const {
    std::lock_guard lock(mutex_);
    return requests_.size();
  }
  int peak_concurrency() const {
    std::lock_guard lock(mutex_);
    return peak_;
  }

 private:
  std::chrono::milliseconds delay_;
  mutable std::mutex mutex_;
  std::vector<CompletionRequest> requests_;
  int active_ = 0;
  int peak_ = 0;
};

std::shared_ptr<const config::Config> make_config(std::uint32_t max_in_flight = 1024) {
  auto c = std::make_shared<config::Config>();
  c->gateway.max_in_flight = max_in_flight;
  config::AgentConfig agent;
  agent.name = "general";
  agent.model = "fake";
  c->agents.push_back(agent);
  config::RouteConfig route;
  route.name = "everything";
  route.agent = "general";  // no match: catch-all
  c->routes.push_back(route);
  return c;
}

// One pipeline with fresh shared state; the metrics registry outlives it.
struct Harness {
  explicit Harness(std::shared_ptr<FakeBackend> fake, std::uint32_t max_in_flight = 1024,
                   std::shared_ptr<const config::Config> config = nullptr)
      : backend(std::move(fake)) {
    shared = std::make_shared<PipelineShared>();
    shared->limiter_store = std::make_shared<InMemoryLimiterStore>();
    sessions = std::make_shared<InMemorySessionStore>(10'000);
    shared->sessions = sessions;
    PipelineOptions options;
    options.config = config ? std::move(config) : make_config(max_in_flight);
    options.backends = {{"fake", backend}};
    options.shared = shared;
    options.audit = &audit;
    options.metrics = &metrics;
    pipeline = std::make_unique<Pipeline>(std::move(options));
  }

  observability::MetricsRegistry metrics;
  MemoryAuditSink audit;
  std::shared_ptr<FakeBackend> backend;
  std::shared_ptr<InMemorySessionStore> sessions;
  std::shared_ptr<PipelineShared> shared;
  std::unique_ptr<Pipeline> pipeline;
};

InboundMessage chat_message(std::string conversation, std::string sender, std::string text, bool group = false) {
  InboundMessage m;
  m.request_id = generate_request_id();
  m.channel = "chat";
  m.channel_type = "test";
  m.conversation = std::move(conversation);
  m.sender = std::move(sender);
  m.text = std::move(text);
  m.group = group;
  return m;
}

// One message: submit it and keep the outcome.
struct Exchange {
  InboundMessage message;
  RecordingReply reply;
  Outcome outcome;
  bool done = false;
};

asio::awaitable<void> run_exchange(Pipeline* pipeline, Exchange* x) {
  auto submitted = pipeline->submit(x->message, x->reply);
  x->outcome = co_await std::move(submitted);
  x->done = true;
}

// Several messages, each submitted only after the previous one was answered.
asio::awaitable<void> run_in_order(Pipeline* pipeline, std::vector<Exchange*> exchanges) {
  for (Exchange* x : exchanges) {
    auto one = run_exchange(pipeline, x);
    co_await std::move(one);
  }
}

struct Failures {
  std::mutex mutex;
  std::vector<std::string> what;
  auto handler() {
    return [this](std::exception_ptr e) {
      if (!e) return;
      std::lock_guard lock(mutex);
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        what.push_back(ex.what());
      } catch (...) {
        what.push_back("unknown exception");
      }
    };
  }
};

void run_two_threads(asio::io_context& io) {
  std::thread other([&io] { io.run(); });
  io.run();
  other.join();
}

std::string user_text(int user, int k) { return "u" + std::to_string(user) + "-m" + std::to_string(k); }
std::string answer_to(std::size_t seen, const std::string& last) {
  return "seen:" + std::to_string(seen) + " last:" + last;
}

TEST(PipelineSessions, HistoryIsIsolatedAcross50ConcurrentUsers) {
  constexpr int kUsers = 50;
  constexpr int kMessages = 3;
  Harness h(std::make_shared<FakeBackend>(2ms));
  std::vector<std::vector<std::unique_ptr<Exchange>>> by_user(kUsers);

  asio::io_context io;
  Failures failures;
  for (int i = 0; i < kUsers; ++i) {
    std::vector<Exchange*> order;
    for (int k = 0; k < kMessages; ++k) {
      auto x = std::make_unique<Exchange>();
      x->message = chat_message("dm-" + std::to_string(i), "user-" + std::to_string(i), user_text(i, k));
      order.push_back(x.get());
      by_user[i].push_back(std::move(x));
    }
    // Each user on its own strand; users run concurrently on two threads.
    asio::co_spawn(asio::make_strand(io), run_in_order(h.pipeline.get(), order), failures.handler());
  }
  run_two_threads(io);
  ASSERT_TRUE(failures.what.empty()) << failures.what.front();

  // Users really overlapped inside the backend.
  EXPECT_GT(h.backend->peak_concurrency(), 1);

  auto requests = h.backend->requests();
  ASSERT_EQ(requests.size(), static_cast<std::size_t>(kUsers * kMessages));
  std::vector<int> seen_per_user(kUsers, 0);
  for (const auto& request : requests) {
    ASSERT_FALSE(request.messages.empty());
    const std::string& last = request.messages.back().content;
    ASSERT_EQ(last.front(), 'u') << last;
    int user = std::stoi(last.substr(1, last.find('-') - 1));
    int k = std::stoi(last.substr(last.find("-m") + 2));
    ASSERT_GE(user, 0);
    ASSERT_LT(user, kUsers);
    ++seen_per_user[user];
    EXPECT_EQ(request.agent, "general");
    // Exactly this user's earlier turns, in order, and nothing else.
    ASSERT_EQ(request.messages.size(), static_cast<std::size_t>(2 * k + 1)) << last;
    std::string prefix = "u" + std::to_string(user) + "-";
    for (int j = 0; j < k; ++j) {
      const auto& asked = request.messages[2 * j];
      const auto& answered = request.messages[2 * j + 1];
      EXPECT_EQ(asked, (ChatTurn{"user", user_text(user, j)})) << last;
      EXPECT_EQ(answered, (ChatTurn{"assistant", answer_to(2 * j, user_text(user, j))})) << last;
      EXPECT_NE(asked.content.find(prefix), std::string::npos);
      EXPECT_NE(answered.content.find(prefix), std::string::npos);
    }
    EXPECT_EQ(request.messages.back(), (ChatTurn{"user", user_text(user, k)}));
  }
  for (int i = 0; i < kUsers; ++i) EXPECT_EQ(seen_per_user[i], kMessages) << "user " << i;

  // Every reply answered, each user kept one session, and no two users shared one.
  std::vector<std::string> session_ids;
  for (int i = 0; i < kUsers; ++i) {
    for (int k = 0; k < kMessages; ++k) {
      const Exchange& x = *by_user[i][k];
      ASSERT_TRUE(x.done);
      EXPECT_EQ(x.outcome.reason, Reason::none);
      EXPECT_EQ(x.reply.begins, 1);
      EXPECT_EQ(x.reply.finishes, 1);
      EXPECT_EQ(x.reply.fails, 0);
      EXPECT_EQ(x.reply.text, answer_to(2 * k, user_text(i, k)));
      EXPECT_EQ(x.reply.meta.request_id, x.message.request_id);
      EXPECT_EQ(x.outcome.session_id, by_user[i][0]->outcome.session_id);
    }
    session_ids.push_back(by_user[i][0]->outcome.session_id);
  }
  std::sort(session_ids.begin(), session_ids.end());
  EXPECT_EQ(std::unique(session_ids.begin(), session_ids.end()), session_ids.end());
  EXPECT_EQ(h.sessions->size(), static_cast<std::size_t>(kUsers));
  EXPECT_EQ(h.shared->in_flight.load(), 0u);
}

// alice a1, bob b1, alice a2 in one conversation; returns what the backend saw for a2.
std::vector<ChatTurn> third_call_in_room(bool group, std::vector<std::string>& session_ids) {
  Harness h(std::make_shared<FakeBackend>());
  Exchange a1, b1, a2;
  a1.message = chat_message("room", "alice", "a1", group);
  b1.message = chat_message("room", "bob", "b1", group);
  a2.message = chat_message("room", "alice", "a2", group);
  asio::io_context io;
  Failures failures;
  asio::co_spawn(asio::make_strand(io), run_in_order(h.pipeline.get(), {&a1, &b1, &a2}), failures.handler());
  run_two_threads(io);
  EXPECT_TRUE(failures.what.empty());
  session_ids = {a1.outcome.session_id, b1.outcome.session_id, a2.outcome.session_id};
  auto requests = h.backend->requests();
  EXPECT_EQ(requests.size(), 3u);
  if (requests.size() != 3) return {};
  EXPECT_EQ(requests[1].messages.size(), group ? 1u : 3u);  // bob: alone, or after alice's turn
  return requests[2].messages;
}

TEST(PipelineSessions, GroupConversationsArePerSender) {
  std::vector<std::string> ids;
  auto per_sender = third_call_in_room(true, ids);
  EXPECT_EQ(per_sender, (std::vector<ChatTurn>{{"user", "a1"}, {"assistant", "seen:0 last:a1"}, {"user", "a2"}}));
  EXPECT_EQ(ids[0], ids[2]);
  EXPECT_NE(ids[0], ids[1]);

  auto shared = third_call_in_room(false, ids);
  EXPECT_EQ(shared, (std::vector<ChatTurn>{{"user", "a1"},
                                           {"assistant", "seen:0 last:a1"},
                                           {"user", "b1"},
                                           {"assistant", "seen:2 last:b1"},
                                           {"user", "a2"}}));
  EXPECT_EQ(ids[0], ids[1]);
  EXPECT_EQ(ids[0], ids[2]);
}

TEST(PipelineSessions, ResetStartsFresh) {
  Harness h(std::make_shared<FakeBackend>());
  Exchange hello, reset, after;
  hello.message = chat_message("dm-1", "user-1", "hello");
  reset.message = chat_message("dm-1", "user-1", "/reset");
  after.message = chat_message("dm-1", "user-1", "after");
  asio::io_context io;
  Failures failures;
  asio::co_spawn(asio::make_strand(io), run_in_order(h.pipeline.get(), {&hello, &reset, &after}),
                 failures.handler());
  run_two_threads(io);
  ASSERT_TRUE(failures.what.empty()) << failures.what.front();

  EXPECT_EQ(reset.outcome.reason, Reason::none);
  EXPECT_EQ(reset.reply.text, "Started a new conversation.");
  EXPECT_EQ(reset.reply.begins, 1);
  EXPECT_EQ(reset.reply.finishes, 1);
  EXPECT_EQ(reset.reply.fails, 0);
  EXPECT_EQ(reset.reply.finish_reason, "stop");
  EXPECT_NE(reset.outcome.session_id, hello.outcome.session_id);
  EXPECT_EQ(after.outcome.session_id, reset.outcome.session_id);

  auto requests = h.backend->requests();
  ASSERT_EQ(requests.size(), 2u);  // the reset never reached the backend
  EXPECT_EQ(requests[0].messages, (std::vector<ChatTurn>{{"user", "hello"}}));
  EXPECT_EQ(requests[1].messages, (std::vector<ChatTurn>{{"user", "after"}}));
  EXPECT_EQ(after.reply.text, "seen:0 last:after");

  auto events = h.audit.events();
  EXPECT_EQ(std::count_if(events.begin(), events.end(), [](const AuditEvent& e) { return e.kind == "session.reset"; }),
            1);
}

TEST(Pipeline, AuditRowsForOneMessage) {
  Harness h(std::make_shared<FakeBackend>());
  Exchange x;
  x.message = chat_message("dm-7", "user-7", "what is up");
  asio::io_context io;
  Failures failures;
  asio::co_spawn(asio::make_strand(io), run_exchange(h.pipeline.get(), &x), failures.handler());
  run_two_threads(io);
  ASSERT_TRUE(failures.what.empty()) << failures.what.front();
  ASSERT_EQ(x.outcome.reason, Reason::none);

  auto events = h.audit.events();
  std::vector<std::string> kinds;
  for (const auto& e : events) {
    kinds.push_back(e.kind);
    EXPECT_EQ(e.request_id, x.message.request_id) << e.kind;
    EXPECT_EQ(e.session_id, x.outcome.session_id) << e.kind;
    EXPECT_EQ(e.channel, "chat") << e.kind;
    EXPECT_EQ(e.sender, "user-7") << e.kind;
  }
  ASSERT_EQ(kinds, (std::vector<std::string>{"message.exchange"})) << "one row per answered message";
  const auto& row = events[0];
  EXPECT_EQ(row.text, "what is up");
  EXPECT_EQ(row.answer, "seen:0 last:what is up");
  EXPECT_EQ(row.agent, "general");
  EXPECT_EQ(row.rule, "everything");
  EXPECT_EQ(row.decision, "answered");
  EXPECT_EQ(row.status, "ok");
  EXPECT_GE(row.latency_ms, 0);
  EXPECT_EQ(row.detail_object().value("model", ""), "fake");
  EXPECT_EQ(row.detail_object().value("attempt", 0), 1);
  EXPECT_TRUE(row.detail_object().contains("backend_ms"));
  EXPECT_EQ(row.detail_object().value("channel_type", ""), x.message.channel_type);
}

TEST(Pipeline, ARejectedMessageLeavesOneRowWithWhatArrived) {
  Harness h(std::make_shared<FakeBackend>());
  Exchange x;
  x.message = chat_message("dm-8", "user-8", "hello?");
  x.message.model = "no-such-model";
  asio::io_context io;
  Failures failures;
  asio::co_spawn(asio::make_strand(io), run_exchange(h.pipeline.get(), &x), failures.handler());
  run_two_threads(io);
  ASSERT_TRUE(failures.what.empty()) << failures.what.front();
  ASSERT_EQ(x.outcome.reason, Reason::model_not_found);

  auto events = h.audit.events();
  ASSERT_EQ(events.size(), 1u) << "the refusal is the message's only row";
  const auto& row = events[0];
  EXPECT_EQ(row.kind, "route.decision");
  EXPECT_EQ(row.decision, "rejected");
  EXPECT_EQ(row.status, "model_not_found");
  EXPECT_EQ(row.request_id, x.message.request_id);
  EXPECT_EQ(row.sender, "user-8");
  EXPECT_EQ(row.text, "hello?") << "what arrived is on the refusal's row";
  EXPECT_EQ(row.detail_object().value("requested_model", ""), "no-such-model");
  EXPECT_EQ(row.detail_object().value("channel_type", ""), "test");
  EXPECT_TRUE(row.answer.empty());
}

TEST(Pipeline, ARefusalExplainingANonUtf8SenderIsStillAudited) {
  auto config = std::const_pointer_cast<config::Config>(make_config());
  config::RouteConfig outsiders;
  outsiders.name = "outsiders";
  outsiders.match = config::RouteMatch{.senders = {"*"}};
  outsiders.reject_message = "Not here.";
  config->routes.insert(config->routes.begin(), outsiders);
  Harness h(std::make_shared<FakeBackend>(), 1024, config);

  // 79 ASCII bytes then two-byte characters: the explanation's 80-byte cut lands inside one.
  Exchange long_sender, bad_byte;
  long_sender.message = chat_message("dm-9", std::string(79, 'a') + "\xc3\xa9\xc3\xa9", "bonjour");
  bad_byte.message = chat_message("dm-10", "bad\xff", "bonjour");  // a byte that is never UTF-8
  asio::io_context io;
  Failures failures;
  asio::co_spawn(asio::make_strand(io), run_in_order(h.pipeline.get(), {&long_sender, &bad_byte}),
                 failures.handler());
  run_two_threads(io);
  ASSERT_TRUE(failures.what.empty()) << failures.what.front();
  EXPECT_EQ(long_sender.outcome.reason, Reason::rejected_by_rule);
  EXPECT_EQ(bad_byte.outcome.reason, Reason::rejected_by_rule);

  auto events = h.audit.events();
  ASSERT_EQ(events.size(), 2u);
  auto why = events[0].detail_object().value("why", "");
  EXPECT_NE(why.find("sender '" + std::string(79, 'a') + "...'"), std::string::npos) << why;
  EXPECT_EQ(events[1].kind, "route.decision");
  EXPECT_NE(events[1].detail_object().value("why", "").find("sender 'bad\xef\xbf\xbd'"), std::string::npos)
      << "the byte is replaced by U+FFFD";
}

// Fails every call the way an upstream outage does.
class FailingBackend final : public ModelBackend {
 public:
  asio::awaitable<Completion> complete(CompletionRequest, ReplyStream&) override {
    Completion c;
    c.error = BackendErrorKind::http_status;
    c.upstream_status = 503;
    c.error_message = "upstream answered 503";
    co_return c;
  }
  BackendHealth health() const override { return {}; }
};

TEST(Pipeline, AFailedAnswerLeavesTheFailedCallAndTheMessagesRow) {
  Harness h(std::make_shared<FakeBackend>());
  PipelineOptions options;
  options.config = make_config();
  options.backends = {{"fake", std::make_shared<FailingBackend>()}};
  options.shared = h.shared;
  options.audit = &h.audit;
  options.metrics = &h.metrics;
  Pipeline pipeline(std::move(options));
  Exchange x;
  x.message = chat_message("dm-9", "user-9", "anyone there?");
  asio::io_context io;
  Failures failures;
  asio::co_spawn(asio::make_strand(io), run_exchange(&pipeline, &x), failures.handler());
  run_two_threads(io);
  ASSERT_TRUE(failures.what.empty()) << failures.what.front();
  EXPECT_EQ(x.outcome.reason, Reason::backend_error);
  EXPECT_EQ(x.reply.fails, 1);

  auto events = h.audit.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, "backend.call");
  EXPECT_EQ(events[0].decision, "failed");
  EXPECT_EQ(events[0].status, "http_status");
  EXPECT_EQ(events[0].detail_object().value("upstream_status", 0), 503);
  EXPECT_EQ(events[0].detail_object().value("error", ""), "upstream answered 503");
  EXPECT_EQ(events[1].kind, "message.exchange");
  EXPECT_EQ(events[1].decision, "failed");
  EXPECT_EQ(events[1].status, "backend_error");
  EXPECT_EQ(events[1].agent, "general");
  EXPECT_EQ(events[1].text, "anyone there?");
  EXPECT_EQ(events[1].detail_object().value("model", ""), "fake");
  for (const auto& e : events) EXPECT_EQ(e.request_id, x.message.request_id) << e.kind;
}

// Starts a slow message, waits until it is inside the backend, then sends a second.
asio::awaitable<void> overload_second(Pipeline* pipeline, std::shared_ptr<FakeBackend> backend, Exchange* first,
                                      Exchange* second, Failures* failures) {
  auto executor = co_await asio::this_coro::executor;
  asio::co_spawn(asio::make_strand(executor), run_exchange(pipeline, first), failures->handler());
  asio::steady_timer timer(executor);
  for (int i = 0; i < 5000; ++i) {
    if (backend->calls() > 0) break;
    timer.expires_after(1ms);
    auto wait = timer.async_wait(asio::use_awaitable);
    co_await std::move(wait);
  }
  auto one = run_exchange(pipeline, second);
  co_await std::move(one);
}

TEST(Pipeline, InFlightCapRejectsWithOverloaded) {
  auto backend = std::make_shared<FakeBackend>(300ms);
  Harness h(backend, /*max_in_flight=*/1);
  Exchange first, second;
  first.message = chat_message("dm-1", "user-1", "slow");
  second.message = chat_message("dm-2", "user-2", "too many");
  asio::io_context io;
  Failures failures;
  asio::co_spawn(asio::make_strand(io),
                 overload_second(h.pipeline.get(), backend, &first, &second, &failures), failures.handler());
  run_two_threads(io);
  ASSERT_TRUE(failures.what.empty()) << failures.what.front();

  ASSERT_TRUE(second.done);
  EXPECT_EQ(second.outcome.reason, Reason::overloaded);
  EXPECT_EQ(second.reply.fails, 1);
  EXPECT_EQ(second.reply.begins, 0);
  EXPECT_EQ(second.reply.finishes, 0);
  EXPECT_EQ(second.reply.error.reason, Reason::overloaded);
  EXPECT_EQ(second.reply.error.retry_after, std::chrono::seconds(1));

  ASSERT_TRUE(first.done);
  EXPECT_EQ(first.outcome.reason, Reason::none);
  EXPECT_EQ(first.reply.text, "seen:0 last:slow");
  EXPECT_EQ(backend->calls(), 1u);  // the rejected message never reached it

  auto events = h.audit.events();
  auto rejected = std::find_if(events.begin(), events.end(),
                               [](const AuditEvent& e) { return e.kind == "message.rejected"; });
  ASSERT_NE(rejected, events.end());
  EXPECT_EQ(rejected->request_id, second.message.request_id);
  EXPECT_EQ(rejected->status, "overloaded");
  EXPECT_EQ(h.shared->in_flight.load(), 0u);
  EXPECT_TRUE(h.pipeline->has_headroom());
}

}  // namespace
}  // namespace hermes::routing
