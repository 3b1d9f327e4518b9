#include "hermes/core/digest.hpp"
#include "hermes/channels/api.hpp"
#include "hermes/config/keys.hpp"
#include "hermes/config/reader.hpp"

namespace hermes::channels::api {

std::optional<ApiKey> parse_api_key(const YAML::Node& node, const std::string& path, config::ParseContext& ctx) {
  return config::parse_access_key(node, path, ctx);
}

const ApiKey* find_api_key(const std::vector<ApiKey>& keys, std::string_view presented) {
  return config::find_access_key(keys, presented);
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
  config::check_access_keys(keys, "api key", path + ".keys", ctx);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    for (const auto& agent : keys[i].agents) {
      if (!cfg.find_agent(agent)) {
        ctx.error_at(keys[i].where, path + ".keys[" + std::to_string(i) + "].agents",
                     "no agent named '" + agent + "'");
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
