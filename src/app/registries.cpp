#include "hermes/app/registries.hpp"

#include "hermes/app/extensions.hpp"

namespace hermes::app {

const config::Registries& builtin_registries() { return builtin_extensions().config; }

}  // namespace hermes::app
