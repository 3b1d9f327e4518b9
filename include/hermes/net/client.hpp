#pragma once
// A pooled keep-alive HTTP/1.1 client for upstream calls (model APIs,
// webhooks, channel APIs). Beast and Asio stay in src/net/client.cpp.
//
// Every request has three deadlines: connect_timeout (resolve, TCP connect
// and TLS handshake), first_byte_timeout (from sending the request to the
// complete response head) and an absolute `deadline` that covers everything,
// including the time the caller spends in on_body. Errors come back as values
// (ClientResult), never as exceptions.
//
// Call it from a strand (or a single-threaded io_context): the timeouts run
// on the calling coroutine's executor so they never race with its I/O.
// Cancelling the calling coroutine (terminal cancellation) aborts the request
// and closes its connection.

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "hermes/core/units.hpp"
#include "hermes/net/http.hpp"

namespace boost::asio {
class io_context;
}

namespace hermes::observability {
class MetricsRegistry;
}

namespace hermes::net {

struct HttpClientOptions {
  std::size_t max_idle_per_host = 8;  // idle keep-alive connections kept per scheme://host:port
  Duration idle_timeout{30'000};      // an idle connection older than this is closed, not reused
  std::filesystem::path ca_file;      // PEM bundle to trust; empty: the system's CAs
  std::string user_agent = "hermes";
  // When set: hermes_upstream_connects_total{origin}, the connections opened. Near the
  // rate of upstream calls, the pool (max_idle_per_host) is too small for the concurrency.
  observability::MetricsRegistry* metrics = nullptr;
};

struct ClientRequest {
  std::string method = "GET";
  std::string url;  // http:// or https://
  Headers headers;  // Host, Content-Length and User-Agent are set by the client
  std::string body;
  Duration connect_timeout{5'000};
  Duration first_byte_timeout{30'000};
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::uint64_t body_limit = 8 * 1024 * 1024;  // fetch() only: a larger response body is a protocol error
};

enum class ClientErrorKind { none, connect, timeout, protocol, cancelled };
std::string_view client_error_name(ClientErrorKind kind);

struct ClientResponseHead {
  int status = 0;
  Headers headers;
  std::optional<std::string_view> header(std::string_view name) const { return find_header(headers, name); }
};

struct ClientResult {
  ClientErrorKind error = ClientErrorKind::none;
  int status = 0;       // 0 when no response head arrived
  Headers headers;
  std::string body;     // fetch() only
  std::string message;  // for logs: names scheme://host:port/path, never the query or credentials
  bool reused_connection = false;
  bool retried_stale = false;  // a pooled connection had been closed by the server: sent again on a fresh one
  bool request_sent = false;   // the whole request was written: a failure after it may have been processed

  bool ok() const { return error == ClientErrorKind::none; }
  std::optional<std::string_view> header(std::string_view name) const { return find_header(headers, name); }
};

// The parts of an http(s) URL the client needs.
struct ParsedUrl {
  bool tls = false;
  std::string host;  // without IPv6 brackets
  std::uint16_t port = 0;
  std::string target;     // path and query, "/" when empty
  std::string authority;  // the Host header: host, and :port unless it is the scheme's default
  std::string origin;     // "https://host:port", for pooling and messages
  std::string path;       // without the query, for messages
};
// nullopt with `error` set when `url` is not an absolute http(s) URL with a host.
std::optional<ParsedUrl> parse_http_url(std::string_view url, std::string& error);

class HttpClient {
 public:
  using HeadHandler = std::function<void(const ClientResponseHead&)>;
  // Called with each piece of the de-chunked body as it arrives; false aborts
  // the request (its connection is closed, not reused).
  using BodyHandler = std::function<boost::asio::awaitable<bool>(std::string body_piece)>;

  // Throws std::runtime_error when the CA file cannot be loaded (control plane).
  HttpClient(boost::asio::io_context& io, HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  boost::asio::awaitable<ClientResult> stream(ClientRequest request, HeadHandler on_head, BodyHandler on_body);
  // The whole body, up to request.body_limit.
  boost::asio::awaitable<ClientResult> fetch(ClientRequest request);

  // Idle connections currently pooled (all hosts).
  std::size_t idle_connections() const;
  void close_idle();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace hermes::net
