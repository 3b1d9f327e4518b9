// A fast OpenAI-format upstream for the benchmarks, built on the gateway's own
// HTTP server (one event loop per thread, no audit): a node or Python stand-in
// would be the bottleneck and hide the contenders' differences.
//
//   bench_upstream --port 0 [--threads 1] [--latency-ms 0] [--chunks 8] [--pace-ms 0]
//
// POST /v1/chat/completions answers after --latency-ms: a chat.completion JSON, or with
// "stream": true, --chunks SSE chunks --pace-ms apart, a usage chunk and [DONE].
// It also stands in for the Slack Web API (scenario 6; api_url: http://127.0.0.1:<port>/api):
// POST /api/auth.test and POST /api/chat.postMessage answer at once, without checking the
// token, and GET /stats counts the calls: {"auth_test": n, "chat_postMessage": n,
// "whatsapp_messages": n}. POST /graph/<version>/<phone number id>/messages answers as
// WhatsApp's Graph API does (api_url: http://…/graph).
// Prints "listening <port>" once bound.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "hermes/core/audit_sink.hpp"
#include "hermes/net/server.hpp"
#include "hermes/observability/metrics.hpp"

namespace asio = boost::asio;
using namespace hermes;

namespace {

struct Options {
  std::uint16_t port = 0;
  unsigned threads = 1;
  int latency_ms = 0;
  int chunks = 8;
  int pace_ms = 0;
};

class NoAudit final : public AuditSink {
 public:
  void record(AuditEvent) override {}
};

const std::string kAnswer =
    R"({"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"The quick brown fox jumps over the lazy dog."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":10,"total_tokens":22}})";

std::string chunk(int i) {
  return R"(data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench","choices":[{"index":0,"delta":{"content":"token)" +
         std::to_string(i) + R"( "},"finish_reason":null}]})" + "\n\n";
}

const std::string kLast =
    R"(data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})"
    "\n\n"
    R"(data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}})"
    "\n\ndata: [DONE]\n\n";

asio::awaitable<void> pause(int ms) {
  if (ms <= 0) co_return;
  asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<net::HttpResponse> stream_body(Options o, net::ResponseStream& out) {
  net::Headers headers = {{"Content-Type", "text/event-stream"}, {"Cache-Control", "no-cache"}};
  bool started = co_await out.start(200, std::move(headers));  // not in the condition: GCC 12
  if (!started) co_return net::HttpResponse{};
  for (int i = 0; i < o.chunks; ++i) {
    if (i > 0) co_await pause(o.pace_ms);
    bool more = co_await out.write(chunk(i));
    if (!more) co_return net::HttpResponse{};
  }
  std::string last = kLast;
  co_await out.write(std::move(last));
  co_return net::HttpResponse{};
}

asio::awaitable<net::HttpResponse> completions(Options o, net::HttpRequest r) {
  co_await pause(o.latency_ms);
  bool stream = r.body.find("\"stream\":true") != std::string::npos ||
                r.body.find("\"stream\": true") != std::string::npos;
  if (!stream) {
    net::HttpResponse res;
    res.headers = {{"Content-Type", "application/json"}};
    res.body = kAnswer;
    co_return res;
  }
  net::HttpResponse res;
  res.stream = [o](net::ResponseStream& out) { return stream_body(o, out); };
  co_return res;
}

// Web API calls seen, for GET /stats: the Slack scenario counts replies here.
struct SlackCalls {
  std::atomic<std::uint64_t> auth_test{0};
  std::atomic<std::uint64_t> post_message{0};
  std::atomic<std::uint64_t> whatsapp_messages{0};  // text messages sent to the Graph API stand-in
};

// Plain functions build the JSON: GCC 12 mishandles braced lists of literals in coroutines.
net::HttpResponse auth_test_answer() {
  return net::HttpResponse::json(200, {{"ok", true}, {"url", "https://bench.slack.com/"}, {"team", "Bench"},
                                       {"user", "hermes"}, {"team_id", "T1"}, {"user_id", "UBOT"},
                                       {"bot_id", "BBOT"}});
}

// A unique "ts" per post, in Slack's "<seconds>.<microseconds>" form.
net::HttpResponse posted_answer(const std::string& body, std::uint64_t n) {
  auto args = nlohmann::json::parse(body, nullptr, false);
  std::string channel = args.is_object() ? args.value("channel", std::string()) : std::string();
  if (channel.empty()) return net::HttpResponse::json(200, {{"ok", false}, {"error", "channel_not_found"}});
  auto seconds = static_cast<unsigned long long>(1700000000 + n / 1000000);
  auto micros = static_cast<unsigned long long>(n % 1000000);
  char ts[32];
  std::snprintf(ts, sizeof ts, "%llu.%06llu", seconds, micros);
  return net::HttpResponse::json(200, {{"ok", true}, {"channel", channel}, {"ts", ts}});
}

net::HttpResponse stats_answer(const SlackCalls& calls) {
  return net::HttpResponse::json(200, {{"auth_test", calls.auth_test.load()},
                                       {"chat_postMessage", calls.post_message.load()},
                                       {"whatsapp_messages", calls.whatsapp_messages.load()}});
}

// The Graph API's /messages: a wamid for a text message, success for a read receipt.
net::HttpResponse graph_answer(const std::string& body, SlackCalls& calls) {
  if (body.find("\"status\":\"read\"") != std::string::npos) return net::HttpResponse::json(200, {{"success", true}});
  auto n = ++calls.whatsapp_messages;
  nlohmann::json answer = {{"messaging_product", "whatsapp"},
                           {"messages", nlohmann::json::array({{{"id", "wamid.BENCH" + std::to_string(n)}}})}};
  return net::HttpResponse::json(200, answer);
}

asio::awaitable<net::HttpResponse> graph_messages(SlackCalls& calls, net::HttpRequest r) {
  co_return graph_answer(r.body, calls);
}

asio::awaitable<net::HttpResponse> auth_test(SlackCalls& calls) {
  ++calls.auth_test;
  co_return auth_test_answer();
}

asio::awaitable<net::HttpResponse> post_message(SlackCalls& calls, net::HttpRequest r) {
  co_return posted_answer(r.body, ++calls.post_message);
}

asio::awaitable<net::HttpResponse> stats(const SlackCalls& calls) { co_return stats_answer(calls); }

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    int value = std::stoi(argv[i + 1]);
    if (flag == "--port") o.port = static_cast<std::uint16_t>(value);
    if (flag == "--threads") o.threads = static_cast<unsigned>(value);
    if (flag == "--latency-ms") o.latency_ms = value;
    if (flag == "--chunks") o.chunks = value;
    if (flag == "--pace-ms") o.pace_ms = value;
  }
  asio::io_context io(static_cast<int>(o.threads));
  observability::MetricsRegistry metrics;
  NoAudit audit;
  SlackCalls calls;  // before the server: its handlers refer to it
  net::HttpServer server(io, metrics, audit);
  auto routes = std::make_shared<net::HttpRoutes>();
  routes->add("POST", "/v1/chat/completions", [o](net::HttpRequest r) { return completions(o, std::move(r)); });
  routes->add("POST", "/api/auth.test", [&calls](net::HttpRequest) { return auth_test(calls); });
  routes->add("POST", "/api/chat.postMessage",
              [&calls](net::HttpRequest r) { return post_message(calls, std::move(r)); });
  routes->add("GET", "/stats", [&calls](net::HttpRequest) { return stats(calls); });
  routes->add_prefix("POST", "/graph/", [&calls](net::HttpRequest r) { return graph_messages(calls, std::move(r)); },
                     "/graph/");
  net::ListenerSettings l;
  l.name = "bench";
  l.address = *IpAddress::parse("127.0.0.1");
  l.port = o.port;
  l.admits = [](const IpAddress&) { return true; };
  l.admission_policy = "any";
  l.max_connections = 100'000;
  l.idle_timeout = std::chrono::minutes(10);
  l.routes = routes;
  std::string error;
  if (server.bind({l}, error)) {
    std::fprintf(stderr, "bench_upstream: %s\n", error.c_str());
    return 1;
  }
  server.start_accepting();
  std::printf("listening %u\n", server.bound_port("bench"));
  std::fflush(stdout);
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < o.threads; ++i) pool.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
}
