#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>

#include <signal.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <nlohmann/json.hpp>

#include "hermes/ctl/commands.hpp"

namespace hermes::ctl {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// --url from `args` (default http://127.0.0.1:8080); nullopt after printing the usage.
std::optional<std::string> url_argument(const std::vector<std::string>& args, const char* command) {
  std::string url = "http://127.0.0.1:8080";
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--url" && i + 1 < args.size()) {
      url = args[++i];
    } else {
      std::fprintf(stderr, "usage: hermesctl %s [--url http://HOST:PORT]\n", command);
      return std::nullopt;
    }
  }
  return url;
}

// GET /status of the hermesd at the command's --url; the JSON, or nullopt with the
// reason (or the usage) printed and `rc` set to the command's exit code.
std::optional<nlohmann::json> fetch_status(const std::optional<std::string>& url, int& rc) {
  if (!url) {
    rc = 2;
    return std::nullopt;
  }
  std::string error;
  auto status = query_status(*url, rc, error);
  if (!status) std::fprintf(stderr, "hermesctl: %s\n", error.c_str());
  return status;
}

}  // namespace

std::optional<nlohmann::json> query_status(const std::string& url, int& rc, std::string& error) {
  rc = 1;
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed || parsed->scheme() != "http") {
    error = "--url must be an http:// URL (got " + url + ")";
    rc = 2;
    return std::nullopt;
  }
  std::string host = parsed->host();
  std::string port = parsed->has_port() ? std::string(parsed->port()) : "80";
  // Error codes, not exceptions: Boost's exception text carries its own source paths.
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  boost::system::error_code ec;
  auto endpoints = resolver.resolve(host, port, ec);
  if (ec) {
    error = "cannot resolve " + host + ": " + ec.message();
    return std::nullopt;
  }
  stream.expires_after(std::chrono::seconds(10));
  stream.connect(endpoints, ec);
  if (ec) {
    error = "cannot connect to " + host + ":" + port + ": " + ec.message();
    return std::nullopt;
  }
  http::request<http::empty_body> req(http::verb::get, "/status", 11);
  req.set(http::field::host, host);
  if (const char* key = std::getenv("HERMES_ADMIN_KEY"); key && *key) {
    req.set(http::field::authorization, std::string("Bearer ") + key);
  }
  http::write(stream, req, ec);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  if (!ec) http::read(stream, buffer, res, ec);
  if (ec) {
    error = url + "/status: " + ec.message();
    return std::nullopt;
  }
  if (res.result() != http::status::ok) {
    auto body = res.body();
    while (!body.empty() && body.back() == '\n') body.pop_back();
    error = url + "/status answered " + std::to_string(res.result_int()) + ": " + body;
    return std::nullopt;
  }
  auto status = nlohmann::json::parse(res.body(), nullptr, false);
  if (status.is_discarded()) {
    error = url + "/status did not answer JSON";
    return std::nullopt;
  }
  rc = 0;
  return status;
}

int status(const std::vector<std::string>& args) {
  int rc = 0;
  auto status = fetch_status(url_argument(args, "status"), rc);
  if (!status) return rc;
  std::printf("%s\n", status->dump(2).c_str());
  return 0;
}

// Signals the hermesd that answers at --url (the pid its /status reports): unlike
// `kill -HUP $(pgrep hermesd)` it reaches that one instance, and only a hermesd.
int reload(const std::vector<std::string>& args) {
  auto url = url_argument(args, "reload");
  int rc = 0;
  auto status = fetch_status(url, rc);
  if (!status) return rc;
  auto pid = status->value("pid", 0);
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(comm, name);
  if (pid <= 0 || name != "hermesd") {
    std::fprintf(stderr, "hermesctl: %s reports pid %d, which is not a hermesd on this host\n", url->c_str(), pid);
    return 1;
  }
  if (::kill(pid, SIGHUP) != 0) {
    std::fprintf(stderr, "hermesctl: cannot signal hermesd pid %d: %s\n", pid, std::strerror(errno));
    return 1;
  }
  std::printf("sent SIGHUP to hermesd pid %d (instance %s); the result is in its log, in the audit log "
              "(config.reload) and in `hermesctl status` (config.loaded_at)\n",
              pid, status->value("instance", std::string()).c_str());
  return 0;
}

}  // namespace hermes::ctl
