// The HTTP listener the http_server and websocket_server targets write to: a real
// HttpServer with routes like the gateway's (a plain answer, a slow one that watches for
// a client leaving, a streamed one, a prefix, a WebSocket echo), on 127.0.0.1.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>

#include "hermes/core/audit_sink.hpp"
#include "hermes/net/http.hpp"
#include "hermes/net/server.hpp"
#include "hermes/net/websocket.hpp"
#include "hermes/observability/metrics.hpp"
#include "tests/fuzz/fuzz_server.hpp"
#include "tests/fuzz/loopback.hpp"

namespace {

namespace asio = boost::asio;
using namespace hermes;

// Discards events: the audit writer is not what is fuzzed here.
class DroppingAuditSink final : public AuditSink {
 public:
  void record(AuditEvent) override {}
};

asio::awaitable<net::HttpResponse> echo(net::HttpRequest r) {
  auto response = net::HttpResponse::text(200, std::to_string(r.body.size()) + " bytes to " + r.path);
  if (auto type = r.header("content-type")) response.with_header("X-Echo-Type", std::string(*type));
  co_return response;
}

// A handler that takes a moment, as a model call does: the server watches for a client
// that leaves meanwhile (cancel_on_disconnect).
asio::awaitable<net::HttpResponse> slow_echo(net::HttpRequest r) {
  asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(1));
  co_await timer.async_wait(asio::use_awaitable);
  co_return co_await echo(std::move(r));
}

asio::awaitable<net::HttpResponse> streamed(net::HttpRequest r) {
  net::HttpResponse response;
  auto body = std::make_shared<std::string>(std::move(r.body));
  response.stream = [body](net::ResponseStream& out) -> asio::awaitable<net::HttpResponse> {
    net::Headers headers{{"Content-Type", "text/event-stream"}};
    bool started = co_await out.start(200, std::move(headers));
    if (started) {
      std::string first = "data: " + std::to_string(body->size()) + "\n\n";
      bool written = co_await out.write(std::move(first));
      if (written) co_await out.write("data: [DONE]\n\n");
    }
    co_return net::HttpResponse{};
  };
  co_return response;
}

std::shared_ptr<const net::HttpRoutes> fuzz_routes() {
  auto routes = std::make_shared<net::HttpRoutes>();
  routes->add("GET", "/healthz", echo, "healthz");
  routes->add("POST", "/v1/chat/completions", slow_echo, "chat", true);
  routes->add("POST", "/stream", streamed, "stream");
  routes->add_prefix("POST", "/hooks/", echo, "hooks");
  net::WebSocketRoute ws;
  ws.max_message = 4096;
  ws.idle_timeout = std::chrono::seconds(4);
  ws.handler = [](net::HttpRequest, std::shared_ptr<net::WebSocket> socket) -> asio::awaitable<void> {
    for (;;) {
      auto message = co_await socket->read();
      if (!message) break;
      bool written = co_await socket->write(std::move(*message));
      if (!written) break;
    }
  };
  routes->add_websocket("/ws", std::move(ws), "ws");
  return routes;
}

struct Server {
  fuzz::IoThread thread;
  observability::MetricsRegistry metrics;
  DroppingAuditSink audit;
  net::HttpServer server{thread.io(), metrics, audit, net::IoThreads::one};
  std::uint16_t port = 0;

  Server() {
    net::ListenerSettings s;
    s.name = "fuzz";
    s.address = *IpAddress::parse("127.0.0.1");
    s.admits = [](const IpAddress&) { return true; };
    s.hosts.enforce = true;
    s.hosts.names = {"localhost", "gw.example"};
    s.hosts.ip_literals = true;
    s.body_limit = 64 * 1024;
    s.header_timeout = std::chrono::seconds(3);
    s.body_timeout = std::chrono::seconds(3);
    s.idle_timeout = std::chrono::seconds(3);
    s.routes = fuzz_routes();
    std::vector<net::ListenerSettings> listeners;
    listeners.push_back(std::move(s));
    std::string error;
    std::promise<void> bound;
    asio::post(thread.io(), [&] {
      if (server.bind(std::move(listeners), error)) std::abort();
      server.start_accepting();
      port = server.bound_port("fuzz");
      bound.set_value();
    });
    bound.get_future().wait();
  }
};

}  // namespace

namespace hermes::fuzz {

std::uint16_t http_server_port() {
  static auto* server = new Server();  // never destroyed: connections may outlive a run
  return server->port;
}

}  // namespace hermes::fuzz

