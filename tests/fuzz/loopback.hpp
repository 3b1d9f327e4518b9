#pragma once
// The fuzz targets that reach code through a socket: the real HttpServer, HttpClient and
// WebSocket code on 127.0.0.1, driven by blocking POSIX sockets from the fuzzer's thread
// while an io_context runs on its own thread. Slower than an in-memory stream, but it is
// the code that runs in hermesd, deadlines (beast::tcp_stream) and all.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

namespace boost::asio {
class io_context;
}

namespace hermes::fuzz {

// An io_context with a work guard, run on its own thread until destruction.
class IoThread {
 public:
  IoThread();
  ~IoThread();
  boost::asio::io_context& io();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Connects to 127.0.0.1:`port`, sends `bytes`, half-closes and reads until the server
// closes. A server that neither closes nor answers within `limit` hangs: that aborts,
// so libFuzzer reports the input.
std::string exchange(std::uint16_t port, std::string_view bytes, std::chrono::seconds limit = std::chrono::seconds(10));

// A listening socket on 127.0.0.1 for targets that play the peer (an upstream, a browser).
class PeerListener {
 public:
  PeerListener();
  ~PeerListener();
  std::uint16_t port() const { return port_; }
  // Accepts one connection and returns its descriptor; reads on it are bounded by `limit`.
  // -1 when `client_done` says the client finished without connecting (its connect
  // failed: an answer too, not a hang).
  int accept_one(const std::function<bool()>& client_done, std::chrono::seconds limit = std::chrono::seconds(10)) const;

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// Closes `fd` with a reset once the exchange is over: millions of loopback connections
// would otherwise fill the ephemeral port range with TIME_WAIT entries.
void close_now(int fd);
// Reads from `fd` until "\r\n\r\n" (a request head) or EOF; what was read.
std::string read_head(int fd);
// Writes all of `bytes` (ignoring a peer that went away).
void write_all(int fd, std::string_view bytes);

}  // namespace hermes::fuzz
