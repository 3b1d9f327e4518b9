#pragma once
// Private to the openai backend: the fields of one streamed chat.completion.chunk, or
// of a whole chat.completion. Both are the hot path (one parse per token chunk or per
// answer): read from simdjson's DOM (hermes/core/json_dom.hpp), ~4k instructions for
// a 340-byte answer where nlohmann's SAX reader took ~28k.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hermes/core/reply.hpp"

namespace hermes::backends::openai {

struct ChunkFields {
  std::string content;        // choices[0].delta.content (chunk) or choices[0].message.content (answer)
  // choices[0].delta.tool_calls[] (pieces: index, and id/name/arguments as they come) or
  // choices[0].message.tool_calls[] (whole calls, indexed by position)
  std::vector<ToolCallDelta> tool_calls;
  std::string finish_reason;  // choices[0].finish_reason
  std::optional<std::int64_t> prompt_tokens;      // usage.prompt_tokens
  std::optional<std::int64_t> completion_tokens;  // usage.completion_tokens
  std::optional<std::int64_t> cached_tokens;      // usage.prompt_tokens_details.cached_tokens
  bool has_choice = false;    // choices[0] is an object
  bool has_error = false;     // a non-null top-level "error"
  std::string error_message;  // error.message, or error itself when a string
};

// False when `data` is not one well-formed JSON object.
bool read_chunk(std::string_view data, ChunkFields& out);

}  // namespace hermes::backends::openai
