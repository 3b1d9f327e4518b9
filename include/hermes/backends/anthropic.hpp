#pragma once
// Anthropic's Messages API: POST {base_url}/v1/messages with "stream": true; the
// event stream (message_start, content_block_delta, message_delta, message_stop,
// ping, error at any point) is mapped onto the same ReplyStream as every backend,
// with usage recorded.
//
//   models:
//     - {name: claude, type: anthropic, model: claude-sonnet-4-5, api_key: "${env:ANTHROPIC_API_KEY}",
//        max_tokens: 1024, timeout: 60s}

#include <cstdint>
#include <memory>
#include <string>

#include "hermes/backends/deadlines.hpp"
#include "hermes/backends/registry.hpp"
#include "hermes/config/extensions.hpp"
#include "hermes/core/secret.hpp"
#include "hermes/core/units.hpp"

namespace hermes::config {
class MapReader;
}

namespace hermes::backends::anthropic {

struct Spec : config::ModelSpec {
  std::string base_url = "https://api.anthropic.com";  // without a trailing '/'
  std::string model;
  Secret api_key;                              // sent as x-api-key
  std::string anthropic_version = "2023-06-01";
  std::int64_t max_tokens = 1024;              // when the agent and the request set none (the API requires it)
  HttpDeadlines deadlines;                      // timeout, connect_timeout, first_byte_timeout
};

std::unique_ptr<config::ModelSpec> parse_spec(config::MapReader& reader);
std::unique_ptr<ModelBackend> create(const config::ModelSpec& spec, BackendDeps& deps);

}  // namespace hermes::backends::anthropic
