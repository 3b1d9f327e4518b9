#pragma once
// Access keys as every keyed surface configures them: `{name, key | sha256, agents?}`
// (the api channel's `keys:`, web chat's `access.keys`, a browser's `keys:`). Only the
// key's SHA-256 is kept; a presented key is compared against all of them in constant time.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hermes/config/source_location.hpp"

namespace YAML {
class Node;
}

namespace hermes::config {

class ParseContext;

struct AccessKey {
  std::string name;    // what audit rows and limits see; never the key
  std::string sha256;  // lower-case hex of the key (from `key:` or given as `sha256:`)
  std::vector<std::string> agents;  // scope; empty: every agent (only where keys pick agents)
  SourceLocation where;
};

// `with_agents`: whether `agents:` is a known key here.
std::optional<AccessKey> parse_access_key(const YAML::Node& node, const std::string& path, ParseContext& ctx,
                                          bool with_agents = true);
// The key whose digest matches `presented`, compared against every key in constant time; null if none.
const AccessKey* find_access_key(const std::vector<AccessKey>& keys, std::string_view presented);
// Unique names and digests (agents are the caller's to check).
void check_access_keys(const std::vector<AccessKey>& keys, std::string_view what, const std::string& path,
                       ParseContext& ctx);

}  // namespace hermes::config
