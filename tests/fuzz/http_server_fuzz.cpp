// Whatever a client sends to an HTTP listener, before any authentication: the input is
// written raw to a real HttpServer on 127.0.0.1 (request heads, Content-Length and
// chunked bodies, chunk extensions, trailers, pipelined requests, Expect: 100-continue,
// WebSocket upgrades, Host checks), then half-closed. The server must answer or close
// every time; a crash, a sanitizer report or a hang is a finding. (tests/fuzz/fuzz_server.cpp
// has the listener and its routes.)
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_input.hpp"
#include "tests/fuzz/fuzz_server.hpp"
#include "tests/fuzz/loopback.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  hermes::fuzz::exchange(hermes::fuzz::http_server_port(), hermes::fuzz::as_text(data, size));
  return 0;
}
