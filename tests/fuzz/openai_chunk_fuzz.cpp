// What an OpenAI-format upstream sends: one streamed chat.completion.chunk or one whole
// answer per input, read by the simdjson reader the openai backend runs per token.
#include <cstddef>
#include <cstdint>

#include "src/backends/openai/chunk.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  hermes::backends::openai::ChunkFields fields;
  hermes::backends::openai::read_chunk(hermes::fuzz::as_text(data, size), fields);
  return 0;
}
