#include "hermes/config/keys.hpp"

#include <openssl/crypto.h>

#include <regex>

#include "hermes/config/reader.hpp"
#include "hermes/core/digest.hpp"

namespace hermes::config {

std::optional<AccessKey> parse_access_key(const YAML::Node& node, const std::string& path, ParseContext& ctx,
                                          bool with_agents) {
  MapReader r(node, path, ctx);
  AccessKey k;
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
  if (with_agents) {
    auto agents = r.child("agents");
    if (agents.IsDefined() && agents.IsScalar()) {
      k.agents = {agents.Scalar()};
    } else {
      k.agents = r.optional<std::vector<std::string>>("agents").value_or(std::vector<std::string>{});
    }
  }
  r.finish();
  return k;
}

const AccessKey* find_access_key(const std::vector<AccessKey>& keys, std::string_view presented) {
  std::string digest = sha256_hex(presented);
  const AccessKey* found = nullptr;
  for (const auto& k : keys) {  // compare all: time does not depend on which key matched
    if (k.sha256.size() == digest.size() && CRYPTO_memcmp(k.sha256.data(), digest.data(), digest.size()) == 0) {
      found = &k;
    }
  }
  return found;
}

void check_access_keys(const std::vector<AccessKey>& keys, std::string_view what, const std::string& path,
                       ParseContext& ctx) {
  check_unique_names(keys, what, path, ctx);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (keys[i].sha256 == keys[j].sha256) {
        ctx.error_at(keys[i].where, path + "[" + std::to_string(i) + "]",
                     "the same key is configured twice (also as '" + keys[j].name + "')");
      }
    }
  }
}

}  // namespace hermes::config
