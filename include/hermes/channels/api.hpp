#pragma once
// The OpenAI-compatible API channel (`type: api`): POST /v1/chat/completions
// (streaming and not) and GET /v1/models for agents on the LAN.

#include <string>
#include <vector>

#include "hermes/channels/channel.hpp"
#include "hermes/core/secret.hpp"

namespace hermes::channels::api {

struct ApiKey {
  std::string name;    // what audit rows and limits see; never the key
  std::string sha256;  // lower-case hex of the key (from `key:` or given as `sha256:`)
  std::vector<std::string> agents;  // scope; empty: every agent
  config::SourceLocation where;
};

struct ApiSpec final : config::ChannelSpec {
  std::vector<ApiKey> keys;  // none on a loopback listener: open to local clients
  void validate(const config::Config& cfg, const std::string& path, config::ParseContext& ctx) const override;
};

void register_type(config::Registries& registries, ChannelFactories& factories);

}  // namespace hermes::channels::api
