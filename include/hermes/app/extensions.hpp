#pragma once
// Built-in channel and backend types: their YAML parsers and their factories.

#include "hermes/backends/registry.hpp"
#include "hermes/channels/channel.hpp"
#include "hermes/config/extensions.hpp"

namespace hermes::app {

struct BuiltinExtensions {
  config::Registries config;
  channels::ChannelFactories channels;
  backends::BackendFactories backends;
};

const BuiltinExtensions& builtin_extensions();

}  // namespace hermes::app
