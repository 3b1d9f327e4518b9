// The body of POST /v1/chat/completions from any API client: messages, tools, images,
// options, read into the message the pipeline routes.
#include <cstddef>
#include <cstdint>

#include "src/channels/api/request.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  hermes::channels::api::ParsedRequest out;
  hermes::channels::api::parse_body(hermes::fuzz::as_text(data, size), out);
  return 0;
}
