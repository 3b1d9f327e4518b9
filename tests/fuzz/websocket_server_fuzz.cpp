// What a client sends on an upgraded connection (the web chat, the CDP relay): the
// input is written raw as frames after a valid upgrade request to a real HttpServer's
// WebSocket route that echoes each message, then the connection is half-closed.
#include <cstddef>
#include <cstdint>
#include <string>

#include "tests/fuzz/fuzz_input.hpp"
#include "tests/fuzz/fuzz_server.hpp"
#include "tests/fuzz/loopback.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string upgrade =
      "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  hermes::fuzz::exchange(hermes::fuzz::http_server_port(), upgrade + std::string(hermes::fuzz::as_text(data, size)));
  return 0;
}
