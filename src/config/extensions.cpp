#include "hermes/config/extensions.hpp"

#include <stdexcept>

#include "hermes/config/config.hpp"

namespace hermes::config {
namespace {

template <class Map>
std::string names_of(const Map& m) {
  std::string out;
  for (const auto& [name, parser] : m) out += out.empty() ? name : ", " + name;
  return out.empty() ? "(none registered)" : out;
}

}  // namespace

void Registries::add_channel_type(const std::string& type, SpecParser<ChannelSpec> parser) {
  if (!channels_.emplace(type, std::move(parser)).second) {
    throw std::logic_error("channel type '" + type + "' registered twice");
  }
}

void Registries::add_model_type(const std::string& type, SpecParser<ModelSpec> parser) {
  if (!models_.emplace(type, std::move(parser)).second) {
    throw std::logic_error("model type '" + type + "' registered twice");
  }
}

const SpecParser<ChannelSpec>* Registries::channel_parser(const std::string& type) const {
  auto it = channels_.find(type);
  return it == channels_.end() ? nullptr : &it->second;
}

const SpecParser<ModelSpec>* Registries::model_parser(const std::string& type) const {
  auto it = models_.find(type);
  return it == models_.end() ? nullptr : &it->second;
}

std::string Registries::channel_type_names() const { return names_of(channels_); }
std::string Registries::model_type_names() const { return names_of(models_); }

}  // namespace hermes::config
