#pragma once
// The OpenAI-compatible API channel (`type: api`): POST /v1/chat/completions
// (streaming and not) and GET /v1/models for agents on the LAN.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hermes/channels/channel.hpp"
#include "hermes/config/keys.hpp"
#include "hermes/core/secret.hpp"

namespace YAML {
class Node;
}

namespace hermes::channels::api {

using ApiKey = config::AccessKey;

struct ApiSpec final : config::ChannelSpec {
  std::vector<ApiKey> keys;  // none on a loopback listener: open to local clients
  void validate(const config::Config& cfg, const std::string& path, config::ParseContext& ctx) const override;
};

// `{name, key | sha256, agents?}` as in `channels[].keys` (also web chat's `access.keys`).
std::optional<ApiKey> parse_api_key(const YAML::Node& node, const std::string& path, config::ParseContext& ctx);
// The key whose digest matches `presented`, compared against every key in constant time; null if none.
const ApiKey* find_api_key(const std::vector<ApiKey>& keys, std::string_view presented);
// Unique names and digests; scoped agents exist.
void validate_api_keys(const std::vector<ApiKey>& keys, const config::Config& cfg, const std::string& path,
                       config::ParseContext& ctx);

void register_type(config::Registries& registries, ChannelFactories& factories);

}  // namespace hermes::channels::api
