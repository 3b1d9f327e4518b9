#pragma once
// OpenAI-compatible chat completions upstream (OpenAI, vLLM, llama.cpp,
// Ollama, LM Studio, ...): POST {base_url}/chat/completions with stream:true,
// deltas passed on as they arrive.
//
//   models:
//     - {name: gpt, type: openai, base_url: "https://api.openai.com/v1", model: gpt-4o-mini,
//        api_key: "${env:OPENAI_API_KEY}", timeout: 60s, connect_timeout: 5s, first_byte_timeout: 30s}

#include <memory>
#include <string>

#include "hermes/backends/registry.hpp"
#include "hermes/config/extensions.hpp"
#include "hermes/core/secret.hpp"
#include "hermes/core/units.hpp"

namespace hermes::config {
class MapReader;
}

namespace hermes::backends::openai {

struct Spec : config::ModelSpec {
  std::string base_url;  // without a trailing '/': "https://api.openai.com/v1"
  std::string model;     // the upstream model name
  Secret api_key;        // empty: no Authorization header (local servers)
  Duration timeout{60'000};             // the whole call
  Duration connect_timeout{5'000};
  Duration first_byte_timeout{30'000};  // request sent → response head
};

std::unique_ptr<config::ModelSpec> parse_spec(config::MapReader& reader);
std::unique_ptr<ModelBackend> create(const config::ModelSpec& spec, BackendDeps& deps);

}  // namespace hermes::backends::openai
