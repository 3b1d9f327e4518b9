#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <spdlog/spdlog.h>

#include "hermes/net/client.hpp"
#include "src/net/as_tuple.hpp"
#include "src/net/client_tls_setup.hpp"
#include "src/net/websocket_session.hpp"

namespace hermes::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {

// Beast's WebSocket read buffer (stream::tcp_frame_size, private): what async_accept takes
// as bytes already read must fit in it.
constexpr std::size_t kBeastReadBuffer = 1536;

// The upgrade request with only what Beast's handshake reads.
std::string minimal_upgrade(const UpgradeRequest& head) {
  std::string out = "GET " + std::string(head.target()) + " HTTP/1.1\r\n";
  for (auto field : {beast::http::field::host, beast::http::field::upgrade, beast::http::field::connection,
                     beast::http::field::sec_websocket_key, beast::http::field::sec_websocket_version,
                     beast::http::field::sec_websocket_protocol}) {
    for (auto it = head.find(field); it != head.end() && it->name() == field; ++it) {
      out += std::string(it->name_string()) + ": " + std::string(it->value()) + "\r\n";
    }
  }
  return out + "\r\n";
}

template <class Stream>
class BeastWebSocket final : public WebSocket {
 public:
  BeastWebSocket(Stream& stream, std::size_t max_message, Duration idle_timeout, bool keep_alive_pings = true)
      : ws_(stream), turn_(stream.get_executor(), asio::steady_timer::time_point::max()) {
    // Beast's own timeouts replace the TCP stream's: pings when idle, close when unanswered.
    beast::get_lowest_layer(stream).expires_never();
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::seconds(10);
    timeouts.idle_timeout = idle_timeout;
    timeouts.keep_alive_pings = keep_alive_pings;
    ws_.set_option(timeouts);
    ws_.read_message_max(max_message);
  }

  // Client side: the opening handshake with `host` as the Host header and no Origin.
  asio::awaitable<std::string> handshake(std::string host, std::string target) {
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::request_type& req) { req.set(beast::http::field::user_agent, "hermes"); }));
    websocket::response_type response;
    auto [ec] = co_await ws_.async_handshake(response, host, target, kAsTuple);
    if (ec) {
      if (response.result_int() != 0 && response.result_int() != 101) {
        co_return "the peer answered the WebSocket handshake with HTTP " + std::to_string(response.result_int());
      }
      co_return "WebSocket handshake failed: " + ec.message();
    }
    open_ = true;
    co_return std::string();
  }

  asio::awaitable<bool> accept(UpgradeRequest& head, std::string early) {
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(beast::http::field::server, "hermes"); }));
    if (early.empty()) {
      auto [ec] = co_await ws_.async_accept(head, kAsTuple);
      open_ = !ec;
      co_return open_;
    }
    // Beast takes bytes already read only with the request in raw form, and holds them in
    // a 1,536-byte buffer: the handshake is written back out with just the fields it
    // needs (the handler has the whole request), then the early frames.
    std::string bytes = minimal_upgrade(head) + early;
    if (bytes.size() > kBeastReadBuffer) {
      spdlog::debug("websocket: {} byte(s) sent before the handshake's answer are too many to keep; dropped",
                    early.size());
      auto [ec] = co_await ws_.async_accept(head, kAsTuple);
      open_ = !ec;
      co_return open_;
    }
    auto [ec] = co_await ws_.async_accept(asio::buffer(bytes), kAsTuple);
    open_ = !ec;
    co_return open_;
  }

  asio::awaitable<std::optional<std::string>> read() override {
    if (!open_) co_return std::nullopt;
    buffer_.clear();
    auto [ec, n] = co_await ws_.async_read(buffer_, kAsTuple);
    if (ec) {
      open_ = false;
      if (ec == websocket::error::closed) {
        reason_ = "closed";
      } else if (ec == websocket::error::message_too_big || ec == websocket::error::buffer_overflow) {
        reason_ = "too_big";  // Beast has sent close 1009
      } else if (ec == beast::error::timeout) {
        reason_ = "timeout";
      } else if (reason_.empty()) {
        reason_ = "error";
      }
      co_return std::nullopt;
    }
    co_return beast::buffers_to_string(buffer_.data());
  }

  asio::awaitable<bool> write(std::string text) override {
    co_await my_turn();
    if (!open_) co_return false;
    writing_ = true;
    ws_.text(true);
    auto [ec, n] = co_await ws_.async_write(asio::buffer(text), kAsTuple);
    writing_ = false;
    if (ec) open_ = false;
    turn_.cancel();  // every waiter looks again; the first to run takes the turn
    co_return !ec;
  }

  asio::awaitable<void> close(std::uint16_t code, std::string reason) override {
    co_await my_turn();
    if (!open_) co_return;
    open_ = false;
    reason_ = "local_close";
    writing_ = true;
    websocket::close_reason why(static_cast<websocket::close_code>(code), reason);  // named: GCC 12
    co_await ws_.async_close(why, kAsTuple);  // best effort: the peer may already be gone
    writing_ = false;
    turn_.cancel();
  }

  bool is_open() const override { return open_; }
  const std::string& end_reason() const override { return reason_; }
  // The stream is about to go away: nothing may touch it from now on.
  void detach() {
    open_ = false;
    turn_.cancel();
  }

 private:
  // One write (or close) at a time; all on the connection's executor. The timer
  // never expires: it only wakes waiters when cancelled after each write.
  asio::awaitable<void> my_turn() {
    while (writing_ && open_) {
      co_await turn_.async_wait(kAsTuple);
    }
  }

  websocket::stream<Stream&> ws_;
  beast::flat_buffer buffer_;
  asio::steady_timer turn_;
  bool open_ = false;
  bool writing_ = false;
  std::string reason_;
};

}  // namespace

template <class Stream>
asio::awaitable<void> serve_websocket(Stream& stream, UpgradeRequest head, std::shared_ptr<const WebSocketRoute> route,
                                      HttpRequest request, std::string early) {
  auto socket = std::make_shared<BeastWebSocket<Stream>>(stream, route->max_message, route->idle_timeout);
  bool accepted = co_await socket->accept(head, std::move(early));
  if (!accepted) {
    if (route->abandoned) route->abandoned(request);
    co_return;
  }
  std::string path = request.path;
  try {
    co_await route->handler(std::move(request), socket);
  } catch (const std::exception& e) {
    spdlog::error("websocket handler for {} failed: {}", path, e.what());
  }
  socket->detach();
}

namespace {

// A client connection: owns its stream (TCP, or TLS over TCP), and the WebSocket over it.
template <class Stream>
class ClientWebSocket final : public WebSocket {
 public:
  // `keep` holds what the stream refers to (the TLS context) for as long as the stream lives.
  template <class... StreamArgs>
  ClientWebSocket(std::shared_ptr<void> keep, const WebSocketClientOptions& options, StreamArgs&&... args)
      : keep_(std::move(keep)),
        stream_(std::forward<StreamArgs>(args)...),
        ws_(stream_, options.max_message, options.idle_timeout, options.keep_alive_pings) {}
  ~ClientWebSocket() override { ws_.detach(); }

  Stream& stream() { return stream_; }
  beast::tcp_stream& tcp() { return beast::get_lowest_layer(stream_); }
  BeastWebSocket<Stream>& ws() { return ws_; }

  asio::awaitable<std::optional<std::string>> read() override { return ws_.read(); }
  asio::awaitable<bool> write(std::string text) override { return ws_.write(std::move(text)); }
  asio::awaitable<void> close(std::uint16_t code, std::string reason) override {
    return ws_.close(code, std::move(reason));
  }
  bool is_open() const override { return ws_.is_open(); }
  const std::string& end_reason() const override { return ws_.end_reason(); }

 private:
  std::shared_ptr<void> keep_;
  Stream stream_;
  BeastWebSocket<Stream> ws_;
};

using WsPlainClient = ClientWebSocket<beast::tcp_stream>;
using WsTlsClient = ClientWebSocket<asio::ssl::stream<beast::tcp_stream>>;

// Resolves and connects the socket's TCP stream within options.connect_timeout (left
// running: a TLS handshake after it shares the deadline). An error for logs, or "".
template <class Client>
asio::awaitable<std::string> ws_connect_tcp(Client& client, std::string host, std::uint16_t port,
                                         WebSocketClientOptions options) {
  asio::ip::tcp::resolver resolver(client.tcp().get_executor());
  std::string bare = host.size() > 2 && host.front() == '[' ? host.substr(1, host.size() - 2) : host;
  std::string service = std::to_string(port);
  auto [rec, endpoints] = co_await resolver.async_resolve(bare, service, kAsTuple);
  if (rec) co_return "cannot resolve " + host + ": " + rec.message();
  client.tcp().expires_after(options.connect_timeout);
  auto [cec, connected] = co_await client.tcp().async_connect(endpoints, kAsTuple);
  if (cec) co_return "cannot connect to " + host + ":" + service + ": " + cec.message();
  co_return std::string();
}

// The opening handshake on a connected client (TLS done, when any): the result to return.
template <class Client>
asio::awaitable<WebSocketConnectResult> ws_handshake(std::shared_ptr<Client> socket, std::string authority,
                                                     std::string target) {
  WebSocketConnectResult result;
  // From here Beast's WebSocket timeouts apply (handshake 10 s, then idle pings).
  socket->tcp().expires_never();
  result.error = co_await socket->ws().handshake(std::move(authority), std::move(target));
  if (result.error.empty()) result.socket = std::move(socket);
  co_return result;
}

std::shared_ptr<asio::ssl::context> ws_tls_context(const ClientTls& tls, std::string& error) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  if (auto ec = configure_client_tls(*context, tls)) {
    error = "cannot load the CA file " + (tls.ca_file.empty() ? std::string("(system)") : tls.ca_file.string()) +
            ": " + ec.message();
    return nullptr;
  }
  return context;
}

asio::awaitable<WebSocketConnectResult> ws_connect_tls(ParsedUrl url, WebSocketClientOptions options, ClientTls tls) {
  WebSocketConnectResult result;
  auto context = ws_tls_context(tls, result.error);
  if (!context) co_return result;
  auto executor = co_await asio::this_coro::executor;
  auto socket = std::make_shared<WsTlsClient>(context, options, executor, *context);
  result.error = co_await ws_connect_tcp(*socket, url.host, url.port, options);
  if (!result.error.empty()) co_return result;
  name_the_peer(socket->stream(), tls, url.host);
  auto [hec] = co_await socket->stream().async_handshake(asio::ssl::stream_base::client, kAsTuple);
  if (hec) {
    long verify = SSL_get_verify_result(socket->stream().native_handle());
    result.error = "TLS handshake with " + url.host + ":" + std::to_string(url.port) + " failed: " + hec.message();
    if (verify != X509_V_OK) result.error += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
    co_return result;
  }
  std::string authority = options.host_header.empty() ? url.authority : options.host_header;
  auto opened = co_await ws_handshake(std::move(socket), std::move(authority), std::move(url.target));
  co_return opened;
}

}  // namespace

asio::awaitable<WebSocketConnectResult> connect_websocket(std::string host, std::uint16_t port, std::string target,
                                                          WebSocketClientOptions options) {
  WebSocketConnectResult result;
  auto executor = co_await asio::this_coro::executor;
  auto socket = std::make_shared<WsPlainClient>(nullptr, options, executor);
  result.error = co_await ws_connect_tcp(*socket, host, port, options);
  if (!result.error.empty()) co_return result;
  std::string authority = options.host_header.empty() ? host + ":" + std::to_string(port) : options.host_header;
  auto opened = co_await ws_handshake(std::move(socket), std::move(authority), std::move(target));
  co_return opened;
}

asio::awaitable<WebSocketConnectResult> connect_websocket_url(std::string url, WebSocketClientOptions options,
                                                              ClientTls tls) {
  WebSocketConnectResult result;
  bool secure = url.rfind("wss://", 0) == 0;
  if (!secure && url.rfind("ws://", 0) != 0) {
    result.error = "not a ws:// or wss:// URL";
    co_return result;
  }
  // The same authority rules as http(s): wss is https's default port, ws is http's.
  std::string as_http = (secure ? "https" : "http") + url.substr(secure ? 3 : 2);
  auto parsed = parse_http_url(as_http, result.error);
  if (!parsed) co_return result;
  if (secure) {
    auto connected = co_await ws_connect_tls(std::move(*parsed), std::move(options), std::move(tls));
    co_return connected;
  }
  if (options.host_header.empty()) options.host_header = parsed->authority;
  auto connected = co_await connect_websocket(parsed->host, parsed->port, parsed->target, std::move(options));
  co_return connected;
}

template asio::awaitable<void> serve_websocket(beast::tcp_stream&, UpgradeRequest,
                                               std::shared_ptr<const WebSocketRoute>, HttpRequest, std::string);
template asio::awaitable<void> serve_websocket(asio::ssl::stream<beast::tcp_stream>&, UpgradeRequest,
                                               std::shared_ptr<const WebSocketRoute>, HttpRequest, std::string);

}  // namespace hermes::net
