#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "hermes/ctl/commands.hpp"

namespace hermes::ctl {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

int status(const std::vector<std::string>& args) {
  std::string url = "http://127.0.0.1:8080";
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--url" && i + 1 < args.size()) {
      url = args[++i];
    } else {
      std::fprintf(stderr, "usage: hermesctl status [--url http://HOST:PORT]\n");
      return 2;
    }
  }
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed || parsed->scheme() != "http") {
    std::fprintf(stderr, "hermesctl: --url must be an http:// URL (got %s)\n", url.c_str());
    return 2;
  }
  std::string host = parsed->host();
  std::string port = parsed->has_port() ? std::string(parsed->port()) : "80";
  try {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(10));
    stream.connect(resolver.resolve(host, port));
    http::request<http::empty_body> req(http::verb::get, "/status", 11);
    req.set(http::field::host, host);
    if (const char* key = std::getenv("HERMES_ADMIN_KEY"); key && *key) {
      req.set(http::field::authorization, std::string("Bearer ") + key);
    }
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    if (res.result() != http::status::ok) {
      std::fprintf(stderr, "hermesctl: %s/status answered %u: %s", url.c_str(), res.result_int(), res.body().c_str());
      return 1;
    }
    std::printf("%s\n", nlohmann::json::parse(res.body()).dump(2).c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hermesctl: cannot reach %s: %s\n", url.c_str(), e.what());
    return 1;
  }
}

}  // namespace hermes::ctl
