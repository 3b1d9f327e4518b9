#pragma once
// Reading fields of a parsed nlohmann document from outside, without exceptions: a field
// of the wrong type reads as absent.

#include <nlohmann/json_fwd.hpp>

#include <string>

namespace hermes {

// `object[key]` when `object` is an object and that member is a string; else "".
std::string json_string(const nlohmann::json& object, const char* key);
// `object[key]` when `object` is an object and that member is a boolean; else `fallback`.
bool json_bool(const nlohmann::json& object, const char* key, bool fallback);

}  // namespace hermes
