// The pooled HTTP client against the gateway's own HTTP server in-process:
// TLS verification (trust, host names, SNI), keep-alive pooling, stale
// connections and body limits.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <cstdio>
#include <thread>

#include "harness.hpp"
#include "hermes/core/audit_sink.hpp"
#include "hermes/net/client.hpp"
#include "hermes/net/server.hpp"
#include "hermes/observability/metrics.hpp"

namespace hermes::test {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

std::string shell(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  ::pclose(p);
  return out;
}

asio::awaitable<net::HttpResponse> hello(net::HttpRequest request) {
  co_return net::HttpResponse::text(200, "hello " + request.path);
}

asio::awaitable<net::HttpResponse> big(net::HttpRequest) { co_return net::HttpResponse::text(200, std::string(100'000, 'x')); }

asio::awaitable<net::HttpResponse> closing(net::HttpRequest) {
  auto r = net::HttpResponse::text(200, "bye");
  r.close = true;
  co_return r;
}

asio::awaitable<net::HttpResponse> echo_host(net::HttpRequest request) {
  co_return net::HttpResponse::text(200, std::string(request.header("host").value_or("")));
}

// Runs `work` to completion on a strand; stops the io_context afterwards
// (the server's accept loop would keep it running forever).
net::ClientResult run(asio::io_context& io, asio::awaitable<net::ClientResult> work) {
  std::optional<net::ClientResult> result;
  asio::co_spawn(asio::make_strand(io), std::move(work), [&](std::exception_ptr, net::ClientResult r) {
    result = std::move(r);
    io.stop();
  });
  io.restart();
  io.run();
  return result.value_or(net::ClientResult{});
}

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto routes = std::make_shared<net::HttpRoutes>();
    routes->add("GET", "/hello", hello);
    routes->add("GET", "/big", big);
    routes->add("GET", "/close", closing);
    routes->add("GET", "/host", echo_host);
    routes_ = routes;
  }

  // A listener on 127.0.0.1; with TLS, a self-signed certificate for "localhost".
  void serve(bool tls, Duration idle_timeout = Duration(60'000)) {
    net::ListenerSettings s;
    s.name = "test";
    s.address = *IpAddress::parse("127.0.0.1");
    s.port = 0;
    s.admits = [](const IpAddress&) { return true; };
    s.admission_policy = "any";
    s.idle_timeout = idle_timeout;
    s.routes = routes_;
    if (tls) {
      shell("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -addext "
            "subjectAltName=DNS:localhost -keyout " + (dir_.path() / "key.pem").string() + " -out " +
            (dir_.path() / "cert.pem").string() + " 2>&1");
      std::string error;
      s.tls = net::load_tls_context(dir_.path() / "cert.pem", dir_.path() / "key.pem", error);
      ASSERT_TRUE(s.tls) << error;
    }
    server_ = std::make_unique<net::HttpServer>(io_, metrics_, audit_);
    std::vector<net::ListenerSettings> listeners{s};
    std::string error;
    ASSERT_FALSE(server_->bind(std::move(listeners), error)) << error;
    server_->start_accepting();
    port_ = server_->bound_port("test");
  }

  net::ClientRequest get(const std::string& url) {
    net::ClientRequest r;
    r.url = url;
    r.deadline = Clock::now() + 5s;
    return r;
  }
  std::string http_url(const std::string& path) { return "http://127.0.0.1:" + std::to_string(port_) + path; }

  // A request, then `idle` with the io_context running (the server's idle timeout may
  // close the pooled connection meanwhile), then the same request again: its result.
  net::ClientResult fetch_after_idle(net::HttpClient& client, std::chrono::milliseconds idle) {
    auto first = run(io_, client.fetch(get(http_url("/hello"))));
    EXPECT_TRUE(first.ok()) << first.message;
    io_.restart();
    io_.run_for(idle);
    return run(io_, client.fetch(get(http_url("/hello"))));
  }

  TempDir dir_;
  asio::io_context io_;
  observability::MetricsRegistry metrics_;
  MemoryAuditSink audit_;
  std::shared_ptr<const net::HttpRoutes> routes_;
  std::unique_ptr<net::HttpServer> server_;
  std::uint16_t port_ = 0;
};

TEST_F(HttpClientTest, TlsWithTheTrustedCertificateAndItsHostName) {
  serve(true);
  net::HttpClientOptions options;
  options.ca_file = dir_.path() / "cert.pem";
  net::HttpClient client(io_, options);
  // "localhost" goes through the resolver, which may offer ::1 first: the
  // client moves on to 127.0.0.1, where the server listens.
  auto r = run(io_, client.fetch(get("https://localhost:" + std::to_string(port_) + "/hello")));
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello /hello");
  auto again = run(io_, client.fetch(get("https://localhost:" + std::to_string(port_) + "/hello")));
  ASSERT_TRUE(again.ok()) << again.message;
  EXPECT_TRUE(again.reused_connection);
}

TEST_F(HttpClientTest, TlsHostNameMismatchIsRefused) {
  serve(true);
  net::HttpClientOptions options;
  options.ca_file = dir_.path() / "cert.pem";
  net::HttpClient client(io_, options);
  // The certificate names "localhost", not 127.0.0.1.
  auto r = run(io_, client.fetch(get("https://127.0.0.1:" + std::to_string(port_) + "/hello")));
  EXPECT_EQ(r.error, net::ClientErrorKind::connect) << r.message;
  EXPECT_NE(r.message.find("TLS handshake failed"), std::string::npos) << r.message;
}

TEST_F(HttpClientTest, TlsUntrustedCertificateIsRefused) {
  serve(true);
  net::HttpClient client(io_);  // the system's CAs do not include our self-signed certificate
  auto r = run(io_, client.fetch(get("https://localhost:" + std::to_string(port_) + "/hello")));
  EXPECT_EQ(r.error, net::ClientErrorKind::connect) << r.message;
  EXPECT_NE(r.message.find("certificate verify failed"), std::string::npos) << r.message;
}

TEST_F(HttpClientTest, MissingCaFileIsAStartUpError) {
  net::HttpClientOptions options;
  options.ca_file = "/nonexistent/ca.pem";
  EXPECT_THROW(net::HttpClient(io_, options), std::runtime_error);
}

TEST_F(HttpClientTest, KeepAliveReuseAndHostHeader) {
  serve(false);
  net::HttpClient client(io_);
  auto first = run(io_, client.fetch(get(http_url("/host"))));
  ASSERT_TRUE(first.ok()) << first.message;
  EXPECT_EQ(first.body, "127.0.0.1:" + std::to_string(port_));
  EXPECT_FALSE(first.reused_connection);
  EXPECT_EQ(client.idle_connections(), 1u);
  auto second = run(io_, client.fetch(get(http_url("/hello"))));
  ASSERT_TRUE(second.ok()) << second.message;
  EXPECT_TRUE(second.reused_connection);
  EXPECT_EQ(client.idle_connections(), 1u);
}

// Fetches `count` times at once: with an empty pool, each opens its own connection.
void fetch_concurrently(asio::io_context& io, net::HttpClient& client, const std::string& url, int count) {
  int finished = 0;
  for (int i = 0; i < count; ++i) {
    net::ClientRequest r;
    r.url = url;
    r.deadline = Clock::now() + 5s;
    asio::co_spawn(asio::make_strand(io), client.fetch(std::move(r)),
                   [&](std::exception_ptr, net::ClientResult result) {
                     EXPECT_TRUE(result.ok()) << result.message;
                     if (++finished == count) io.stop();
                   });
  }
  io.restart();
  io.run();
}

TEST_F(HttpClientTest, PoolKeepsUpToMaxIdlePerHost) {
  serve(false);
  net::HttpClientOptions options;
  options.max_idle_per_host = 5;
  options.metrics = &metrics_;
  net::HttpClient client(io_, options);
  auto& connects = metrics_.counter("hermes_upstream_connects_total", "", {"origin"})
                       .with({"http://127.0.0.1:" + std::to_string(port_)});
  fetch_concurrently(io_, client, http_url("/hello"), 8);
  EXPECT_EQ(client.idle_connections(), 5u);  // the other 3 were closed on return
  EXPECT_EQ(connects.value(), 8u);
  auto r = run(io_, client.fetch(get(http_url("/hello"))));
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_TRUE(r.reused_connection);
  fetch_concurrently(io_, client, http_url("/hello"), 8);
  EXPECT_EQ(connects.value(), 11u);  // 5 from the pool, 3 opened
}

TEST_F(HttpClientTest, ZeroMaxIdleClosesEveryConnection) {
  serve(false);
  net::HttpClientOptions options;
  options.max_idle_per_host = 0;
  net::HttpClient client(io_, options);
  fetch_concurrently(io_, client, http_url("/hello"), 3);
  EXPECT_EQ(client.idle_connections(), 0u);
}

TEST_F(HttpClientTest, ConnectionCloseIsNotPooled) {
  serve(false);
  net::HttpClient client(io_);
  auto r = run(io_, client.fetch(get(http_url("/close"))));
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.body, "bye");
  EXPECT_EQ(client.idle_connections(), 0u);
}

// Reused within a second (no liveness poll): the request fails on the stale connection
// and goes out again on a fresh one.
TEST_F(HttpClientTest, ConnectionClosedByTheServerWhileIdleIsReplaced) {
  serve(false, Duration(100));
  net::HttpClient client(io_);
  auto r = fetch_after_idle(client, 400ms);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_FALSE(r.reused_connection);
  EXPECT_TRUE(r.retried_stale);
}

// The same after more than a second idle: the pool's liveness poll sees the close first.
TEST_F(HttpClientTest, LongIdleConnectionClosedByTheServerIsNotReused) {
  serve(false, Duration(100));
  net::HttpClient client(io_);
  auto r = fetch_after_idle(client, 1100ms);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_FALSE(r.reused_connection);
  EXPECT_FALSE(r.retried_stale);  // never sent on the closed connection
}

TEST_F(HttpClientTest, IdleTimeoutDropsOldConnections) {
  serve(false);
  net::HttpClientOptions options;
  options.idle_timeout = Duration(1);
  net::HttpClient client(io_, options);
  ASSERT_TRUE(run(io_, client.fetch(get(http_url("/hello")))).ok());
  std::this_thread::sleep_for(10ms);
  auto r = run(io_, client.fetch(get(http_url("/hello"))));
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_FALSE(r.reused_connection);
}

TEST_F(HttpClientTest, FetchBodyLimit) {
  serve(false);
  net::HttpClient client(io_);
  auto request = get(http_url("/big"));
  request.body_limit = 1000;
  auto r = run(io_, client.fetch(request));
  EXPECT_EQ(r.error, net::ClientErrorKind::protocol);
  EXPECT_NE(r.message.find("exceeds 1000 bytes"), std::string::npos) << r.message;
  EXPECT_EQ(client.idle_connections(), 0u);
  auto whole = run(io_, client.fetch(get(http_url("/big"))));
  ASSERT_TRUE(whole.ok()) << whole.message;
  EXPECT_EQ(whole.body.size(), 100'000u);
}

TEST_F(HttpClientTest, MessagesNeverCarryTheQueryString) {
  net::HttpClient client(io_);
  auto request = get("http://127.0.0.1:" + std::to_string(free_port()) + "/v1/x?api_key=supersecret");
  auto r = run(io_, client.fetch(request));
  EXPECT_EQ(r.error, net::ClientErrorKind::connect);
  EXPECT_EQ(r.message.find("supersecret"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("/v1/x"), std::string::npos) << r.message;
}

TEST_F(HttpClientTest, PassedDeadlineFailsFast) {
  net::HttpClient client(io_);
  auto request = get("http://127.0.0.1:1/");
  request.deadline = Clock::now() - 1s;
  auto r = run(io_, client.fetch(request));
  EXPECT_EQ(r.error, net::ClientErrorKind::timeout);
}

TEST_F(HttpClientTest, ConnectTimeout) {
  net::HttpClient client(io_);
  // A TEST-NET-1 address (RFC 5737): nothing answers, so the connect hangs or
  // fails at once when there is no route; either way it must end quickly.
  auto request = get("http://192.0.2.1:81/");
  request.connect_timeout = 200ms;
  auto started = Clock::now();
  auto r = run(io_, client.fetch(request));
  EXPECT_TRUE(r.error == net::ClientErrorKind::timeout || r.error == net::ClientErrorKind::connect) << r.message;
  EXPECT_LT(Clock::now() - started, 1s);
}

}  // namespace
}  // namespace hermes::test
