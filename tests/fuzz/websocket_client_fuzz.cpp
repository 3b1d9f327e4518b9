// What a browser's DevTools endpoint (or any WebSocket peer Hermes connects to) sends
// after the handshake: the input is written raw as frames to the real WebSocket client
// (fragments, control frames, masks, lengths, close codes, oversized messages), then the
// connection closes. Every message the client yields goes through the CDP relay's peek.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <openssl/sha.h>
#include <cstddef>
#include <cstdint>
#include <future>
#include <string>
#include <unistd.h>

#include "hermes/core/digest.hpp"
#include "hermes/net/websocket.hpp"
#include "src/cdp/policy.hpp"
#include "tests/fuzz/fuzz_input.hpp"
#include "tests/fuzz/loopback.hpp"

namespace {

namespace asio = boost::asio;
using namespace hermes;

struct Harness {
  fuzz::IoThread thread;
  fuzz::PeerListener peer;
};

asio::awaitable<void> read_all(std::uint16_t port, std::promise<void>& done) {
  net::WebSocketClientOptions options;
  options.max_message = 4096;
  options.connect_timeout = std::chrono::seconds(5);
  options.idle_timeout = std::chrono::seconds(5);
  auto connected = co_await net::connect_websocket("127.0.0.1", port, "/devtools/browser/fuzz", options);
  if (connected.socket) {
    for (;;) {
      auto message = co_await connected.socket->read();
      if (!message) break;
      cdp::peek_message(*message);
      cdp::peek_session_id(*message);
    }
  }
  done.set_value();
}

// The RFC 6455 handshake answer to the client's request head.
std::string switching_protocols(const std::string& head) {
  std::string key;
  auto at = head.find("Sec-WebSocket-Key: ");
  if (at == std::string::npos) at = head.find("sec-websocket-key: ");
  if (at != std::string::npos) {
    auto start = at + 19;
    key = head.substr(start, head.find("\r\n", start) - start);
  }
  std::string text = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
         base64_encode({reinterpret_cast<const char*>(digest), sizeof digest}) + "\r\n\r\n";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto* harness = new Harness();
  std::promise<void> done;
  auto finished = done.get_future();
  asio::co_spawn(harness->thread.io(), read_all(harness->peer.port(), done), asio::detached);
  auto client_done = [&] { return finished.wait_for(std::chrono::seconds(0)) == std::future_status::ready; };
  int fd = harness->peer.accept_one(client_done);
  if (fd >= 0) {
    fuzz::write_all(fd, switching_protocols(fuzz::read_head(fd)));
    fuzz::write_all(fd, fuzz::as_text(data, size));
    ::shutdown(fd, SHUT_WR);
  }
  if (finished.wait_for(std::chrono::seconds(20)) != std::future_status::ready) std::abort();
  if (fd >= 0) fuzz::close_now(fd);
  return 0;
}
