#include <openssl/crypto.h>

#include <regex>

#include "hermes/core/digest.hpp"
#include "hermes/channels/api.hpp"
#include "hermes/config/reader.hpp"

namespace hermes::channels::api {

std::optional<ApiKey> parse_api_key(const YAML::Node& node, const std::string& path, config::ParseContext& ctx) {
  config::MapReader r(node, path, ctx);
  ApiKey k;
  k.where = ctx.location(node);
  k.name = r.required<std::string>("name").value_or("");
  auto key = r.optional<Secret>("key");
  auto digest = r.optional<std::string>("sha256");
  if (key.has_value() == digest.has_value()) {
    ctx.error(node, path, "a key needs exactly one of key: (a secret reference) or sha256: (its hex digest)");
  } else if (key) {
    k.sha256 = sha256_hex(key->reveal());
  } else {
    static const std::regex kHex("[0-9a-fA-F]{64}");
    if (!std::regex_match(*digest, kHex)) {
      ctx.error(r.child("sha256"), r.path_of("sha256"), "sha256 must be 64 hex digits");
    }
    k.sha256 = *digest;
    for (auto& c : k.sha256) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  auto agents = r.child("agents");
  if (agents.IsDefined() && agents.IsScalar()) {
    k.agents = {agents.Scalar()};
  } else {
    k.agents = r.optional<std::vector<std::string>>("agents").value_or(std::vector<std::string>{});
  }
  r.finish();
  return k;
}

const ApiKey* find_api_key(const std::vector<ApiKey>& keys, std::string_view presented) {
  std::string digest = sha256_hex(presented);
  const ApiKey* found = nullptr;
  for (const auto& k : keys) {  // compare all: time does not depend on which key matched
    if (k.sha256.size() == digest.size() && CRYPTO_memcmp(k.sha256.data(), digest.data(), digest.size()) == 0) {
      found = &k;
    }
  }
  return found;
}

namespace {

std::unique_ptr<config::ChannelSpec> parse(config::MapReader& r) {
  auto spec = std::make_unique<ApiSpec>();
  spec->keys = config::parse_list<ApiKey>(r.child("keys"), r.path_of("keys"), r.context(),
                                          [&](const YAML::Node& n, const std::string& p) {
                                            return parse_api_key(n, p, r.context());
                                          });
  return spec;
}

}  // namespace

void ApiSpec::validate(const config::Config& cfg, const std::string& path, config::ParseContext& ctx) const {
  const auto* l = cfg.find_listener(listener);
  bool loopback_only = l && l->address.is_loopback();
  if (l && !loopback_only && keys.empty()) {
    ctx.error_at(where, path + ".keys",
                 "an api channel on a non-loopback listener needs keys: (no keys, no start)");
  }
  validate_api_keys(keys, cfg, path, ctx);
}

void validate_api_keys(const std::vector<ApiKey>& keys, const config::Config& cfg, const std::string& path,
                       config::ParseContext& ctx) {
  config::check_unique_names(keys, "api key", path + ".keys", ctx);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    for (const auto& agent : keys[i].agents) {
      if (!cfg.find_agent(agent)) {
        ctx.error_at(keys[i].where, path + ".keys[" + std::to_string(i) + "].agents",
                     "no agent named '" + agent + "'");
      }
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (keys[i].sha256 == keys[j].sha256) {
        ctx.error_at(keys[i].where, path + ".keys[" + std::to_string(i) + "]",
                     "the same key is configured twice (also as '" + keys[j].name + "')");
      }
    }
  }
}

void register_type(config::Registries& registries, ChannelFactories& factories);

}  // namespace hermes::channels::api

namespace hermes::channels::api {

std::shared_ptr<Channel> make_channel(const config::ChannelSpec& spec, ChannelContext& context);

void register_type(config::Registries& registries, ChannelFactories& factories) {
  registries.add_channel_type("api", parse);
  factories.add("api", make_channel);
}

}  // namespace hermes::channels::api
