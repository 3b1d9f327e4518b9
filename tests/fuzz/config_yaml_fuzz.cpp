// hermes.yaml as an operator (or a config generator) writes it: the whole loader with
// every built-in channel and model type (yaml-cpp, then the typed sections), and the
// reload comparison against the last valid config. References resolve against a fixed
// environment; ${file:} paths resolve in an empty directory.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "hermes/app/registries.hpp"
#include "hermes/config/loader.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const hermes::config::SecretEnvironment env = [] {
    hermes::config::SecretEnvironment e;
    e.getenv = [](const std::string& name) -> std::optional<std::string> {
      if (name.rfind("HERMES_", 0) == 0) return "fuzz-secret-value-0123456789";
      return std::nullopt;
    };
    e.base_dir = std::filesystem::temp_directory_path() / "hermes-fuzz-empty";
    std::filesystem::create_directories(e.base_dir);
    return e;
  }();
  static std::shared_ptr<const hermes::config::Config> last_valid;
  auto result = hermes::config::load_string(hermes::fuzz::as_text(data, size), "fuzz.yaml", env,
                                            &hermes::app::builtin_registries());
  if (result.config) {
    if (last_valid) hermes::config::restart_required_changes(*last_valid, *result.config);
    last_valid = std::move(result.config);
  }
  return 0;
}
