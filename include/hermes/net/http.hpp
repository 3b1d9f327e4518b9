#pragma once
// Plain HTTP request/response values and the route table. No Beast here:
// handlers and channels see these types; only src/net touches Beast.

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hermes/core/ip.hpp"

namespace hermes::net {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive lookup; the first value wins.
std::optional<std::string_view> find_header(const Headers& headers, std::string_view name);

// The names a listener answers to, for the Host check against DNS rebinding: a page that
// rebinds its own name to the gateway's address still sends that name in Host (and in
// Origin), so a request naming a host the listener does not know is refused. An IP literal
// cannot come from rebinding, so `ip_literals` may admit any.
struct HostNames {
  bool enforce = false;             // false: every Host is accepted
  std::vector<std::string> names;   // lower-case; IPv6 literals in brackets ("[::1]")
  bool ip_literals = false;         // also any IPv4 or bracketed IPv6 literal

  // `authority` is a Host value or an Origin's host[:port]; the port is not compared.
  bool allows(std::string_view authority) const;
};

// Splits "host[:port]" ("[v6]:port" for IPv6); false when malformed (empty host, a port
// that is not 1-5 digits, a bracket left open). The host keeps its brackets.
bool split_authority(std::string_view authority, std::string_view& host, std::optional<std::uint16_t>& port);

// `s` without the optional white space (spaces, tabs) HTTP allows around values and list items.
std::string_view trim_ows(std::string_view s);

// True for `application/json` with any parameters (`; charset=utf-8`), in any case.
bool is_json_media_type(std::string_view content_type);

// True when every byte sequence in `s` is well-formed UTF-8.
bool is_valid_utf8(std::string_view s);

// `text` with its %XX escapes decoded (a malformed escape stays as it is); with
// `plus_is_space`, '+' reads as a space (form encoding).
std::string percent_decode(std::string_view text, bool plus_is_space = false);

// `name`'s value in a query string ("a=1&b=2"), percent-decoded; "" for a bare `name`;
// nullopt when absent.
std::optional<std::string> query_value(std::string_view query, std::string_view name, bool plus_is_space = false);

// A Retry-After value in delta-seconds, at most `cap` (the HTTP-date form reads as 0:
// the caller's own backoff applies).
std::chrono::milliseconds parse_retry_after(std::string_view value, std::chrono::seconds cap);

struct HttpRequest {
  std::string method;
  std::string target;  // as sent: "/v1/models?x=1"
  std::string path;    // target without the query
  std::string query;
  Headers headers;
  std::string body;
  IpAddress peer;           // the socket's peer: the only address trusted for access decisions
  std::uint16_t peer_port = 0;
  IpAddress client;         // for the record only: the peer, or the client a trusted proxy named
  std::string listener;
  bool tls = false;

  std::optional<std::string_view> header(std::string_view name) const { return find_header(headers, name); }
  bool from_loopback() const { return peer.is_loopback(); }
};

// Lets a handler stream a response (SSE, long answers) without seeing Beast.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Sends the status line and headers; the body follows in chunks. False: client gone.
  virtual boost::asio::awaitable<bool> start(int status, Headers headers) = 0;
  // Sends one piece of body now (no buffering). False: client gone.
  virtual boost::asio::awaitable<bool> write(std::string data) = 0;
  virtual bool started() const = 0;
};

struct HttpResponse;
// Runs after the handler returns; if it never calls start(), the response it
// returns is sent instead (so it can still answer 4xx/5xx with a JSON body).
using StreamingBody = std::function<boost::asio::awaitable<HttpResponse>(ResponseStream&)>;

struct HttpResponse {
  int status = 200;
  Headers headers;
  std::string body;
  bool close = false;  // close the connection after this response
  StreamingBody stream;  // when set, the body is produced by this (see ResponseStream)

  static HttpResponse text(int status, std::string body);
  static HttpResponse json(int status, const nlohmann::json& body);
  static HttpResponse json_text(int status, std::string encoded);  // a body already encoded as JSON
  // {"error":{"message":..., "type":..., "code":...}} as OpenAI clients expect.
  static HttpResponse error(int status, std::string_view code, std::string_view message);
  HttpResponse& with_header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

// The address to record for a request: the socket peer, unless the peer is a
// trusted proxy, in which case the right-most X-Forwarded-For entry that is not
// itself a trusted proxy. Never used for access decisions.
IpAddress recorded_client(const IpAddress& peer, const Headers& headers, const std::vector<Cidr>& trusted_proxies);

using HttpHandler = std::function<boost::asio::awaitable<HttpResponse>(HttpRequest)>;
struct WebSocketRoute;  // hermes/net/websocket.hpp

// Routes with a method each: exact paths, and prefixes ("/cdp/intranet/") for what lies
// under them. An exact path wins; otherwise the longest prefix. Built whole and swapped on
// reload.
class HttpRoutes {
 public:
  struct Route {
    std::string method;
    std::string path;
    std::string metric_name;  // label for hermes_http_requests_total{route}
    HttpHandler handler;
    bool cancel_on_disconnect = false;  // long handlers: a client that leaves cancels the work
    // Set: a GET that asks to upgrade gets a WebSocket; other requests go to `handler`
    // when there is one, else 426.
    std::shared_ptr<const WebSocketRoute> websocket;
    bool prefix = false;  // `path` ends with '/' and matches every path under it
  };
  struct Match {
    const Route* route = nullptr;
    bool path_known = false;  // path exists with another method: 405
    std::string allowed;      // the methods that path accepts
  };

  void add(std::string method, std::string path, HttpHandler handler, std::string metric_name = {},
           bool cancel_on_disconnect = false);
  // GET `path` upgrades to a WebSocket served by `route`.
  void add_websocket(std::string path, WebSocketRoute route, std::string metric_name = {});
  // `method` on any path under `prefix` (which ends with '/'); a GET route may also take
  // upgrades (`websocket`). The handler reads HttpRequest::path to tell them apart.
  void add_prefix(std::string method, std::string prefix, HttpHandler handler, std::string metric_name,
                  std::shared_ptr<const WebSocketRoute> websocket = nullptr);
  Match match(std::string_view method, std::string_view path) const;
  bool empty() const { return routes_.empty(); }

 private:
  std::vector<Route> routes_;
};

}  // namespace hermes::net
