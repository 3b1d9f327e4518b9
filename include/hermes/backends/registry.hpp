#pragma once
// Maps a model's YAML `type:` to the factory that builds its ModelBackend.
// Each built-in type registers both halves in register_builtin: the config
// parser (config::Registries) and the factory (BackendFactories), so a type
// that loads always builds. Tests may add fakes under their own type names.

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "hermes/core/backend.hpp"

namespace boost::asio {
class io_context;
}

namespace hermes::config {
struct ModelSpec;
class Registries;
}  // namespace hermes::config

namespace hermes::net {
class HttpClient;
}
namespace hermes::observability {
class MetricsRegistry;
}

namespace hermes::backends {

// What a backend may use; nothing else.
struct BackendDeps {
  boost::asio::io_context& io;
  net::HttpClient& http;
  observability::MetricsRegistry* metrics = nullptr;  // for the resilience layer's metrics
};

using BackendFactory =
    std::function<std::unique_ptr<ModelBackend>(const config::ModelSpec& spec, BackendDeps& deps)>;

class BackendFactories {
 public:
  // Throws std::logic_error on a duplicate type: that is a programming error.
  void add(std::string type, BackendFactory factory);
  // Throws std::logic_error for a type nobody registered (config loading
  // rejects those first, so reaching it is a wiring bug). The backend comes
  // wrapped in the resilience layer (retries, breaker, concurrency cap).
  std::unique_ptr<ModelBackend> create(const config::ModelSpec& spec, BackendDeps& deps) const;
  bool has(const std::string& type) const { return factories_.count(type) != 0; }
  std::string type_names() const;

 private:
  std::map<std::string, BackendFactory> factories_;
};

// Registers every built-in model type (echo, openai) with both registries.
void register_builtin(config::Registries& config, BackendFactories& factories);

}  // namespace hermes::backends
