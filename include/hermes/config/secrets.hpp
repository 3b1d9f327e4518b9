#pragma once
// Resolves secret references: ${env:NAME}, ${file:PATH}, ${credential:NAME}.
// The environment is injectable so tests do not depend on the process's.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "hermes/core/secret.hpp"

namespace hermes::config {

struct SecretEnvironment {
  std::function<std::optional<std::string>(const std::string&)> getenv;
  std::filesystem::path base_dir;  // relative ${file:...} paths resolve here

  static SecretEnvironment from_process(std::filesystem::path base_dir);
};

struct SecretResult {
  std::optional<Secret> secret;
  std::string error;  // names the reference, never a value
};

// A value that is not a reference is taken literally (source "inline").
SecretResult resolve_secret(std::string_view value, const SecretEnvironment& env);

}  // namespace hermes::config
