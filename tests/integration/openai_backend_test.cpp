// The openai backend against a stand-in upstream that speaks the real wire
// format (tests/peers/openai_upstream.mjs), driven directly through an
// io_context with a recording ReplyStream; and the echo backend.
#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <nlohmann/json.hpp>
#include <thread>

#include "harness.hpp"
#include "hermes/backends/echo.hpp"
#include "hermes/backends/openai.hpp"
#include "hermes/net/client.hpp"
#include "node_peer.hpp"

namespace hermes::test {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

// Records every delta with its arrival time; refuses after `accept` of them,
// as a channel does when its client has gone away.
class RecordingReply final : public ReplyStream {
 public:
  std::vector<std::string> deltas;
  std::vector<Clock::time_point> times;
  std::size_t accept = std::numeric_limits<std::size_t>::max();

  asio::awaitable<void> begin(const ReplyMeta&) override { co_return; }
  asio::awaitable<bool> write_delta(std::string_view text) override {
    deltas.emplace_back(text);
    times.push_back(Clock::now());
    co_return deltas.size() < accept;
  }
  asio::awaitable<void> finish(const Usage&, std::string_view) override { co_return; }
  asio::awaitable<void> fail(const ReplyError&) override { co_return; }

  std::string text() const {
    std::string out;
    for (const auto& d : deltas) out += d;
    return out;
  }
};

// Runs `work` on a strand of `io` to completion; with `cancel_after`, emits a
// terminal cancellation into it after that long.
template <class T>
T run(asio::io_context& io, asio::awaitable<T> work, std::optional<Clock::duration> cancel_after = std::nullopt) {
  asio::cancellation_signal cancel;
  asio::steady_timer timer(io);
  std::optional<T> result;
  std::exception_ptr failure;
  asio::co_spawn(asio::make_strand(io), std::move(work),
                 asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e, T value) {
                   failure = e;
                   result = std::move(value);
                   timer.cancel();
                   io.stop();
                 }));
  if (cancel_after) {
    timer.expires_after(*cancel_after);
    timer.async_wait([&](boost::system::error_code ec) {
      if (!ec) cancel.emit(asio::cancellation_type::terminal);
    });
  }
  io.restart();
  io.run();
  if (failure) std::rethrow_exception(failure);
  return std::move(*result);
}

CompletionRequest chat(std::string text) {
  CompletionRequest r;
  r.request_id = "req-42";
  r.agent = "general";
  r.rule = "default";
  r.messages = {{"system", "be brief"}, {"user", std::move(text)}};
  r.deadline = Clock::now() + 5s;
  return r;
}

class OpenAiBackend : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    peer_ = new NodePeer("tests/peers/openai_upstream.mjs");
    if (!peer_->start()) {
      peer_error_ = peer_->error();
    }
  }
  static void TearDownTestSuite() {
    delete peer_;
    peer_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(peer_error_.empty()) << peer_error_;
    http_request(peer_->port(), "DELETE", "/_requests");
  }

  backends::openai::Spec spec(const std::string& model) const {
    backends::openai::Spec s;
    s.name = "gpt";
    s.type = "openai";
    s.base_url = "http://127.0.0.1:" + std::to_string(peer_->port()) + "/v1";
    s.model = model;
    s.api_key = Secret("sk-test-configured-key", "inline");
    s.timeout = 5s;
    s.first_byte_timeout = 2s;
    return s;
  }
  std::unique_ptr<ModelBackend> backend(const backends::openai::Spec& s) {
    return backends::openai::create(s, deps_);
  }
  std::unique_ptr<ModelBackend> backend(const std::string& model) { return backend(spec(model)); }

  Completion complete(ModelBackend& b, CompletionRequest request, RecordingReply& reply,
                      std::optional<Clock::duration> cancel_after = std::nullopt) {
    return run(io_, b.complete(std::move(request), reply), cancel_after);
  }

  static json requests() {
    auto r = http_get(peer_->port(), "/_requests");
    return json::parse(r.body, nullptr, false);
  }
  // Waits until the peer has noticed the client leave (it learns asynchronously).
  static bool peer_saw_disconnect(std::chrono::milliseconds timeout = 2s) {
    auto until = Clock::now() + timeout;
    while (Clock::now() < until) {
      auto all = requests();
      if (all.is_array() && !all.empty() && all.back().value("client_disconnected", false)) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  static NodePeer* peer_;
  static std::string peer_error_;
  asio::io_context io_;
  net::HttpClient http_{io_};
  backends::BackendDeps deps_{io_, http_};
};

NodePeer* OpenAiBackend::peer_ = nullptr;
std::string OpenAiBackend::peer_error_;

TEST_F(OpenAiBackend, StreamsDeltasAsTheyArrive) {
  auto b = backend("mock-slow");
  RecordingReply reply;
  auto started = Clock::now();
  auto c = complete(*b, chat("hello slow world"), reply);
  auto elapsed = Clock::now() - started;
  ASSERT_TRUE(c.ok) << c.error_message;
  EXPECT_EQ(reply.text(), "mock:hello slow world");
  ASSERT_EQ(reply.deltas.size(), 4u);
  // Paced 100 ms apart: the first delta was passed on long before the last arrived.
  EXPECT_GE(reply.times.back() - reply.times.front(), 250ms);
  EXPECT_LT(c.time_to_first_token, elapsed - 200ms);
  EXPECT_TRUE(c.streamed);
  EXPECT_EQ(c.finish_reason, "stop");
  EXPECT_EQ(c.upstream_status, 200);
  EXPECT_GT(c.usage.prompt_tokens, 0);
  EXPECT_EQ(c.usage.completion_tokens, 6);  // ceil(21 / 4), as the peer counts
}

TEST_F(OpenAiBackend, SendsTheConfiguredKeyAndForwardsTracing) {
  auto b = backend("mock-echo");
  RecordingReply reply;
  auto request = chat("hi");
  request.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  request.max_tokens = 64;
  request.temperature = 0.5;
  auto c = complete(*b, request, reply);
  ASSERT_TRUE(c.ok) << c.error_message;
  EXPECT_EQ(reply.text(), "mock:hi");

  auto all = requests();
  ASSERT_EQ(all.size(), 1u) << all.dump();
  const auto& r = all[0];
  EXPECT_EQ(r["path"], "/v1/chat/completions");
  EXPECT_EQ(r["headers"]["authorization"], "Bearer sk-test-configured-key");
  EXPECT_EQ(r["headers"]["x-request-id"], "req-42");
  EXPECT_EQ(r["headers"]["traceparent"], request.traceparent);
  EXPECT_EQ(r["headers"]["accept"], "text/event-stream");
  EXPECT_EQ(r["headers"]["content-type"], "application/json");
  const auto& body = r["body"];
  EXPECT_EQ(body["model"], "mock-echo");
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
  EXPECT_EQ(body["max_tokens"], 64);
  EXPECT_EQ(body["temperature"], 0.5);
  ASSERT_EQ(body["messages"].size(), 2u);
  EXPECT_EQ(body["messages"][0], (json{{"role", "system"}, {"content", "be brief"}}));
  EXPECT_EQ(body["messages"][1], (json{{"role", "user"}, {"content", "hi"}}));
}

TEST_F(OpenAiBackend, NoAuthorizationHeaderWithoutAKey) {
  auto s = spec("mock-echo");
  s.api_key = Secret();
  auto b = backend(s);
  RecordingReply reply;
  ASSERT_TRUE(complete(*b, chat("x"), reply).ok);
  auto all = requests();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_FALSE(all[0]["headers"].contains("authorization"));
}

TEST_F(OpenAiBackend, AcceptsANonStreamingAnswer) {
  auto b = backend("mock-nostream");
  RecordingReply reply;
  auto c = complete(*b, chat("whole"), reply);
  ASSERT_TRUE(c.ok) << c.error_message;
  EXPECT_EQ(reply.deltas, std::vector<std::string>{"mock:whole"});
  EXPECT_EQ(c.finish_reason, "stop");
  EXPECT_TRUE(c.usage.reported());
}

TEST_F(OpenAiBackend, AcceptsAFinalEventWithoutItsBlankLine) {
  auto b = backend("mock-tail");
  RecordingReply reply;
  auto c = complete(*b, chat("end"), reply);
  ASSERT_TRUE(c.ok) << c.error_message;
  EXPECT_EQ(reply.text(), "mock:end");
  EXPECT_EQ(c.finish_reason, "length");  // read from the unterminated last event
}

TEST_F(OpenAiBackend, ServerErrorIsHttpStatus) {
  auto b = backend("mock-500");
  RecordingReply reply;
  auto c = complete(*b, chat("x"), reply);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.error, BackendErrorKind::http_status);
  EXPECT_EQ(c.upstream_status, 500);
  EXPECT_NE(c.error_message.find("The server had an error"), std::string::npos) << c.error_message;
  EXPECT_EQ(c.error_message.find("sk-test"), std::string::npos);
  EXPECT_FALSE(c.streamed);
  EXPECT_TRUE(reply.deltas.empty());
}

TEST_F(OpenAiBackend, UpstreamMessagesNeverEchoTheKey) {
  auto b = backend("mock-401");
  RecordingReply reply;
  auto c = complete(*b, chat("x"), reply);
  EXPECT_EQ(c.error, BackendErrorKind::http_status);
  EXPECT_EQ(c.upstream_status, 401);
  EXPECT_NE(c.error_message.find("Incorrect API key provided"), std::string::npos) << c.error_message;
  EXPECT_EQ(c.error_message.find("configured-key"), std::string::npos) << c.error_message;
}

TEST_F(OpenAiBackend, TooManyRequestsIsRateLimited) {
  auto b = backend("mock-429");
  RecordingReply reply;
  auto c = complete(*b, chat("x"), reply);
  EXPECT_EQ(c.error, BackendErrorKind::rate_limited);
  EXPECT_EQ(c.upstream_status, 429);
  EXPECT_NE(c.error_message.find("Rate limit reached"), std::string::npos) << c.error_message;
  EXPECT_NE(c.error_message.find("Retry-After: 1"), std::string::npos) << c.error_message;
}

TEST_F(OpenAiBackend, MalformedStreamIsAProtocolError) {
  auto b = backend("mock-garbage");
  RecordingReply reply;
  auto c = complete(*b, chat("x"), reply);
  EXPECT_EQ(c.error, BackendErrorKind::protocol) << c.error_message;
  EXPECT_NE(c.error_message.find("malformed JSON"), std::string::npos) << c.error_message;
  EXPECT_EQ(reply.text(), "ok");
  EXPECT_TRUE(c.streamed);
}

TEST_F(OpenAiBackend, ResetMidStreamIsAProtocolErrorAfterStreaming) {
  auto b = backend("mock-reset");
  RecordingReply reply;
  auto c = complete(*b, chat("x"), reply);
  EXPECT_EQ(c.error, BackendErrorKind::protocol) << c.error_message;
  EXPECT_TRUE(c.streamed);
  EXPECT_EQ(reply.text(), "one two ");
  EXPECT_EQ(c.error_message.find("sk-test"), std::string::npos);
}

TEST_F(OpenAiBackend, HangingUpstreamTimesOutAtFirstByteTimeout) {
  auto s = spec("mock-hang");
  s.first_byte_timeout = 300ms;
  auto b = backend(s);
  RecordingReply reply;
  auto started = Clock::now();
  auto c = complete(*b, chat("x"), reply);
  auto elapsed = Clock::now() - started;
  EXPECT_EQ(c.error, BackendErrorKind::timeout) << c.error_message;
  EXPECT_GE(elapsed, 280ms);
  EXPECT_LT(elapsed, 1500ms);
  EXPECT_FALSE(c.streamed);
}

TEST_F(OpenAiBackend, RequestDeadlineEndsALongStream) {
  auto b = backend("mock-long");
  RecordingReply reply;
  auto request = chat("x");
  request.deadline = Clock::now() + 300ms;
  auto started = Clock::now();
  auto c = complete(*b, request, reply);
  EXPECT_EQ(c.error, BackendErrorKind::timeout) << c.error_message;
  EXPECT_LT(Clock::now() - started, 1s);
  EXPECT_TRUE(c.streamed);
  EXPECT_FALSE(reply.deltas.empty());
}

TEST_F(OpenAiBackend, ClientGoneAbortsTheUpstreamRequest) {
  auto b = backend("mock-long");
  RecordingReply reply;
  reply.accept = 3;
  auto started = Clock::now();
  auto c = complete(*b, chat("x"), reply);
  EXPECT_EQ(c.error, BackendErrorKind::cancelled) << c.error_message;
  EXPECT_EQ(reply.deltas.size(), 3u);
  EXPECT_TRUE(c.streamed);
  EXPECT_LT(Clock::now() - started, 1s);  // the whole answer would take 2 s
  EXPECT_TRUE(peer_saw_disconnect()) << requests().dump();
  EXPECT_EQ(http_.idle_connections(), 0u);  // an aborted connection is not reused
}

TEST_F(OpenAiBackend, CoroutineCancellationAbortsTheUpstreamRequest) {
  auto b = backend("mock-long");
  RecordingReply reply;
  auto started = Clock::now();
  auto c = complete(*b, chat("x"), reply, 200ms);
  EXPECT_EQ(c.error, BackendErrorKind::cancelled) << c.error_message;
  EXPECT_LT(Clock::now() - started, 1s);
  EXPECT_TRUE(peer_saw_disconnect()) << requests().dump();
}

TEST_F(OpenAiBackend, SequentialRequestsReuseOneConnection) {
  auto b = backend("mock-echo");
  RecordingReply first, second;
  ASSERT_TRUE(complete(*b, chat("one"), first).ok);
  EXPECT_EQ(http_.idle_connections(), 1u);
  ASSERT_TRUE(complete(*b, chat("two"), second).ok);
  EXPECT_EQ(second.text(), "mock:two");
  auto all = requests();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0]["remote_port"], all[1]["remote_port"]) << all.dump();
}

TEST_F(OpenAiBackend, ErrorAnswersDoNotSpoilTheConnection) {
  auto b500 = backend("mock-500");
  auto ok = backend("mock-echo");
  RecordingReply r1, r2;
  EXPECT_EQ(complete(*b500, chat("x"), r1).error, BackendErrorKind::http_status);
  EXPECT_TRUE(complete(*ok, chat("y"), r2).ok);
  auto all = requests();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0]["remote_port"], all[1]["remote_port"]);
}

TEST_F(OpenAiBackend, ConnectionRefusedIsAConnectError) {
  auto s = spec("mock-echo");
  s.base_url = "http://127.0.0.1:" + std::to_string(free_port()) + "/v1";
  auto b = backend(s);
  RecordingReply reply;
  auto c = complete(*b, chat("x"), reply);
  EXPECT_EQ(c.error, BackendErrorKind::connect) << c.error_message;
  EXPECT_NE(c.error_message.find("127.0.0.1"), std::string::npos) << c.error_message;
  EXPECT_FALSE(c.streamed);
}

TEST_F(OpenAiBackend, HealthTurnsBadAfterRepeatedFailures) {
  auto s = spec("mock-500");
  auto b = backend(s);
  EXPECT_TRUE(b->health().healthy);
  for (int i = 0; i < 3; ++i) {
    RecordingReply reply;
    complete(*b, chat("x"), reply);
  }
  EXPECT_FALSE(b->health().healthy);
  EXPECT_NE(b->health().detail.find("HTTP 500"), std::string::npos) << b->health().detail;
}

// ---- echo ----

class EchoBackend : public ::testing::Test {
 protected:
  std::unique_ptr<ModelBackend> backend(std::uint32_t chunks, Duration delay) {
    backends::echo::Spec s;
    s.name = "demo";
    s.type = "echo";
    s.chunks = chunks;
    s.delay = delay;
    return backends::echo::create(s, deps_);
  }
  asio::io_context io_;
  net::HttpClient http_{io_};
  backends::BackendDeps deps_{io_, http_};
};

TEST_F(EchoBackend, AnswersInChunksWithApproximateUsage) {
  auto b = backend(4, 0ms);
  RecordingReply reply;
  auto c = run(io_, b->complete(chat("héllo"), reply));
  ASSERT_TRUE(c.ok) << c.error_message;
  EXPECT_EQ(reply.text(), "[echo demo] agent=general rule=default: héllo");
  EXPECT_EQ(reply.deltas.size(), 4u);
  EXPECT_EQ(c.finish_reason, "stop");
  EXPECT_TRUE(c.streamed);
  // "be brief" + "héllo" = 8 + 5 characters → 4 tokens; the answer is 45 characters → 12.
  EXPECT_EQ(c.usage.prompt_tokens, 4);
  EXPECT_EQ(c.usage.completion_tokens, 12);
}

TEST_F(EchoBackend, HonoursTheDelayBetweenChunks) {
  auto b = backend(3, 60ms);
  RecordingReply reply;
  auto started = Clock::now();
  auto c = run(io_, b->complete(chat("x"), reply));
  ASSERT_TRUE(c.ok);
  EXPECT_EQ(reply.deltas.size(), 3u);
  EXPECT_GE(Clock::now() - started, 110ms);
}

TEST_F(EchoBackend, StopsWhenTheClientIsGone) {
  auto b = backend(4, 0ms);
  RecordingReply reply;
  reply.accept = 1;
  auto c = run(io_, b->complete(chat("x"), reply));
  EXPECT_EQ(c.error, BackendErrorKind::cancelled);
  EXPECT_EQ(reply.deltas.size(), 1u);
  EXPECT_TRUE(c.streamed);
}

TEST_F(EchoBackend, CoroutineCancellationStopsIt) {
  auto b = backend(4, 500ms);
  RecordingReply reply;
  auto started = Clock::now();
  auto c = run(io_, b->complete(chat("x"), reply), 100ms);
  EXPECT_EQ(c.error, BackendErrorKind::cancelled);
  EXPECT_EQ(reply.deltas.size(), 1u);
  EXPECT_LT(Clock::now() - started, 400ms);
}

TEST_F(EchoBackend, HonoursTheDeadline) {
  auto b = backend(4, 200ms);
  RecordingReply reply;
  auto request = chat("x");
  request.deadline = Clock::now() + 100ms;
  auto started = Clock::now();
  auto c = run(io_, b->complete(request, reply));
  EXPECT_EQ(c.error, BackendErrorKind::timeout);
  EXPECT_EQ(reply.deltas.size(), 1u);
  EXPECT_LT(Clock::now() - started, 400ms);  // ends at the deadline, not after the 3 x 200 ms pauses
}

}  // namespace
}  // namespace hermes::test
