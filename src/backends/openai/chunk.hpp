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

// A choice other than the first, when the client asked for several (`n`).
struct ChoiceFields {
  int index = 0;
  std::string content;
  std::vector<ToolCallDelta> tool_calls;
  std::string finish_reason;
};

struct ChunkFields {
  // Choice 0 (its "index", else the first in the array):
  std::string content;        // choices[].delta.content (chunk) or choices[].message.content (answer)
  // choices[].delta.tool_calls[] (pieces: index, and id/name/arguments as they come) or
  // choices[].message.tool_calls[] (whole calls, indexed by position)
  std::vector<ToolCallDelta> tool_calls;
  std::string finish_reason;  // choices[].finish_reason
  // The other choices' pieces (index 1 and up), in the order they came: a streamed
  // chunk carries one choice, a whole answer all of them.
  std::vector<ChoiceFields> other_choices;
  std::optional<std::int64_t> prompt_tokens;      // usage.prompt_tokens
  std::optional<std::int64_t> completion_tokens;  // usage.completion_tokens
  std::optional<std::int64_t> cached_tokens;      // usage.prompt_tokens_details.cached_tokens
  bool has_choice = false;    // choices[] holds an object
  bool has_error = false;     // a non-null top-level "error"
  std::string error_message;  // error.message, or error itself when a string
};

// False when `data` is not one well-formed JSON object.
bool read_chunk(std::string_view data, ChunkFields& out);

}  // namespace hermes::backends::openai
