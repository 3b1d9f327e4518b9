// Server-Sent Events from an upstream (OpenAI-format streams): fed in two pieces split
// at a point the input chooses, so CR/LF and BOM splits across reads are exercised.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "hermes/net/sse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::size_t split = data[0] % (input.size() + 1);
  hermes::net::SseParser parser(4096);
  std::vector<hermes::net::SseEvent> events;
  if (parser.feed(input.substr(0, split), events) == hermes::net::SseStatus::ok) {
    parser.feed(input.substr(split), events);
  }
  parser.finish();
  return 0;
}
