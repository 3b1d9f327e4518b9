#include "hermes/core/json_fields.hpp"

#include <nlohmann/json.hpp>

namespace hermes {

std::string json_string(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return {};
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace hermes
