#include "hermes/net/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <spdlog/spdlog.h>

#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <unordered_map>

#include "hermes/core/throttle.hpp"
#include "hermes/observability/metrics.hpp"
#include "src/net/as_tuple.hpp"
#include "src/net/connection_state.hpp"
#include "src/net/lmtp_session.hpp"
#include "src/net/tls_context.hpp"
#include "src/net/websocket_session.hpp"
#include "src/net/wire.hpp"

namespace hermes::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kHeaderLimit = 16 * 1024;
// The read buffer holds what is being parsed: a request head, a chunk-size line, a trailer
// section (bodies go straight into the request). Beast limits neither chunk extensions nor
// trailers, so this cap is what bounds them: memory per connection before authentication,
// and every trailer field far below the 64 KiB at which Beast's fields throw.
constexpr std::size_t kReadBufferLimit = kHeaderLimit + 8 * 1024;
static_assert(kReadBufferLimit < 65'000, "a buffered field must stay below Beast's 64 KiB field limit");
// No client needs chunk extensions; one longer than this is refused, and all of them count
// against the body limit.
constexpr std::size_t kMaxChunkExtension = 1024;

// A client-sent value for a log line or an audit row: printable ASCII, the rest as '?'.
std::string sanitize_for_log(std::string_view value) {
  std::string out(value);
  for (auto& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return out;
}

// Whose share of max_connections_per_peer a connection takes: the address, or for IPv6
// its /64 (one host commonly holds a whole /64 and can pick any address in it).
IpAddress peer_share(const IpAddress& peer) {
  if (peer.is_v4()) return peer;
  std::array<std::uint8_t, 16> bytes = peer.bytes();
  std::fill(bytes.begin() + 8, bytes.end(), std::uint8_t{0});
  return IpAddress::from_v6(bytes);
}

// A key for per-peer connection counts.
struct IpHash {
  std::size_t operator()(const IpAddress& ip) const noexcept {
    std::string_view bytes(reinterpret_cast<const char*>(ip.bytes().data()), ip.bytes().size());
    return std::hash<std::string_view>{}(bytes);
  }
};

IpAddress to_ip(const asio::ip::address& a) {
  if (a.is_v4()) {
    return IpAddress::from_v4(a.to_v4().to_bytes());
  }
  return IpAddress::from_v6(a.to_v6().to_bytes());
}

asio::ip::address to_asio(const IpAddress& ip) {
  if (ip.is_v4()) {
    const auto& b = ip.bytes();
    return asio::ip::address_v4({b[0], b[1], b[2], b[3]});
  }
  return asio::ip::address_v6(ip.bytes());
}

}  // namespace

struct Listener {
  std::string name;
  tcp::acceptor acceptor;
  mutable std::mutex settings_mutex;
  std::shared_ptr<const ListenerSettings> settings;
  std::atomic<std::uint32_t> active{0};
  EventThrottle refusal_throttle;  // listener.refused rows and log lines
  EventThrottle accept_error_log{1, 0.1};  // accept failures (EMFILE): a line per 10 s, not 20 per second
  observability::Counter* accepted = nullptr;
  observability::Counter* accept_errors = nullptr;
  observability::Counter* refused = nullptr;
  observability::Counter* shed = nullptr;
  observability::Gauge* open = nullptr;
  std::mutex peers_mutex;
  std::unordered_map<IpAddress, std::uint32_t, IpHash> per_peer;  // open connections by peer

  // Counts a connection from `peer` unless it already holds `cap` (0: no cap).
  bool add_peer(const IpAddress& peer, std::uint32_t cap) {
    std::lock_guard lock(peers_mutex);
    auto& n = per_peer[peer];
    if (cap != 0 && n >= cap) {
      if (n == 0) per_peer.erase(peer);
      return false;
    }
    ++n;
    return true;
  }
  void remove_peer(const IpAddress& peer) {
    std::lock_guard lock(peers_mutex);
    auto it = per_peer.find(peer);
    if (it != per_peer.end() && --it->second == 0) per_peer.erase(it);
  }

  Listener(asio::io_context& io, std::string n) : name(std::move(n)), acceptor(io) {}
  std::shared_ptr<const ListenerSettings> current() const {
    std::lock_guard lock(settings_mutex);
    return settings;
  }
};

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  asio::io_context& io;
  bool single_threaded;  // one thread runs `io`
  observability::MetricsRegistry& metrics;
  AuditSink& audit;
  std::vector<std::unique_ptr<Listener>> listeners;
  std::atomic<bool> draining{false};
  std::mutex connections_mutex;
  std::unordered_map<std::uint64_t, std::weak_ptr<ConnectionState>> connections;
  std::atomic<std::uint64_t> next_connection_id{1};
  std::atomic<std::size_t> active_total{0};
  // A connection's coroutine ended with an exception: counted in
  // hermes_internal_errors_total{where="connection"}, logged (throttled), and only that
  // connection is closed.
  observability::ReportFailure connection_failed;
  observability::CounterFamily& requests;
  observability::HistogramFamily& latency;
  observability::CounterFamily* lmtp_replies;

  Impl(asio::io_context& i, bool one_thread, observability::MetricsRegistry& m, AuditSink& a)
      : io(i), single_threaded(one_thread), metrics(m), audit(a),
        connection_failed(m, "connection"),
        requests(m.counter("hermes_http_requests_total", "HTTP requests answered, by listener, route and status code.",
                           {"listener", "route", "code"})),
        latency(m.histogram("hermes_http_request_duration_seconds",
                            "Time from a complete request head to the response written.", {"listener", "route"})),
        lmtp_replies(&m.counter("hermes_lmtp_replies_total",
                                "LMTP replies sent, by listener and reply code (one per recipient after DATA).",
                                {"listener", "code"})) {}

  Listener* find(const std::string& name) {
    for (auto& l : listeners) {
      if (l->name == name) return l.get();
    }
    return nullptr;
  }

  // `host`: the Host a refused request named (host_not_allowed), for the log and the row.
  void refuse(Listener& l, const IpAddress& peer, std::uint16_t port, const char* reason,
              std::string_view host = {});
  asio::awaitable<void> accept_loop(Listener* l);
  // `socket` was accepted onto `executor`, the connection's (re-registering it with epoll
  // afterwards cost two epoll_ctl calls per connection).
  void start_connection(Listener& l, tcp::socket socket, asio::any_io_executor executor);
  // A strand per connection, unless one thread runs the io_context: then every handler is
  // already serialised, and a strand's queue and locks cost ~10% of the event loop's
  // instructions per API request (callgrind, docs/performance.md).
  asio::any_io_executor connection_executor() {
    if (single_threaded) return io.get_executor();
    return asio::make_strand(io);
  }
  template <class Stream>
  asio::awaitable<void> serve(Stream& stream, Listener* l, std::shared_ptr<ConnectionState> state, IpAddress peer,
                              std::uint16_t peer_port);
  template <class Stream>
  asio::awaitable<HttpResponse> handle(Stream& stream, beast::flat_buffer& buffer, Listener* l,
                                       const ListenerSettings& settings,
                                       std::chrono::steady_clock::time_point head_deadline, IpAddress peer,
                                       std::uint16_t peer_port, HttpRequest& out, bool& ok,
                                       std::shared_ptr<ConnectionState> state);
};

void HttpServer::Impl::refuse(Listener& l, const IpAddress& peer, std::uint16_t port, const char* reason,
                              std::string_view host) {
  std::uint64_t suppressed = 0;
  if (!l.refusal_throttle.allow(suppressed)) {
    return;  // counted in the metric; the log and audit row are rate-limited
  }
  std::string shown_host = sanitize_for_log(host.substr(0, 200));
  std::string named = host.empty() ? std::string()
                                   : fmt::format(" for Host '{}': not in listeners.server_names", shown_host);
  spdlog::warn("listener {}: refused {} from {}:{} ({}){}{}", l.name, host.empty() ? "connection" : "request",
               peer.to_string(), port, reason, named,
               suppressed ? fmt::format("; {} more refusals not logged", suppressed) : std::string());
  AuditEvent ev;
  ev.kind = "listener.refused";
  ev.channel = "";
  ev.decision = "refused";
  ev.status = reason;
  ev.detail = {{"listener", l.name}, {"peer", peer.to_string()}, {"peer_port", port},
               {"suppressed_since_last", suppressed}};
  if (!host.empty()) ev.detail["host"] = shown_host;
  audit.record(std::move(ev));
}

void HttpServer::Impl::start_connection(Listener& l, tcp::socket socket,
                                        asio::any_io_executor executor) {
  boost::system::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  if (ec) {
    return;  // the peer already went away
  }
  IpAddress peer = to_ip(remote.address());
  auto settings = l.current();
  if (!settings->admits(peer)) {
    socket.close(ec);
    l.refused->inc();
    refuse(l, peer, remote.port(), "peer_not_allowed");
    return;
  }
  if (draining.load() || l.active.load() >= settings->max_connections) {
    socket.close(ec);
    l.shed->inc();
    if (!draining.load()) refuse(l, peer, remote.port(), "max_connections");
    return;
  }
  if (!l.add_peer(peer_share(peer), settings->max_connections_per_peer)) {
    socket.close(ec);
    l.shed->inc();
    refuse(l, peer, remote.port(), "max_connections_per_peer");
    return;
  }
  socket.set_option(tcp::no_delay(true), ec);
  l.accepted->inc();
  l.active.fetch_add(1);
  l.open->add(1);
  active_total.fetch_add(1);
  auto state = std::make_shared<ConnectionState>(std::move(executor));
  auto id = next_connection_id.fetch_add(1);
  {
    std::lock_guard lock(connections_mutex);
    connections.emplace(id, state);
  }
  auto self = shared_from_this();
  auto finished = [self, id, lp = &l, peer](std::exception_ptr e) {
    if (e) self->connection_failed(e);
    lp->remove_peer(peer_share(peer));
    {
      std::lock_guard lock(self->connections_mutex);
      self->connections.erase(id);
    }
    lp->active.fetch_sub(1);
    lp->open->add(-1);
    self->active_total.fetch_sub(1);
  };
  if (settings->protocol == ListenerProtocol::lmtp) {
    LmtpSession session{l.name, peer, settings->lmtp, settings->lmtp_routes, {}, settings->tls, state, &draining,
                        lmtp_replies};
    session.current_routes = [self, lp = &l] { return lp->current()->lmtp_routes; };
    asio::co_spawn(state->executor, serve_lmtp(std::move(socket), std::move(session)),
                   asio::bind_cancellation_slot(state->client_left.slot(), finished));
  } else if (settings->tls) {
    auto tls = settings->tls;
    state->tls = true;
    asio::co_spawn(
        state->executor,
        [](std::shared_ptr<Impl> impl, Listener* lp, std::shared_ptr<ConnectionState> st,
           std::shared_ptr<TlsContext> ctx, tcp::socket sock, IpAddress p,
           std::uint16_t pport) -> asio::awaitable<void> {
          asio::ssl::stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(sock)), ctx->ssl);
          co_await impl->serve(stream, lp, st, p, pport);
        }(self, &l, state, tls, std::move(socket), peer, remote.port()),
        asio::bind_cancellation_slot(state->client_left.slot(), finished));
  } else {
    asio::co_spawn(
        state->executor,
        [](std::shared_ptr<Impl> impl, Listener* lp, std::shared_ptr<ConnectionState> st, tcp::socket sock,
           IpAddress p, std::uint16_t pport) -> asio::awaitable<void> {
          beast::tcp_stream stream(std::move(sock));
          co_await impl->serve(stream, lp, st, p, pport);
        }(self, &l, state, std::move(socket), peer, remote.port()),
        asio::bind_cancellation_slot(state->client_left.slot(), finished));
  }
}

asio::awaitable<void> HttpServer::Impl::accept_loop(Listener* l) {
  for (;;) {
    auto executor = connection_executor();
    auto [ec, socket] = co_await l->acceptor.async_accept(executor, kAsTuple);
    if (ec == asio::error::operation_aborted || !l->acceptor.is_open()) {
      co_return;
    }
    if (ec) {
      // EMFILE and friends: back off briefly rather than spin; the connection waits in the
      // backlog and is accepted once a descriptor is free.
      l->accept_errors->inc();
      std::uint64_t suppressed = 0;
      if (l->accept_error_log.allow(suppressed)) {
        spdlog::error("listener {}: accept failed: {} ({} more since the last report; retrying every 50 ms)",
                      l->name, ec.message(), suppressed);
      }
      asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(50));
      co_await t.async_wait(kAsTuple);
      continue;
    }
    start_connection(*l, std::move(socket), std::move(executor));
  }
}

namespace {

template <class Stream>
auto& lowest(Stream& s) {
  return beast::get_lowest_layer(s);
}

// Whether a plain-TCP client has sent its FIN with nothing left unread. Asio's epoll
// reactor (Boost 1.81) takes a short read as "nothing more to read" and then waits for
// the next readiness edge; a FIN that arrived together with the request's last bytes had
// its edge already, so a read would wait for the head or idle timeout instead of seeing
// EOF. Checked before each read that waits for a client (found by the http_server fuzz
// target: 4 s per half-closed exchange, 10 s on hermesd's defaults).
template <class Stream>
bool client_sent_fin(Stream& stream) {
  if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
    return false;  // TLS: records, not bytes; the TLS layer's own read sees its close
  } else {
    char byte;
    return ::recv(stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
  }
}

template <class Stream>
asio::awaitable<bool> write_response(Stream& stream, HttpResponse& r, bool keep_alive, bool head_only,
                                     Duration timeout) {
  std::string head = wire::response_head(r.status, r.headers, {r.body.size(), false}, keep_alive);
  lowest(stream).expires_after(timeout);
  std::array<asio::const_buffer, 2> message{asio::buffer(head), asio::buffer(r.body)};
  if (head_only || r.status == 204 || r.status == 304) message[1] = asio::const_buffer();
  auto [ec, n] = co_await asio::async_write(stream, message, kAsTuple);
  co_return !ec;
}

// A refusal (413, 431, 400…) may leave the client's bytes unread; closing a socket with
// unread data sends a reset, which can destroy the refusal before the client reads it.
// So after our FIN, what still arrives is read and dropped, for a second and 1 MiB at most
// (nginx's lingering close).
asio::awaitable<void> drain_before_close(beast::tcp_stream& stream) {
  std::array<char, 4096> sink;
  std::size_t drained = 0;
  stream.expires_after(std::chrono::seconds(1));
  while (drained < 1024 * 1024 && !client_sent_fin(stream)) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), kAsTuple);
    if (ec) break;
    drained += n;
  }
}

HttpResponse too_large(std::uint64_t limit) {
  auto r = HttpResponse::error(413, "request_too_large",
                               "request body exceeds the limit of " + std::to_string(limit) + " bytes");
  r.close = true;
  return r;
}

namespace {
// Whether the peeked bytes are a TLS client's goodbye rather than a pipelined request:
// one whole record that is either a plaintext alert (TLS 1.2) or too short to carry any
// HTTP request. TLS 1.3 hides the type (RFC 8446 5.2): its close_notify is an
// application_data record of 19 bytes (alert 2, type 1, AEAD tag 16), while the
// smallest request line already needs 16 bytes of data and the tag.
bool tls_goodbye(const unsigned char* bytes, std::size_t n) {
  constexpr unsigned char kAlert = 21, kApplicationData = 23;
  constexpr std::size_t kHeader = 5, kMaxGoodbyeBody = 24;
  if (n < kHeader) return false;
  std::size_t body = (std::size_t{bytes[3]} << 8) | bytes[4];
  if (bytes[0] == kAlert) return true;
  return bytes[0] == kApplicationData && body <= kMaxGoodbyeBody && n == kHeader + body;
}
}  // namespace

// Watches the client's socket while a handler works, so that an abandoned request stops
// its upstream work. When the client has closed, it emits a terminal cancellation on
// the connection's signal, which reaches whatever the handler awaits. The watch is a
// MSG_PEEK receive (one byte; under TLS, enough for a short record) queued on the
// connection's executor: no coroutine of its own (racing the handler against a second
// coroutine cost more than the rest of the request's bookkeeping), and no system call
// while the client stays, where a readiness wait (async_wait) re-armed epoll with one
// per request. A readable socket with data (a pipelined request) is not a disconnect;
// the peeked bytes stay for the next read and the watch ends, so a client that
// pipelines and then leaves is noticed when its answer is written. Under TLS the bytes
// are records, and a client closes with a close_notify alert before its FIN: see
// tls_goodbye(). stop() before the connection does anything else with its socket.
//
// A plain TCP client may also shut only its sending side after a whole request (a
// half-close) and still wait for the answer, and an EOF looks the same either way. While
// nothing has been written (`OnEof::probe`), the watch then writes a 102 (Processing)
// interim response, which clients must accept and skip (RFC 9110 15.2): a client that has
// really gone answers it with a reset, which the watch looks for every 100 ms. While a
// streamed answer is written (`OnEof::await_writes`) its own writes fail instead.
class DisconnectWatch {
 public:
  enum class OnEof { probe, await_writes };
  DisconnectWatch(std::shared_ptr<ConnectionState> state, OnEof on_eof) : state_(std::move(state)) {
    state_->left = false;
    arm(state_, ++state_->watch_generation, on_eof);
  }
  DisconnectWatch(const DisconnectWatch&) = delete;
  DisconnectWatch& operator=(const DisconnectWatch&) = delete;
  ~DisconnectWatch() { stop(); }

  // Ends the watch; true when the client left while it ran.
  bool stop() {
    if (!stopped_) {
      stopped_ = true;
      ++state_->watch_generation;  // a completion already queued finds itself outdated
      boost::system::error_code ec;
      if (state_->socket) state_->socket->cancel(ec);  // only the peek (or probe) is pending now
      if (state_->probe_timer) state_->probe_timer->cancel();
    }
    return state_->left;
  }

 private:
  static void client_left(const std::shared_ptr<ConnectionState>& state) {
    state->left = true;
    state->client_left.emit(asio::cancellation_type::terminal);
  }

  static void arm(const std::shared_ptr<ConnectionState>& state, std::uint64_t generation, OnEof on_eof) {
    if (!state->socket) return;
    std::size_t peek = state->tls ? state->peeked.size() : 1;
    state->socket->async_receive(
        asio::buffer(state->peeked.data(), peek), tcp::socket::message_peek,
        [state, generation, on_eof](const boost::system::error_code& ec, std::size_t n) {
          // stop() moves the generation on before it cancels, so an abort that is still
          // current came from elsewhere: close_all() at the drain deadline, or Beast
          // closing the socket when a streamed chunk's write timed out. Either way the
          // answer has nowhere to go.
          if (generation != state->watch_generation) return;
          bool data = !ec && n > 0;
          if (data && !(state->tls && tls_goodbye(state->peeked.data(), n))) return;  // pipelined
          if (ec == asio::error::eof && !state->tls) {  // a half-close, or gone: see probe()
            if (on_eof == OnEof::probe) probe(state, generation);
            return;
          }
          client_left(state);  // reset, a closed socket or a TLS goodbye
        });
  }

  // Written at once, not queued: nothing may be left half-sent when the answer follows.
  // Only when nothing is waiting in the send queue (earlier answers the client has not
  // read), so that the kernel takes all of it at once; otherwise the answer's own write will
  // tell.
  static void probe(const std::shared_ptr<ConnectionState>& state, std::uint64_t generation) {
    static constexpr std::string_view kProcessing = "HTTP/1.1 102 Processing\r\n\r\n";
    int fd = state->socket->native_handle();
    int unsent = 0;
    if (::ioctl(fd, SIOCOUTQ, &unsent) != 0 || unsent != 0) return;
    auto n = ::send(fd, kProcessing.data(), kProcessing.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      client_left(state);  // EPIPE, ECONNRESET: already gone
      return;
    }
    check_later(state, generation);
  }

  // A reset after the probe leaves the socket errored (SO_ERROR) or closed (TCP_INFO); a
  // peek keeps reporting the EOF that came first.
  static void check_later(const std::shared_ptr<ConnectionState>& state, std::uint64_t generation) {
    if (!state->probe_timer) state->probe_timer.emplace(state->executor);
    state->probe_timer->expires_after(std::chrono::milliseconds(100));
    state->probe_timer->async_wait([state, generation](const boost::system::error_code& ec) {
      if (ec || generation != state->watch_generation || !state->socket) return;
      int fd = state->socket->native_handle();
      int error = 0;
      socklen_t len = sizeof(error);
      tcp_info info{};
      socklen_t info_len = sizeof(info);
      bool reset = (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error != 0) ||
                   (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &info_len) == 0 && info.tcpi_state == TCP_CLOSE);
      if (reset) {
        client_left(state);
        return;
      }
      check_later(state, generation);
    });
  }

  std::shared_ptr<ConnectionState> state_;
  bool stopped_ = false;
};

asio::awaitable<HttpResponse> call_handler(HttpHandler handler, HttpRequest request) {
  try {
    co_return co_await handler(std::move(request));
  } catch (const std::exception& e) {
    spdlog::error("handler for {} failed: {}", request.path, e.what());
    co_return HttpResponse::error(500, "internal_error", "internal error");
  }
}

asio::awaitable<HttpResponse> call_streaming_body(StreamingBody body, ResponseStream* out) {
  try {
    co_return co_await body(*out);
  } catch (const std::exception& e) {
    spdlog::error("streaming response failed: {}", e.what());
    co_return HttpResponse::error(500, "internal_error", "internal error");
  }
}

// A response whose body is written chunk by chunk as the handler produces it.
template <class Stream>
class ChunkedResponse final : public ResponseStream {
 public:
  ChunkedResponse(Stream& stream, Duration write_timeout, bool keep_alive)
      : stream_(stream), write_timeout_(write_timeout), keep_alive_(keep_alive) {}

  // The head goes out with the first chunk (or the end): one write and one segment
  // where the client waits for its first token, not two.
  asio::awaitable<bool> start(int status, Headers headers) override {
    head_ = wire::response_head(status, headers, {std::nullopt, true}, keep_alive_);
    started_ = true;
    co_return ok_;
  }

  asio::awaitable<bool> write(std::string data) override {
    if (!ok_ || data.empty()) co_return ok_;
    std::string size_line = wire::chunk_size_line(data.size());
    std::array<asio::const_buffer, 4> chunk{asio::buffer(head_), asio::buffer(size_line), asio::buffer(data),
                                            asio::buffer("\r\n", 2)};
    co_return co_await send(chunk);
  }

  asio::awaitable<bool> finish() {
    if (!ok_) co_return false;
    std::array<asio::const_buffer, 2> last{asio::buffer(head_), asio::buffer("0\r\n\r\n", 5)};
    co_return co_await send(last);
  }

  bool started() const override { return started_; }

 private:
  template <class Buffers>
  asio::awaitable<bool> send(Buffers buffers) {
    lowest(stream_).expires_after(write_timeout_);
    auto [ec, n] = co_await asio::async_write(stream_, buffers, kAsTuple);
    head_.clear();  // sent with the first write
    ok_ = !ec;
    co_return ok_;
  }

  Stream& stream_;
  Duration write_timeout_;
  bool keep_alive_;
  bool started_ = false;
  bool ok_ = true;
  std::string head_;  // until the first write takes it
};

Headers copy_headers(const http::request<http::string_body>& req) {
  Headers headers;
  headers.reserve(16);
  for (const auto& f : req) headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  return headers;
}

// `head_headers`: for a chunked request, its fields as read before the body. Beast adds a
// chunked body's trailer fields to the same container (a repeated name next to the first),
// but trailers are dropped: a recipient must not merge them into the head (RFC 9110
// 6.5.1), and no proxy in front looked at them.
HttpRequest to_request(const http::request<http::string_body>& req, std::string body,
                       std::optional<Headers> head_headers) {
  HttpRequest r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  auto q = r.target.find('?');
  r.path = r.target.substr(0, q);
  if (q != std::string::npos) r.query = r.target.substr(q + 1);
  r.headers = head_headers ? std::move(*head_headers) : copy_headers(req);
  r.body = std::move(body);
  return r;
}

struct HeadRead {
  boost::system::error_code ec;
  std::size_t size = 0;    // bytes of the head (through CRLF CRLF); 0: let Beast judge them
  bool too_large = false;  // no end of head within kHeaderLimit
};

// Whether a bare LF (not after CR) is among data[from..]: not a CRLF-delimited head.
bool has_bare_lf(std::string_view data, std::size_t from) {
  for (auto i = data.find('\n', from); i != std::string_view::npos; i = data.find('\n', i + 1)) {
    if (i == 0 || data[i - 1] != '\r') return true;
  }
  return false;
}

// Reads until `buffer` holds a whole request head, so its raw bytes can be checked before
// Beast parses (and silently unfolds) them. Empty lines before the request line are
// skipped (RFC 9112 2.2). The caller has set the head deadline on the stream.
template <class Stream>
asio::awaitable<HeadRead> read_head(Stream& stream, beast::flat_buffer& buffer) {
  HeadRead r;
  std::size_t scanned = 0;
  for (;;) {
    std::string_view data(static_cast<const char*>(buffer.data().data()), buffer.size());
    if (data.size() >= 2 && data[0] == '\r' && data[1] == '\n') {
      buffer.consume(2);
      scanned = 0;
      continue;
    }
    std::size_t from = scanned > 3 ? scanned - 3 : 0;
    if (auto end = data.find("\r\n\r\n", from); end != std::string_view::npos) {
      r.size = end + 4;
      co_return r;
    }
    if (has_bare_lf(data, from)) co_return r;  // Beast answers it: bad line ending
    if (data.size() >= kHeaderLimit) {
      r.too_large = true;
      co_return r;
    }
    scanned = data.size();
    if (client_sent_fin(stream)) {
      r.ec = asio::error::eof;
      co_return r;
    }
    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), kAsTuple);
    if (ec) {
      r.ec = ec;
      co_return r;
    }
    buffer.commit(n);
  }
}

// RFC 9112 5.2: a line starting with a space or tab continues the previous one (obs-fold);
// a server must reject it or replace it, and proxies disagree on which.
bool has_obs_fold(std::string_view head) {
  return head.find("\n ") != std::string_view::npos || head.find("\n\t") != std::string_view::npos;
}

struct Refusal {
  int status = 400;
  std::string code;
  std::string message;
};

// The framing rules of RFC 9112 6.1-6.3 that Beast leaves to us: a Transfer-Encoding must
// end in `chunked` (anything else leaves the body's length unknown), come without
// Content-Length, name `chunked` once and nothing we cannot decode; HTTP/1.1 needs exactly
// one Host. Each is a request-smuggling primitive behind a proxy that reads it otherwise.
std::optional<Refusal> framing_refusal(const http::request<http::string_body>& head) {
  auto host_fields = head.count(http::field::host);
  if (host_fields > 1 || (host_fields == 0 && head.version() >= 11)) {
    return Refusal{400, "bad_request", "an HTTP/1.1 request needs exactly one Host header"};
  }
  if (head.count(http::field::transfer_encoding) == 0) return std::nullopt;
  if (head.count(http::field::content_length) != 0) {
    return Refusal{400, "bad_request", "Transfer-Encoding and Content-Length together"};
  }
  if (head.version() < 11) {
    return Refusal{400, "bad_request", "Transfer-Encoding in an HTTP/1.0 request"};
  }
  std::vector<std::string> codings;
  auto [first_te, end_te] = head.equal_range(http::field::transfer_encoding);
  for (auto field = first_te; field != end_te; ++field) {
    std::string_view list = field->value();
    while (!list.empty()) {
      auto comma = list.find(',');
      auto item = trim_ows(list.substr(0, comma));
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      if (!item.empty()) codings.emplace_back(item);
    }
  }
  if (codings.empty() || !beast::iequals(codings.back(), "chunked")) {
    return Refusal{400, "bad_request", "Transfer-Encoding must end with chunked"};
  }
  if (codings.size() > 1) {
    for (std::size_t i = 0; i + 1 < codings.size(); ++i) {
      if (beast::iequals(codings[i], "chunked")) {
        return Refusal{400, "bad_request", "Transfer-Encoding names chunked more than once"};
      }
    }
    return Refusal{501, "not_implemented", "transfer codings other than chunked are not supported"};
  }
  return std::nullopt;
}

// Built by a plain function: GCC 12 mishandles braced lists of literals in coroutine bodies.
Refusal refusal(int status, const char* code, std::string message) {
  return Refusal{status, code, std::move(message)};
}
Refusal head_too_large() { return refusal(431, "request_header_too_large", "request head exceeds 16 KiB"); }

// The root is where a person with a browser lands first: say where to go.
std::string not_found_message(const std::string& path) {
  if (path == "/") {
    return "no such endpoint: /. The web chat, where one is configured, is at /chat/; the gateway's "
           "state is at /status and /healthz; the API at /v1/chat/completions";
  }
  return "no such endpoint: " + path;
}

HttpResponse refused(const Refusal& refusal) {
  auto r = HttpResponse::error(refusal.status, refusal.code, refusal.message);
  r.close = true;
  return r;
}

// Errors that mean the client went away or stalled: there is no one to answer.
bool client_gone(const boost::system::error_code& ec) {
  return ec == beast::error::timeout || ec == http::error::end_of_stream || ec == http::error::partial_message ||
         ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
         ec == asio::error::broken_pipe;
}

}  // namespace

template <class Stream>
asio::awaitable<void> HttpServer::Impl::serve(Stream& stream, Listener* l, std::shared_ptr<ConnectionState> state,
                                              IpAddress peer, std::uint16_t peer_port) {
  auto settings = l->current();
  state->socket = &lowest(stream).socket();
  struct ClearSocket {
    ConnectionState& s;
    ~ClearSocket() { s.socket = nullptr; }
  } clear{*state};

  // The whole request head (and, with TLS, the handshake before the first one)
  // must arrive within header_timeout of the connection's first byte: a
  // slowloris client cannot stretch it by trickling bytes.
  auto head_deadline = std::chrono::steady_clock::now() + settings->header_timeout;
  constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
  if constexpr (kTls) {
    lowest(stream).expires_at(head_deadline);
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kAsTuple);
    if (ec) {
      spdlog::debug("listener {}: TLS handshake with {} failed: {}", l->name, peer.to_string(), ec.message());
      co_return;
    }
  }

  beast::flat_buffer buffer(kReadBufferLimit);
  bool first = true;
  bool linger = false;  // refused with bytes perhaps still unread: see drain_before_close
  for (;;) {
    settings = l->current();
    if (buffer.size() == 0) {
      // Waiting for the next request: idle unless a drain says stop.
      state->busy = false;
      if (draining.load() || client_sent_fin(stream)) break;
      if (first) {
        lowest(stream).expires_at(head_deadline);
      } else {
        lowest(stream).expires_after(settings->idle_timeout);
      }
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), kAsTuple);
      if (ec) break;
      buffer.commit(n);
    }
    if (!first) {
      head_deadline = std::chrono::steady_clock::now() + settings->header_timeout;
    }
    state->busy = true;
    first = false;

    HttpRequest request;
    bool ok = true;
    HttpResponse response =
        co_await handle(stream, buffer, l, *settings, head_deadline, peer, peer_port, request, ok, state);
    if (!ok) break;  // the connection is unusable (timeout, reset): nothing to answer
    bool keep_alive = !response.close && !draining.load();  // after a half-close the next read ends it
    if (auto conn = request.header("connection"); conn && beast::iequals(*conn, "close")) keep_alive = false;
    bool head_only = request.method == "HEAD";
    if (response.stream) {
      ChunkedResponse<Stream> chunked(stream, settings->body_timeout, keep_alive);
      DisconnectWatch watch(state, DisconnectWatch::OnEof::await_writes);
      HttpResponse answered = co_await call_streaming_body(std::move(response.stream), &chunked);
      if (watch.stop()) {
        co_await asio::this_coro::reset_cancellation_state();
        break;  // the client left; the body was cancelled
      }
      if (chunked.started()) {
        bool finished = co_await chunked.finish();  // not inside the condition: GCC 12 miscompiles that
        if (!finished || !keep_alive) break;
        continue;
      }
      response = std::move(answered);  // it answered without streaming
      keep_alive = keep_alive && !response.close;
    }
    bool written = co_await write_response(stream, response, keep_alive, head_only, settings->body_timeout);
    if (!written || !keep_alive) {
      linger = written && response.status >= 400;
      break;
    }
  }
  state->busy = false;
  boost::system::error_code ec;
  if constexpr (kTls) {
    lowest(stream).expires_after(std::chrono::seconds(2));
    co_await stream.async_shutdown(kAsTuple);
  } else {
    lowest(stream).socket().shutdown(tcp::socket::shutdown_send, ec);
    if (linger) co_await drain_before_close(lowest(stream));
  }
}

template <class Stream>
asio::awaitable<HttpResponse> HttpServer::Impl::handle(Stream& stream, beast::flat_buffer& buffer, Listener* l,
                                                       const ListenerSettings& settings,
                                                       std::chrono::steady_clock::time_point head_deadline,
                                                       IpAddress peer, std::uint16_t peer_port, HttpRequest& out,
                                                       bool& ok, std::shared_ptr<ConnectionState> state) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(settings.body_limit);
  auto count = [&](const std::string& route, int code) {
    requests.with({l->name, route, std::to_string(code)}).inc();
  };
  auto refuse_request = [&](const Refusal& why) {
    count("unmatched", why.status);
    return refused(why);
  };
  lowest(stream).expires_at(head_deadline);
  HeadRead raw = co_await read_head(stream, buffer);
  if (raw.too_large) co_return refuse_request(head_too_large());
  if (raw.ec) {
    ok = false;  // gone, stalled or reset before a whole head: nothing to answer
    co_return HttpResponse{};
  }
  if (raw.size != 0 && has_obs_fold({static_cast<const char*>(buffer.data().data()), raw.size})) {
    co_return refuse_request(refusal(400, "bad_request", "obsolete line folding (obs-fold) in the request head"));
  }
  auto [hec, hn] = co_await http::async_read_header(stream, buffer, parser, kAsTuple);
  if (hec == http::error::header_limit || hec == http::error::buffer_overflow) {
    co_return refuse_request(head_too_large());
  }
  if (hec == http::error::body_limit) {
    // Beast checks a declared Content-Length against the limit while reading the
    // head, so an oversized body is refused before it is read and before any
    // `Expect: 100-continue` is answered.
    count("unmatched", 413);
    co_return too_large(settings.body_limit);
  }
  if (hec) {
    if (!client_gone(hec)) {
      co_return refuse_request(refusal(400, "bad_request", "malformed HTTP request: " + hec.message()));
    }
    ok = false;
    co_return HttpResponse{};
  }
  auto& head = parser.get();
  if (auto why = framing_refusal(head)) co_return refuse_request(*why);
  if (auto host = head.find(http::field::host); host != head.end() && !settings.hosts.allows(host->value())) {
    refuse(*l, peer, peer_port, "host_not_allowed", host->value());
    co_return refuse_request(refusal(421, "misdirected_request",
                              "this listener does not answer to the host named in the request "
                              "(listeners.server_names)"));
  }
  if (!is_valid_utf8(head.target())) {
    co_return refuse_request(refusal(400, "bad_request", "the request target is not valid UTF-8"));
  }
  std::optional<Headers> head_headers;  // see to_request
  if (parser.chunked()) head_headers = copy_headers(head);
  if (!parser.is_done()) {
    if (beast::iequals(head[http::field::expect], "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      lowest(stream).expires_after(settings.body_timeout);
      auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(kContinue.data(), kContinue.size()), kAsTuple);
      if (wec) {
        ok = false;
        co_return HttpResponse{};
      }
    }
    // Chunk extensions are read and thrown away by Beast; they count against the body
    // limit here, and a long one is refused (the read buffer's cap bounds it already).
    std::uint64_t chunked_bytes = 0;
    auto on_chunk_header = [&chunked_bytes, limit = settings.body_limit](
                               std::uint64_t size, std::string_view extensions, boost::system::error_code& ec) {
      if (extensions.size() > kMaxChunkExtension) {
        ec = http::error::bad_chunk_extension;
        return;
      }
      chunked_bytes += size + extensions.size();
      if (chunked_bytes > limit) ec = http::error::body_limit;
    };
    parser.on_chunk_header(on_chunk_header);
    lowest(stream).expires_after(settings.body_timeout);
    auto [bec, bn] = co_await http::async_read(stream, buffer, parser, kAsTuple);
    if (bec == http::error::body_limit) {  // chunked bodies are only known to be too large here
      count("unmatched", 413);
      co_return too_large(settings.body_limit);
    }
    if (bec == http::error::buffer_overflow) {
      co_return refuse_request(refusal(431, "request_header_too_large",
                                "a chunk-size line or the trailer section exceeds " +
                                    std::to_string(kReadBufferLimit / 1024) + " KiB"));
    }
    if (bec) {
      if (!client_gone(bec)) {
        co_return refuse_request(refusal(400, "bad_request", "malformed chunked body: " + bec.message()));
      }
      ok = false;
      co_return HttpResponse{};
    }
  }
  auto started = std::chrono::steady_clock::now();
  out = to_request(head, std::move(head.body()), std::move(head_headers));
  out.listener = l->name;
  out.tls = !std::is_same_v<Stream, beast::tcp_stream>;
  out.peer = peer;
  out.peer_port = peer_port;
  out.client = recorded_client(peer, out.headers, settings.trusted_proxies);
  auto match = settings.routes ? settings.routes->match(out.method, out.path) : HttpRoutes::Match{};
  HttpResponse response;
  std::string route_label = "unmatched";
  bool upgrade = match.route && match.route->websocket && beast::websocket::is_upgrade(head);
  if (match.route && match.route->websocket && (upgrade || !match.route->handler)) {
    route_label = match.route->metric_name;
    std::optional<HttpResponse> refusal;
    if (!upgrade) {
      refusal = HttpResponse::error(426, "upgrade_required", "this endpoint speaks WebSocket only");
      refusal->with_header("Upgrade", "websocket");
    } else if (match.route->websocket->admit) {
      refusal = match.route->websocket->admit(out);
    }
    if (!refusal) {
      count(route_label, 101);
      state->websocket = true;
      std::string early(static_cast<const char*>(buffer.data().data()), buffer.size());
      buffer.consume(buffer.size());
      co_await serve_websocket(stream, parser.release(), match.route->websocket, out, std::move(early));
      ok = false;  // the connection ends with the WebSocket
      co_return HttpResponse{};
    }
    response = std::move(*refusal);
  } else if (match.route) {
    route_label = match.route->metric_name;
    // The handler takes the request; the connection keeps what it reads afterwards.
    HttpRequest for_handler = std::move(out);
    out.method = for_handler.method;
    if (auto connection = for_handler.header("connection")) out.headers.emplace_back("connection", *connection);
    if (match.route->cancel_on_disconnect) {
      // No interim response to an HTTP/1.0 client (RFC 9110 15.2).
      DisconnectWatch watch(state, head.version() >= 11 ? DisconnectWatch::OnEof::probe
                                                         : DisconnectWatch::OnEof::await_writes);
      response = co_await call_handler(match.route->handler, std::move(for_handler));
      if (watch.stop()) {
        co_await asio::this_coro::reset_cancellation_state();  // the connection ends cleanly
        count(route_label, 499);  // nginx's "client closed request"
        ok = false;
        co_return HttpResponse{};
      }
    } else {
      response = co_await call_handler(match.route->handler, std::move(for_handler));
    }
  } else if (match.path_known) {
    response = HttpResponse::error(405, "method_not_allowed", "method " + out.method + " is not allowed here");
    response.with_header("Allow", match.allowed);
  } else {
    response = HttpResponse::error(404, "not_found", not_found_message(out.path));
  }
  count(route_label, response.status);
  latency.with({l->name, route_label})
      .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  co_return response;
}

HttpServer::HttpServer(asio::io_context& io, observability::MetricsRegistry& metrics, AuditSink& audit,
                       IoThreads io_threads)
    : impl_(std::make_shared<Impl>(io, io_threads == IoThreads::one, metrics, audit)) {}

HttpServer::~HttpServer() {
  boost::system::error_code ec;
  for (auto& l : impl_->listeners) l->acceptor.close(ec);
}

std::error_code HttpServer::bind(std::vector<ListenerSettings> listeners, std::string& error) {
  auto& refused = impl_->metrics.counter("hermes_listener_refused_total",
                                         "Connections closed at accept because the peer is not admitted.",
                                         {"listener"});
  auto& shed = impl_->metrics.counter("hermes_listener_shed_total",
                                      "Connections closed at accept because the listener is at max_connections, "
                                      "the peer at max_connections_per_peer, "
                                      "or draining.",
                                      {"listener"});
  auto& accepted = impl_->metrics.counter("hermes_listener_accepted_total", "Connections admitted.", {"listener"});
  auto& accept_errors = impl_->metrics.counter(
      "hermes_listener_accept_errors_total",
      "accept() failures, such as running out of file descriptors (EMFILE); retried every 50 ms.", {"listener"});
  auto& open = impl_->metrics.gauge("hermes_listener_connections", "Open connections.", {"listener"});
  for (auto& s : listeners) {
    auto l = std::make_unique<Listener>(impl_->io, s.name);
    boost::system::error_code ec;
    auto address = to_asio(s.address);
    tcp::endpoint ep(address, s.port);
    l->acceptor.open(ep.protocol(), ec);
    if (ec == asio::error::address_family_not_supported && address.is_v6() && address.is_unspecified()) {
      // A host without IPv6: "all interfaces" falls back to IPv4's 0.0.0.0.
      ep = tcp::endpoint(asio::ip::address_v4::any(), s.port);
      l->acceptor.open(ep.protocol(), ec);
    }
    if (!ec) l->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec && ep.address().is_v6()) l->acceptor.set_option(asio::ip::v6_only(false), ec);
    if (!ec) l->acceptor.bind(ep, ec);
    if (!ec) l->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      error = "listener " + s.name + ": cannot listen on " + s.address.to_string() + ":" + std::to_string(s.port) +
              ": " + ec.message();
      impl_->listeners.clear();
      return ec;
    }
    l->refused = &refused.with({s.name});
    l->shed = &shed.with({s.name});
    l->accepted = &accepted.with({s.name});
    l->accept_errors = &accept_errors.with({s.name});
    l->open = &open.with({s.name});
    l->settings = std::make_shared<const ListenerSettings>(std::move(s));
    impl_->listeners.push_back(std::move(l));
  }
  return {};
}

void HttpServer::start_accepting() {
  for (auto& l : impl_->listeners) {
    auto s = l->current();
    const char* protocol = s->protocol == ListenerProtocol::lmtp ? (s->tls ? "LMTP with STARTTLS, " : "LMTP, ")
                                                                  : (s->tls ? "TLS, " : "");
    spdlog::info("listener {}: listening on {}:{} ({}admits {})", l->name, s->address.to_string(),
                 l->acceptor.local_endpoint().port(), protocol, s->admission_policy);
    asio::co_spawn(l->acceptor.get_executor(), impl_->accept_loop(l.get()),
                   observability::ReportFailure(impl_->metrics, "accept_loop"));
  }
}

void HttpServer::update(const ListenerSettings& settings) {
  if (auto* l = impl_->find(settings.name)) {
    auto next = std::make_shared<const ListenerSettings>(settings);
    std::lock_guard lock(l->settings_mutex);
    l->settings = std::move(next);
  }
}

std::uint16_t HttpServer::bound_port(const std::string& listener) const {
  if (auto* l = impl_->find(listener)) {
    boost::system::error_code ec;
    auto ep = l->acceptor.local_endpoint(ec);
    return ec ? 0 : ep.port();
  }
  return 0;
}

void HttpServer::begin_drain() {
  impl_->draining.store(true);
  for (auto& l : impl_->listeners) {
    asio::post(l->acceptor.get_executor(), [lp = l.get()] {
      boost::system::error_code ec;
      lp->acceptor.close(ec);
    });
  }
  std::lock_guard lock(impl_->connections_mutex);
  for (auto& [id, weak] : impl_->connections) {
    if (auto st = weak.lock()) {
      asio::post(st->executor, [st] {
        if (!st->socket) return;
        boost::system::error_code ec;
        if (st->websocket) {
          // Shut down, not just cancelled: a cancel that lands between two reads would
          // be lost, and the socket would hold the drain until its deadline.
          st->socket->shutdown(tcp::socket::shutdown_both, ec);
          st->socket->cancel(ec);
        } else if (!st->busy) {
          st->socket->cancel(ec);
        }
      });
    }
  }
}

std::size_t HttpServer::active_connections() const { return impl_->active_total.load(); }

void HttpServer::close_all() {
  std::lock_guard lock(impl_->connections_mutex);
  for (auto& [id, weak] : impl_->connections) {
    if (auto st = weak.lock()) {
      asio::post(st->executor, [st] {
        if (st->socket) {
          boost::system::error_code ec;
          st->socket->shutdown(tcp::socket::shutdown_both, ec);
          st->socket->close(ec);
        }
      });
    }
  }
}

}  // namespace hermes::net
