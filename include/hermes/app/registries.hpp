#pragma once
// The one place built-in channel and model types are registered. hermesd,
// hermesctl check-config and hermesctl routes test all load configs through
// it, so they can never disagree about what a file means.

#include "hermes/config/extensions.hpp"

namespace hermes::app {

const config::Registries& builtin_registries();

}  // namespace hermes::app
