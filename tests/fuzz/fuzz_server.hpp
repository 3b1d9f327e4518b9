#pragma once
#include <cstdint>

namespace hermes::fuzz {

// The port of the fuzz HttpServer (tests/fuzz/fuzz_server.cpp), started on first use.
std::uint16_t http_server_port();

}  // namespace hermes::fuzz
