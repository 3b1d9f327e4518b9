#include "hermes/backends/registry.hpp"

#include <stdexcept>

#include "hermes/backends/anthropic.hpp"
#include "hermes/backends/echo.hpp"
#include "hermes/backends/openai.hpp"
#include "hermes/backends/resilient.hpp"
#include "hermes/backends/webhook.hpp"
#include "hermes/config/extensions.hpp"

namespace hermes::backends {

void BackendFactories::add(std::string type, BackendFactory factory) {
  std::string name = type;
  if (!factories_.emplace(std::move(type), std::move(factory)).second) {
    throw std::logic_error("backend type '" + name + "' registered twice");
  }
}

std::unique_ptr<ModelBackend> BackendFactories::create(const config::ModelSpec& spec, BackendDeps& deps) const {
  auto it = factories_.find(spec.type);
  if (it == factories_.end()) {
    throw std::logic_error("model " + spec.name + ": no backend factory for type '" + spec.type +
                           "' (known: " + type_names() + ")");
  }
  return make_resilient(it->second(spec, deps), spec, deps.metrics);
}

std::string BackendFactories::type_names() const {
  std::string out;
  for (const auto& [type, factory] : factories_) {
    out += out.empty() ? type : ", " + type;
  }
  return out.empty() ? "(none registered)" : out;
}

void register_builtin(config::Registries& config, BackendFactories& factories) {
  config.add_model_type("echo", echo::parse_spec);
  factories.add("echo", echo::create);
  config.add_model_type("openai", openai::parse_spec);
  factories.add("openai", openai::create);
  config.add_model_type("anthropic", anthropic::parse_spec);
  factories.add("anthropic", anthropic::create);
  config.add_model_type("webhook", webhook::parse_spec);
  factories.add("webhook", webhook::create);
}

}  // namespace hermes::backends
