#include "hermes/net/client.hpp"

#include <poll.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>

#include <array>
#include <deque>
#include <stdexcept>

#include "hermes/observability/metrics.hpp"
#include "src/net/as_tuple.hpp"
#include "src/net/watchdog.hpp"
#include "src/net/wire.hpp"

namespace hermes::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::uint32_t kResponseHeaderLimit = 32 * 1024;
// The read buffer holds what is being parsed: a response head, a chunk-size line, a trailer
// section (bodies are handed on as they arrive). Beast limits neither chunk extensions nor
// trailers, so this cap is what bounds them, and keeps every buffered field below the
// 64 KiB at which Beast's fields throw (an upstream could end the process with one).
constexpr std::size_t kResponseBufferLimit = kResponseHeaderLimit + 16 * 1024;
static_assert(kResponseBufferLimit < 65'000, "a buffered field must stay below Beast's 64 KiB field limit");
constexpr std::size_t kResponseChunkExtensionLimit = 1024;
constexpr std::size_t kReadChunk = 16 * 1024;
constexpr auto kTrustedIdle = std::chrono::seconds(1);  // reused without a liveness poll

Clock::time_point earlier(Clock::time_point a, Duration after_now) {
  auto now = Clock::now();
  // Saturating: a huge timeout must not overflow the time_point.
  if (after_now >= std::chrono::duration_cast<Duration>(Clock::time_point::max() - now)) {
    return a;
  }
  return std::min(a, now + after_now);
}

asio::awaitable<bool> is_cancelled() {
  auto state = co_await asio::this_coro::cancellation_state;
  co_return state.cancelled() != asio::cancellation_type::none;
}

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// A connection closed by the server while idle shows up as readable (EOF);
// anything readable on an idle HTTP connection means it cannot be reused.
bool looks_alive(tcp::socket& socket) {
  if (!socket.is_open()) {
    return false;
  }
  pollfd p{};
  p.fd = socket.native_handle();
  p.events = POLLIN;
  return ::poll(&p, 1, 0) == 0;
}

bool stale_connection_error(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == ssl::error::stream_truncated;
}

// Tries each address in turn until one accepts (e.g. "localhost" may offer
// ::1 first while the server listens on 127.0.0.1 only).
asio::awaitable<boost::system::error_code> connect_any(tcp::socket& socket, std::vector<tcp::endpoint> endpoints,
                                                       const Watchdog& dog) {
  boost::system::error_code ec = asio::error::host_not_found;
  for (const auto& endpoint : endpoints) {
    boost::system::error_code ignored;
    socket.close(ignored);
    socket.open(endpoint.protocol(), ec);
    if (ec) {
      continue;
    }
    std::tie(ec) = co_await socket.async_connect(endpoint, kAsTuple);
    bool stop = co_await is_cancelled();
    if (!ec || dog.fired() || stop) {
      break;
    }
  }
  if (!ec) {
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
  }
  co_return ec;
}

// Verifies the peer's chain and that the certificate names `host`.
asio::awaitable<boost::system::error_code> handshake(ssl::stream<tcp::socket>& stream, std::string host) {
  // SNI only for names: RFC 6066 forbids IP literals there.
  if (!is_ip_literal(host)) {
    SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());
  }
  stream.set_verify_callback(ssl::host_name_verification(host));
  auto [ec] = co_await stream.async_handshake(ssl::stream_base::client, kAsTuple);
  co_return ec;
}

}  // namespace

std::string_view client_error_name(ClientErrorKind kind) {
  switch (kind) {
    case ClientErrorKind::none: return "none";
    case ClientErrorKind::connect: return "connect";
    case ClientErrorKind::timeout: return "timeout";
    case ClientErrorKind::protocol: return "protocol";
    case ClientErrorKind::cancelled: return "cancelled";
  }
  return "unknown";
}

std::optional<ParsedUrl> parse_http_url(std::string_view text, std::string& error) {
  auto parsed = boost::urls::parse_absolute_uri(text);
  if (!parsed) {
    error = "not an absolute URL";
    return std::nullopt;
  }
  const auto& u = *parsed;
  ParsedUrl out;
  if (u.scheme_id() == boost::urls::scheme::https) {
    out.tls = true;
  } else if (u.scheme_id() != boost::urls::scheme::http) {
    error = "the scheme must be http or https";
    return std::nullopt;
  }
  if (u.has_userinfo()) {
    error = "credentials in the URL are not supported";  // and would end up in logs
    return std::nullopt;
  }
  out.host = u.host_type() == boost::urls::host_type::ipv6 ? std::string(u.host_ipv6_address().to_string())
                                                            : std::string(u.host_address());
  if (out.host.empty()) {
    error = "the URL has no host";
    return std::nullopt;
  }
  if (u.has_port()) {
    if (u.port().empty() || u.port_number() == 0) {
      error = "invalid port";
      return std::nullopt;
    }
    out.port = u.port_number();
  } else {
    out.port = out.tls ? 443 : 80;
  }
  out.path = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
  out.target = out.path;
  if (u.has_query()) {
    out.target += "?" + std::string(u.encoded_query());
  }
  std::string host_part(u.encoded_host());
  out.authority = host_part;
  if (out.port != (out.tls ? 443 : 80)) {
    out.authority += ":" + std::to_string(out.port);
  }
  out.origin = std::string(out.tls ? "https://" : "http://") + host_part + ":" + std::to_string(out.port);
  return out;
}

// One pooled connection: a TCP socket, or TLS over one, and the read buffer
// that belongs to it.
struct Connection {
  std::optional<tcp::socket> plain;
  std::optional<ssl::stream<tcp::socket>> tls;
  beast::flat_buffer buffer{kResponseBufferLimit};
  // Response bodies are read through this; kept with the connection, because a 16 KiB
  // allocation per response made glibc consolidate its free lists on every request.
  std::unique_ptr<char[]> body_chunk;
  Clock::time_point idle_since;

  char* body_chunk_buffer() {
    if (!body_chunk) body_chunk = std::make_unique_for_overwrite<char[]>(kReadChunk);
    return body_chunk.get();
  }

  tcp::socket& socket() { return tls ? tls->next_layer() : *plain; }
  void close() {
    boost::system::error_code ec;
    socket().shutdown(tcp::socket::shutdown_both, ec);
    socket().close(ec);
  }
};

// What became of one request on one connection.
enum class Outcome { reusable, close, retry_fresh };

struct HttpClient::Impl {
  asio::io_context& io;
  HttpClientOptions options;
  ssl::context tls_context{ssl::context::tls_client};
  mutable std::mutex mutex;
  std::unordered_map<std::string, std::deque<std::unique_ptr<Connection>>> idle;
  // Backends call the same few URLs over and over: parse each once (bounded).
  std::unordered_map<std::string, ParsedUrl> parsed_urls;  // guarded by `mutex`
  observability::CounterFamily* connects = nullptr;         // by origin; null without metrics
  std::optional<ParsedUrl> parse_cached(const std::string& url, std::string& error);

  Impl(asio::io_context& i, HttpClientOptions o);
  std::unique_ptr<Connection> take_idle(const std::string& origin);
  void give_back(const std::string& origin, std::unique_ptr<Connection> conn);

  static asio::awaitable<ClientResult> perform(std::shared_ptr<Impl> self, ClientRequest request,
                                               HeadHandler on_head, BodyHandler on_body);
  asio::awaitable<std::unique_ptr<Connection>> connect(const ParsedUrl& url, const ClientRequest& request,
                                                       Watchdog& dog, ClientResult& result);
  asio::awaitable<bool> resolve(const ParsedUrl& url, Clock::time_point deadline, Watchdog& dog,
                                std::vector<tcp::endpoint>& out, ClientResult& result);
  template <class Stream>
  asio::awaitable<Outcome> exchange(Stream& stream, Connection& conn, const ParsedUrl& url,
                                    const ClientRequest& request, const HeadHandler& on_head,
                                    const BodyHandler& on_body, Watchdog& dog, ClientResult& result);
  template <class Stream, class Parser>
  asio::awaitable<Outcome> read_body(Stream& stream, Connection& conn, Parser& parser, const BodyHandler& on_body,
                                     Watchdog& dog, ClientResult& result);
};

HttpClient::Impl::Impl(asio::io_context& i, HttpClientOptions o) : io(i), options(std::move(o)) {
  if (options.metrics) {
    connects = &options.metrics->counter("hermes_upstream_connects_total",
                                         "Upstream connections opened (connect, and TLS handshake where used).",
                                         {"origin"});
  }
  boost::system::error_code ec;
  tls_context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                              ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                          ec);
  if (options.ca_file.empty()) {
    tls_context.set_default_verify_paths(ec);
  } else {
    tls_context.load_verify_file(options.ca_file.string(), ec);
  }
  if (ec) {
    throw std::runtime_error("cannot load CA certificates" +
                             (options.ca_file.empty() ? std::string() : " from " + options.ca_file.string()) + ": " +
                             ec.message());
  }
  tls_context.set_verify_mode(ssl::verify_peer);
}

std::unique_ptr<Connection> HttpClient::Impl::take_idle(const std::string& origin) {
  std::unique_ptr<Connection> found;
  std::vector<std::unique_ptr<Connection>> expired;
  {
    std::lock_guard lock(mutex);
    auto it = idle.find(origin);
    if (it == idle.end()) {
      return nullptr;
    }
    const auto now = Clock::now();
    const auto oldest_allowed = now - options.idle_timeout;
    const auto trusted_since = now - kTrustedIdle;
    auto& list = it->second;
    // Most recently used first: it is the least likely to have been closed by the server.
    while (!list.empty() && !found) {
      auto conn = std::move(list.back());
      list.pop_back();
      // The liveness poll is a syscall per call; a connection back in the pool for under a
      // second is almost never closed by now, and if it was, the request is retried on a
      // fresh connection (a stale error on a reused connection before any response).
      bool recently_used = conn->idle_since >= trusted_since;
      if (conn->idle_since >= oldest_allowed && (recently_used || looks_alive(conn->socket()))) {
        found = std::move(conn);
      } else {
        expired.push_back(std::move(conn));
      }
    }
  }
  for (auto& conn : expired) {
    conn->close();
  }
  return found;
}

void HttpClient::Impl::give_back(const std::string& origin, std::unique_ptr<Connection> conn) {
  conn->idle_since = Clock::now();
  std::vector<std::unique_ptr<Connection>> evicted;
  {
    std::lock_guard lock(mutex);
    auto& list = idle[origin];
    list.push_back(std::move(conn));
    auto oldest_allowed = Clock::now() - options.idle_timeout;
    while (!list.empty() && (list.size() > options.max_idle_per_host || list.front()->idle_since < oldest_allowed)) {
      evicted.push_back(std::move(list.front()));
      list.pop_front();
    }
  }
  for (auto& c : evicted) {
    c->close();
  }
}

asio::awaitable<bool> HttpClient::Impl::resolve(const ParsedUrl& url, Clock::time_point deadline, Watchdog& dog,
                                                std::vector<tcp::endpoint>& out, ClientResult& result) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(url.host, ec);
  if (!ec) {
    out.emplace_back(address, url.port);
    co_return true;
  }
  tcp::resolver resolver(co_await asio::this_coro::executor);
  // A resolve that has not started yet is cancelled at the deadline; one
  // already inside getaddrinfo finishes first (the system's own timeouts bound it).
  dog.arm(deadline, [&resolver] { resolver.cancel(); });
  auto [rec, results] = co_await resolver.async_resolve(url.host, std::to_string(url.port), kAsTuple);
  dog.disarm();
  bool cancelled = co_await is_cancelled();
  if (rec) {
    if (cancelled) {
      result.error = ClientErrorKind::cancelled;
      result.message += ": cancelled while resolving " + url.host;
    } else if (dog.fired()) {
      result.error = ClientErrorKind::timeout;
      result.message += ": resolving " + url.host + " timed out";
    } else {
      result.error = ClientErrorKind::connect;
      result.message += ": cannot resolve " + url.host + ": " + rec.message();
    }
    co_return false;
  }
  for (const auto& entry : results) {
    out.push_back(entry.endpoint());
  }
  co_return !out.empty();
}

asio::awaitable<std::unique_ptr<Connection>> HttpClient::Impl::connect(const ParsedUrl& url,
                                                                       const ClientRequest& request, Watchdog& dog,
                                                                       ClientResult& result) {
  auto connect_deadline = earlier(request.deadline, request.connect_timeout);
  std::vector<tcp::endpoint> endpoints;
  bool resolved = co_await resolve(url, connect_deadline, dog, endpoints, result);
  if (!resolved) {
    co_return nullptr;
  }
  auto conn = std::make_unique<Connection>();
  if (url.tls) {
    conn->tls.emplace(io.get_executor(), tls_context);
  } else {
    conn->plain.emplace(io.get_executor());
  }
  tcp::socket& socket = conn->socket();
  dog.arm(connect_deadline, [&socket] {
    boost::system::error_code ec;
    socket.close(ec);
  });
  auto ec = co_await connect_any(socket, std::move(endpoints), dog);
  const char* failed = "connect failed: ";
  if (!ec && url.tls) {
    failed = "TLS handshake failed: ";
    ec = co_await handshake(*conn->tls, url.host);
  }
  dog.disarm();
  bool cancelled = co_await is_cancelled();
  if (ec) {
    if (cancelled) {
      result.error = ClientErrorKind::cancelled;
      result.message += ": cancelled while connecting";
    } else if (dog.fired()) {
      result.error = ClientErrorKind::timeout;
      result.message += ": connect timed out";
    } else {
      result.error = ClientErrorKind::connect;
      result.message += std::string(": ") + failed + ec.message();
    }
    conn->close();
    co_return nullptr;
  }
  if (connects) connects->with({url.origin}).inc();
  co_return conn;
}

template <class Stream>
asio::awaitable<Outcome> HttpClient::Impl::exchange(Stream& stream, Connection& conn, const ParsedUrl& url,
                                                    const ClientRequest& request, const HeadHandler& on_head,
                                                    const BodyHandler& on_body, Watchdog& dog, ClientResult& result) {
  std::string request_head = wire::request_head(request.method, url.target, url.authority, options.user_agent,
                                                request.headers, request.body.size());
  std::array<asio::const_buffer, 2> message{asio::buffer(request_head), asio::buffer(request.body)};

  // From the first byte sent to the complete response head.
  tcp::socket& socket = conn.socket();
  auto close_socket = [&socket] {
    boost::system::error_code ec;
    socket.close(ec);
  };
  dog.arm(earlier(request.deadline, request.first_byte_timeout), close_socket);
  auto [wec, wn] = co_await asio::async_write(stream, message, kAsTuple);
  if (wec) {
    if (result.reused_connection && stale_connection_error(wec) && !dog.fired()) {
      co_return Outcome::retry_fresh;
    }
    result.error = ClientErrorKind::protocol;
    result.message += ": sending the request failed: " + wec.message();
    co_return Outcome::close;
  }
  result.request_sent = true;

  http::response_parser<http::buffer_body> parser;
  parser.header_limit(kResponseHeaderLimit);
  parser.body_limit(boost::none);  // the deadline bounds a stream; fetch() bounds what it keeps
  if (request.method == "HEAD") {
    parser.skip(true);
  }
  // No server needs chunk extensions: a long one is a protocol error, not a buffer to grow.
  auto on_chunk_header = [](std::uint64_t, std::string_view extensions, boost::system::error_code& ec) {
    if (extensions.size() > kResponseChunkExtensionLimit) ec = http::error::bad_chunk_extension;
  };
  parser.on_chunk_header(on_chunk_header);
  auto [hec, hn] = co_await http::async_read_header(stream, conn.buffer, parser, kAsTuple);
  if (hec) {
    // The server closed a pooled connection just as it was reused: nothing of
    // this request was processed, so it may go out again on a fresh one.
    bool cancelled = co_await is_cancelled();
    if (result.reused_connection && hn == 0 && !parser.got_some() && stale_connection_error(hec) && !dog.fired() &&
        !cancelled) {
      co_return Outcome::retry_fresh;
    }
    result.error = ClientErrorKind::protocol;
    result.message += ": reading the response head failed: " + hec.message();
    co_return Outcome::close;
  }
  const auto& head = parser.get();
  result.status = static_cast<int>(head.result_int());
  for (const auto& field : head) {
    result.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  if (on_head) {
    ClientResponseHead response_head{result.status, result.headers};
    on_head(response_head);
  }
  dog.arm(request.deadline, close_socket);
  co_return co_await read_body(stream, conn, parser, on_body, dog, result);
}

template <class Stream, class Parser>
asio::awaitable<Outcome> HttpClient::Impl::read_body(Stream& stream, Connection& conn, Parser& parser,
                                                     const BodyHandler& on_body, Watchdog& dog,
                                                     ClientResult& result) {
  char* buffer = conn.body_chunk_buffer();  // uninitialised: zeroing it showed in the profile
  while (!parser.is_done()) {
    parser.get().body().data = buffer;
    parser.get().body().size = kReadChunk;
    auto [ec, n] = co_await http::async_read_some(stream, conn.buffer, parser, kAsTuple);
    if (ec == http::error::need_buffer) {
      ec = {};
    }
    if (ec == ssl::error::stream_truncated && parser.need_eof()) {
      // A TLS peer that ends an until-EOF body without close_notify.
      parser.put_eof(ec);
    }
    if (ec) {
      result.error = ClientErrorKind::protocol;
      result.message += ": reading the response body failed: " + ec.message();
      co_return Outcome::close;
    }
    std::size_t got = kReadChunk - parser.get().body().size;
    if (got == 0) {
      continue;
    }
    bool more = true;
    if (on_body) {
      more = co_await on_body(std::string(buffer, got));
    }
    bool cancelled = co_await is_cancelled();
    if (dog.fired() || cancelled) {
      result.error = ClientErrorKind::cancelled;  // the caller names the cause: timeout or cancellation
      co_return Outcome::close;
    }
    if (!more) {
      result.error = ClientErrorKind::cancelled;
      result.message += ": aborted by the receiver";
      co_return Outcome::close;
    }
  }
  // Reusable only when the response was read whole, the server keeps the
  // connection, and nothing unexpected is buffered after it.
  bool reusable = parser.keep_alive() && conn.buffer.size() == 0;
  co_return reusable ? Outcome::reusable : Outcome::close;
}

std::optional<ParsedUrl> HttpClient::Impl::parse_cached(const std::string& url, std::string& error) {
  constexpr std::size_t kMaxCachedUrls = 256;
  {
    std::lock_guard lock(mutex);
    if (auto found = parsed_urls.find(url); found != parsed_urls.end()) return found->second;
  }
  auto parsed = parse_http_url(url, error);
  if (parsed) {
    std::lock_guard lock(mutex);
    if (parsed_urls.size() >= kMaxCachedUrls) parsed_urls.clear();
    parsed_urls.emplace(url, *parsed);
  }
  return parsed;
}

asio::awaitable<ClientResult> HttpClient::Impl::perform(std::shared_ptr<Impl> self, ClientRequest request,
                                                        HeadHandler on_head, BodyHandler on_body) {
  ClientResult result;
  std::string error;
  auto url = self->parse_cached(request.url, error);
  if (!url) {
    result.error = ClientErrorKind::protocol;
    result.message = "invalid URL: " + error;
    co_return result;
  }
  const std::string describe = request.method + " " + url->origin + url->path;
  for (int attempt = 0; attempt < 2; ++attempt) {
    result = ClientResult{};
    result.message = describe;
    result.retried_stale = attempt > 0;
    if (Clock::now() >= request.deadline) {
      result.error = ClientErrorKind::timeout;
      result.message += ": the deadline passed before the request was sent";
      co_return result;
    }
    bool cancelled_before = co_await is_cancelled();
    if (cancelled_before) {
      result.error = ClientErrorKind::cancelled;
      result.message += ": cancelled";
      co_return result;
    }
    Watchdog dog(co_await asio::this_coro::executor);
    auto conn = attempt == 0 ? self->take_idle(url->origin) : nullptr;
    result.reused_connection = conn != nullptr;
    if (!conn) {
      conn = co_await self->connect(*url, request, dog, result);
      if (!conn) {
        co_return result;
      }
    }
    Outcome outcome = Outcome::close;
    if (conn->tls) {
      outcome = co_await self->exchange(*conn->tls, *conn, *url, request, on_head, on_body, dog, result);
    } else {
      outcome = co_await self->exchange(*conn->plain, *conn, *url, request, on_head, on_body, dog, result);
    }
    dog.disarm();
    if (outcome == Outcome::retry_fresh) {
      conn->close();
      continue;
    }
    // A timeout or cancellation surfaces as whatever error the aborted
    // operation reported; name the real cause.
    bool cancelled_during = co_await is_cancelled();
    if (!result.ok() && cancelled_during) {
      result.error = ClientErrorKind::cancelled;
      result.message = describe + ": cancelled";
    } else if (!result.ok() && dog.fired()) {
      result.error = ClientErrorKind::timeout;
      result.message = describe + (result.status == 0 ? ": timed out waiting for the response head"
                                                      : ": the response did not complete before the deadline");
    }
    // (A deadline that fired just as the response completed has closed the socket.)
    if (outcome == Outcome::reusable && result.ok() && conn->socket().is_open()) {
      self->give_back(url->origin, std::move(conn));
    } else {
      conn->close();
    }
    co_return result;
  }
  co_return result;
}

namespace {

struct Collector {
  std::string body;
  std::uint64_t limit = 0;
  bool overflow = false;
};

asio::awaitable<bool> collect_piece(Collector* c, std::string piece) {
  if (c->body.size() + piece.size() > c->limit) {
    c->overflow = true;
    co_return false;
  }
  c->body += piece;
  co_return true;
}

}  // namespace

HttpClient::HttpClient(asio::io_context& io, HttpClientOptions options)
    : impl_(std::make_shared<Impl>(io, std::move(options))) {}

HttpClient::~HttpClient() { close_idle(); }

asio::awaitable<ClientResult> HttpClient::stream(ClientRequest request, HeadHandler on_head, BodyHandler on_body) {
  // throw_if_cancelled(false) for the client's own duration, so a cancelled
  // request ends in a ClientResult rather than an exception; then the caller's
  // setting is restored (it is shared by the whole coroutine thread).
  bool throws = co_await asio::this_coro::throw_if_cancelled();
  co_await asio::this_coro::throw_if_cancelled(false);
  std::exception_ptr failure;
  ClientResult result;
  try {
    result = co_await Impl::perform(impl_, std::move(request), std::move(on_head), std::move(on_body));
  } catch (...) {
    failure = std::current_exception();  // from a caller's callback
  }
  co_await asio::this_coro::throw_if_cancelled(throws);
  if (failure) {
    std::rethrow_exception(failure);
  }
  co_return result;
}

asio::awaitable<ClientResult> HttpClient::fetch(ClientRequest request) {
  auto collector = std::make_shared<Collector>();
  collector->limit = request.body_limit;
  auto on_body = [c = collector.get()](std::string piece) { return collect_piece(c, std::move(piece)); };
  auto result = co_await stream(std::move(request), nullptr, std::move(on_body));
  if (collector->overflow) {
    result.error = ClientErrorKind::protocol;
    result.message += " (response body exceeds " + std::to_string(collector->limit) + " bytes)";
  }
  result.body = std::move(collector->body);
  co_return result;
}

std::size_t HttpClient::idle_connections() const {
  std::lock_guard lock(impl_->mutex);
  std::size_t n = 0;
  for (const auto& [origin, list] : impl_->idle) {
    n += list.size();
  }
  return n;
}

void HttpClient::close_idle() {
  std::unordered_map<std::string, std::deque<std::unique_ptr<Connection>>> drained;
  {
    std::lock_guard lock(impl_->mutex);
    drained.swap(impl_->idle);
  }
  for (auto& [origin, list] : drained) {
    for (auto& conn : list) {
      conn->close();
    }
  }
}

}  // namespace hermes::net
