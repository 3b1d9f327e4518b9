// The web chat channel over real WebSockets (a Beast client): the page, the
// frame protocol streamed through the pipeline, Origin refusal, frame limits,
// session resume, access keys, rate-limit notices and a reader that never reads.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include <csignal>
#include <fstream>
#include <thread>

#include "harness.hpp"

namespace hermes::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using nlohmann::json;
constexpr const char* kKey = "webchat-access-key-1234";

const char* kWebchatConfig = R"(
gateway: {instance: it-webchat, data_dir: "${DATA}", threads: 2}
listeners:
  - {name: local, bind: loopback, port: ${PORT0}}
  - {name: keyed, bind: loopback, port: ${PORT1}}
channels:
  - {name: webchat, type: webchat, listener: local, max_message: 1KiB}
  - {name: locked, type: webchat, listener: keyed, access: {keys: [{name: team, key: "${env:IT_CHAT_KEY}"}]}}
models:
  - {name: demo, type: echo, chunks: 3}
agents:
  - {name: general, model: demo}
routes:
  - {name: default, agent: general}
limits:
  - {name: per-browser, key: sender, rate: 4/min, burst: 4, channels: [webchat]}
)";

// A small synchronous-looking WebSocket client: each call runs the io_context until done or timed out.
class WsClient {
 public:
  // Upgrades to ws://127.0.0.1:port/path; the HTTP status is kept when the server refuses.
  bool connect(std::uint16_t port, const std::string& origin, const std::string& path = "/chat/ws") {
    asio::ip::tcp::resolver resolver(io_);
    beast::error_code ec;
    asio::connect(ws_.next_layer(), resolver.resolve("127.0.0.1", std::to_string(port)), ec);
    if (ec) return false;
    ws_.set_option(websocket::stream_base::decorator([origin](websocket::request_type& req) {
      if (!origin.empty()) req.set(beast::http::field::origin, origin);
    }));
    websocket::response_type response;
    ws_.handshake(response, "127.0.0.1:" + std::to_string(port), path, ec);
    status_ = static_cast<int>(response.result_int());
    return !ec;
  }
  int status() const { return status_; }

  // False when the frame could not be written within `timeout` (the server stopped reading).
  bool send(const std::string& text, std::chrono::milliseconds timeout = 2s) {
    bool done = false;
    beast::error_code result;
    ws_.text(true);
    ws_.async_write(asio::buffer(text), [&](beast::error_code ec, std::size_t) {
      result = ec;
      done = true;
    });
    io_.restart();
    io_.run_for(timeout);
    if (!done) {
      beast::get_lowest_layer(ws_).cancel();
      io_.restart();
      io_.run();
      return false;
    }
    return !result;
  }
  bool send(const json& frame, std::chrono::milliseconds timeout = 2s) { return send(frame.dump(), timeout); }

  // The next frame as JSON; null when the connection ended or nothing came in time.
  json next(std::chrono::milliseconds timeout = 5s) {
    buffer_.clear();
    bool done = false;
    beast::error_code result;
    ws_.async_read(buffer_, [&](beast::error_code ec, std::size_t) {
      result = ec;
      done = true;
    });
    io_.restart();
    io_.run_for(timeout);
    if (!done) {
      beast::get_lowest_layer(ws_).cancel();
      io_.restart();
      io_.run();
      return nullptr;
    }
    if (result) {
      closed_ = true;
      return nullptr;
    }
    return json::parse(beast::buffers_to_string(buffer_.data()), nullptr, false);
  }
  // Frames up to and including the first whose type is one of `until`.
  std::vector<json> until(std::initializer_list<std::string> types, std::chrono::milliseconds timeout = 5s) {
    std::vector<json> frames;
    for (;;) {
      auto f = next(timeout);
      if (f.is_null()) return frames;
      frames.push_back(f);
      for (const auto& t : types) {
        if (f["type"] == t) return frames;
      }
    }
  }
  bool closed() const { return closed_; }
  std::uint16_t close_code() const { return ws_.reason().code; }

 private:
  asio::io_context io_;
  websocket::stream<asio::ip::tcp::socket> ws_{io_};
  beast::flat_buffer buffer_;
  int status_ = 0;
  bool closed_ = false;
};

// ASan keeps freed memory in quarantine (256 MB by default): RSS says nothing there.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kRssIsMeaningful = false;
#else
constexpr bool kRssIsMeaningful = true;
#endif

long rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

class Webchat : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_ = std::make_unique<Daemon>(kWebchatConfig, std::map<std::string, std::string>{{"IT_CHAT_KEY", kKey}});
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
  }
  std::string origin(int listener = 0) const { return "http://127.0.0.1:" + std::to_string(daemon_->port(listener)); }

  // Connected and past hello; returns the session token.
  std::string open(WsClient& ws, const json& hello = {{"type", "hello"}}, int listener = 0) {
    EXPECT_TRUE(ws.connect(daemon_->port(listener), origin(listener))) << ws.status();
    ws.send(hello);
    auto ready = ws.next();
    EXPECT_EQ(ready["type"], "ready") << ready.dump();
    return ready.value("session", "");
  }

  std::unique_ptr<Daemon> daemon_;
};

std::string text_of(const std::vector<json>& frames) {
  std::string text;
  for (const auto& f : frames) {
    if (f["type"] == "delta") text += f["text"].get<std::string>();
  }
  return text;
}

TEST_F(Webchat, ThePageIsServedWithSecurityHeaders) {
  auto page = http_get(daemon_->port(), "/chat/");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.headers["content-type"], "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<title>Hermes chat</title>"), std::string::npos);
  EXPECT_NE(page.headers["content-security-policy"].find("default-src 'self'"), std::string::npos);
  EXPECT_EQ(page.headers["x-content-type-options"], "nosniff");
  EXPECT_EQ(http_get(daemon_->port(), "/chat/app.js").headers["content-type"], "text/javascript; charset=utf-8");
  EXPECT_EQ(http_get(daemon_->port(), "/chat/style.css").status, 200);
  auto bare = http_get(daemon_->port(), "/chat");
  EXPECT_EQ(bare.status, 301);
  EXPECT_EQ(bare.headers["location"], "/chat/");
  EXPECT_EQ(http_get(daemon_->port(), "/chat/ws").status, 426);  // plain GET: not an upgrade
}

TEST_F(Webchat, AnAnswerStreamsAsDeltasAndEndsWithTheAgentsName) {
  WsClient ws;
  std::string token = open(ws);
  EXPECT_EQ(token.size(), 32u);
  ws.send(json{{"type", "message"}, {"text", "hello from the browser"}});
  auto frames = ws.until({"done", "error", "notice"});
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.back()["type"], "done");
  EXPECT_EQ(frames.back()["agent"], "general");
  EXPECT_GE(frames.size(), 3u) << "streamed in several deltas";
  EXPECT_NE(text_of(frames).find("hello from the browser"), std::string::npos);
  auto rows = daemon_->audit_events("message.exchange", 1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["channel"], "webchat");
  EXPECT_EQ(rows[0]["sender"].get<std::string>().rfind("browser-", 0), 0u);
  EXPECT_EQ(rows[0]["conversation"].get<std::string>().find(token), std::string::npos) << "the token is never stored";
  // Garbage gets an error frame and the connection stays usable.
  ws.send(std::string("not json"));
  EXPECT_EQ(ws.next()["code"], "bad_request");
}

TEST_F(Webchat, AForeignOrMissingOriginIsRefusedAndAudited) {
  WsClient evil;
  EXPECT_FALSE(evil.connect(daemon_->port(), "https://evil.example"));
  EXPECT_EQ(evil.status(), 403);
  WsClient bare;
  EXPECT_FALSE(bare.connect(daemon_->port(), ""));
  EXPECT_EQ(bare.status(), 403);
  auto rows = daemon_->audit_events("auth.reject", 2);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["status"], "origin_not_allowed");
  EXPECT_EQ(rows[0]["detail"]["origin"], "https://evil.example");
}

TEST_F(Webchat, AnOversizedFrameClosesTheSocketWith1009) {
  WsClient ws;
  open(ws);
  ws.send(json{{"type", "message"}, {"text", std::string(2000, 'x')}});  // max_message: 1KiB
  auto f = ws.next();
  EXPECT_TRUE(f.is_null());
  EXPECT_TRUE(ws.closed());
  EXPECT_EQ(ws.close_code(), 1009);
}

TEST_F(Webchat, ReconnectingWithTheTokenResumesTheSession) {
  std::string token;
  {
    WsClient ws;
    token = open(ws);
    ws.send(json{{"type", "message"}, {"text", "remember me"}});
    ASSERT_EQ(ws.until({"done"}).back()["type"], "done");
  }
  WsClient again;
  ASSERT_TRUE(again.connect(daemon_->port(), origin()));
  again.send(json{{"type", "hello"}, {"session", token}});
  auto ready = again.next();
  EXPECT_EQ(ready["session"], token);
  EXPECT_EQ(ready["resumed"], true);
  again.send(json{{"type", "message"}, {"text", "still me?"}});
  ASSERT_EQ(again.until({"done"}).back()["type"], "done");
  auto rows = daemon_->audit_events("message.exchange", 2);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["session_id"], rows[1]["session_id"]);
  // A new browser gets its own session.
  WsClient other;
  open(other);
  other.send(json{{"type", "message"}, {"text", "someone else"}});
  other.until({"done"});
  rows = daemon_->audit_events("message.exchange", 3);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_NE(rows[2]["session_id"], rows[0]["session_id"]);
}

TEST_F(Webchat, ResetStartsANewSession) {
  WsClient ws;
  open(ws);
  ws.send(json{{"type", "message"}, {"text", "first"}});
  ws.until({"done"});
  ws.send(json{{"type", "message"}, {"text", "/reset"}});
  auto frames = ws.until({"done", "error", "notice"});
  EXPECT_NE(text_of(frames).find("new conversation"), std::string::npos) << text_of(frames);
  ws.send(json{{"type", "message"}, {"text", "second"}});
  ws.until({"done"});
  auto rows = daemon_->audit_events("message.exchange", 2);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_NE(rows.front()["session_id"], rows.back()["session_id"]);
  auto reset = daemon_->audit_events("session.reset", 1);
  ASSERT_EQ(reset.size(), 1u);
  EXPECT_EQ(reset[0]["session_id"], rows.back()["session_id"]) << "the reset row names the new session";
}

TEST_F(Webchat, TooManyMessagesGetAPoliteNotice) {
  WsClient ws;
  open(ws);
  std::vector<std::string> endings;
  for (int i = 0; i < 5; ++i) {
    ws.send(json{{"type", "message"}, {"text", "message " + std::to_string(i)}});
    endings.push_back(ws.until({"done", "error", "notice"}).back()["type"]);
  }
  EXPECT_EQ(endings, (std::vector<std::string>{"done", "done", "done", "done", "notice"}));
  EXPECT_EQ(daemon_->audit_events("ratelimit.reject", 1).size(), 1u);
}

TEST_F(Webchat, AccessKeysAreRequiredWhereConfigured) {
  WsClient ws;
  ASSERT_TRUE(ws.connect(daemon_->port(1), origin(1)));
  ws.send(json{{"type", "message"}, {"text", "let me in"}});
  EXPECT_EQ(ws.next()["code"], "unauthorized");
  ws.send(json{{"type", "hello"}, {"key", "wrong"}});
  EXPECT_EQ(ws.next()["code"], "unauthorized");
  ws.send(json{{"type", "hello"}, {"key", kKey}});
  EXPECT_EQ(ws.next()["type"], "ready");
  ws.send(json{{"type", "message"}, {"text", "now?"}});
  EXPECT_EQ(ws.until({"done", "error"}).back()["type"], "done");
  EXPECT_EQ(daemon_->audit_events("auth.reject", 1)[0]["status"], "invalid_api_key");
}

TEST_F(Webchat, AGracefulStopClosesOpenSocketsAtOnce) {
  WsClient ws;
  open(ws);
  auto t0 = std::chrono::steady_clock::now();
  daemon_->signal(SIGTERM);
  EXPECT_TRUE(ws.next(5s).is_null());
  EXPECT_TRUE(ws.closed());
  EXPECT_EQ(daemon_->wait_exit(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s) << "an idle chat must not hold the drain until its deadline";
}

TEST_F(Webchat, AReaderThatNeverReadsDoesNotGrowMemory) {
  WsClient idle;
  open(idle, {{"type", "hello"}, {"key", kKey}}, 1);
  long before = rss_kib(daemon_->pid());
  // Up to 30 MB of questions from a client that reads no answer: a gateway that queued
  // them (or their answers) would grow by about that much. It answers a few, refuses the
  // rest with small `busy` frames, and stops reading once the socket is full.
  std::string text(15000, 'y');
  int sent = 0;
  while (sent < 2000 && idle.send(json{{"type", "message"}, {"text", text}}, 1s)) ++sent;
  std::this_thread::sleep_for(500ms);
  long after = rss_kib(daemon_->pid());
  if (kRssIsMeaningful) {
    EXPECT_LT(after - before, 16 * 1024) << "RSS grew from " << before << " to " << after << " KiB after " << sent
                                         << " frames";
  }
  std::cerr << "slow reader: " << sent << " frames accepted, RSS " << before << " -> " << after << " KiB\n";
  // Everyone else is still served.
  WsClient other;
  open(other, {{"type", "hello"}, {"key", kKey}}, 1);
  other.send(json{{"type", "message"}, {"text", "still there?"}});
  EXPECT_EQ(other.until({"done"}, 3s).back()["type"], "done");
}

}  // namespace
}  // namespace hermes::test
