#pragma once
// The one loader used by hermesd, hermesctl check-config and reload.

#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include "hermes/config/config.hpp"
#include "hermes/config/errors.hpp"
#include "hermes/config/secrets.hpp"

namespace hermes::config {

struct LoadResult {
  std::shared_ptr<const Config> config;  // set only when there are no errors
  std::vector<ConfigError> errors;
  std::vector<ConfigError> warnings;     // legal but unwise (inline secrets); messages start "warning: "
  bool ok() const { return config != nullptr; }
};

// Reads and validates a file; secrets come from the process environment.
// `registries` knows the channel and model types; without it, any channels:
// or models: entry is an "unknown type" error.
LoadResult load_file(const std::filesystem::path& path, const Registries* registries = nullptr);
LoadResult load_file(const std::filesystem::path& path, const SecretEnvironment& env,
                     const Registries* registries = nullptr);
// Validates YAML text; `file_name` is used in error messages.
LoadResult load_string(std::string_view yaml, const std::string& file_name, const SecretEnvironment& env,
                       const Registries* registries = nullptr);

// Changes that need a restart (DESIGN.md "reload"); empty when `next` can be applied live.
std::vector<std::string> restart_required_changes(const Config& running, const Config& next);

}  // namespace hermes::config
