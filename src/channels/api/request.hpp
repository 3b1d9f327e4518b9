#pragma once
// Private to the api channel: the OpenAI chat request body, read into an InboundMessage.

#include <optional>
#include <string_view>

#include "hermes/core/message.hpp"
#include "hermes/core/reply.hpp"

namespace hermes::channels::api {

struct ParsedRequest {
  InboundMessage message;
  bool stream = false;
  bool include_usage = false;
};

// Fills `out` from the body of POST /v1/chat/completions; the 400 to send when the body
// is malformed. `out.message` comes in with the request's identity already set.
std::optional<ReplyError> parse_body(std::string_view body, ParsedRequest& out);

}  // namespace hermes::channels::api
