#pragma once
// Private to the anthropic backend (and its unit test): an OpenAI-shaped request in
// Anthropic's Messages API words.

#include <nlohmann/json.hpp>

#include "hermes/backends/anthropic.hpp"
#include "hermes/core/backend.hpp"

namespace hermes::backends::anthropic {

// The POST /v1/messages body: system turns to `system`, turns merged to alternate from a
// user turn, tool calls as tool_use blocks, tool results as tool_result blocks, images as
// image blocks, tools and tool_choice translated (docs/api.md, "Who takes what").
nlohmann::json request_body(const CompletionRequest& request, const Spec& spec);

}  // namespace hermes::backends::anthropic
