#pragma once
// Helpers for parsing YAML into typed structs with errors that name
// FILE:LINE:COL and the key path. Extension factories (channels, backends)
// use these to validate their own blocks.
//
//   MapReader r(node, "listeners[0]", ctx);
//   cfg.port = r.required<std::uint16_t>("port").value_or(0);
//   cfg.admin = r.optional<bool>("admin").value_or(true);
//   r.finish();   // reports unknown keys
//
// Every failure is recorded in the ParseContext; parsing continues so all
// errors are reported in one pass.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "hermes/config/config.hpp"
#include "hermes/config/errors.hpp"
#include "hermes/config/secrets.hpp"
#include "hermes/core/standard_webhooks.hpp"

namespace hermes::config {

class ParseContext {
 public:
  ParseContext(std::string file, SecretEnvironment env) : file_(std::move(file)), env_(std::move(env)) {}

  void error(const YAML::Mark& mark, std::string path, std::string message);
  void error(const YAML::Node& at, std::string path, std::string message);
  void error_at(const SourceLocation& at, std::string path, std::string message);
  // Legal but unwise (an inline secret): reported, never refused.
  void warning(const YAML::Node& at, std::string path, std::string message);
  SourceLocation location(const YAML::Node& node) const;

  const std::string& file() const { return file_; }
  const SecretEnvironment& secrets() const { return env_; }
  const std::vector<ConfigError>& errors() const { return errors_; }
  std::vector<ConfigError> take_errors() { return std::move(errors_); }
  std::vector<ConfigError> take_warnings() { return std::move(warnings_); }

 private:
  std::string file_;
  SecretEnvironment env_;
  std::vector<ConfigError> errors_;
  std::vector<ConfigError> warnings_;
};

std::string join_path(std::string_view parent, std::string_view key);
std::string index_path(std::string_view parent, std::size_t index);

// Conversions from a scalar node. Each returns nullopt after recording an error.
template <class T>
std::optional<T> convert(const YAML::Node& node, const std::string& path, ParseContext& ctx);

#define HERMES_CONFIG_CONVERTIBLE(T) \
  template <>                        \
  std::optional<T> convert(const YAML::Node& node, const std::string& path, ParseContext& ctx)
HERMES_CONFIG_CONVERTIBLE(std::string);
HERMES_CONFIG_CONVERTIBLE(bool);
HERMES_CONFIG_CONVERTIBLE(std::int64_t);
HERMES_CONFIG_CONVERTIBLE(std::uint32_t);
HERMES_CONFIG_CONVERTIBLE(std::uint16_t);
HERMES_CONFIG_CONVERTIBLE(Duration);
HERMES_CONFIG_CONVERTIBLE(Rate);
HERMES_CONFIG_CONVERTIBLE(ByteSize);
HERMES_CONFIG_CONVERTIBLE(Cidr);
HERMES_CONFIG_CONVERTIBLE(IpAddress);
HERMES_CONFIG_CONVERTIBLE(Secret);
HERMES_CONFIG_CONVERTIBLE(standard_webhooks::Scheme);  // "hermes-v1" | "standard"
HERMES_CONFIG_CONVERTIBLE(std::vector<std::string>);
HERMES_CONFIG_CONVERTIBLE(std::vector<Cidr>);
#undef HERMES_CONFIG_CONVERTIBLE

// One of a fixed set of words, e.g. {{"text", LogFormat::text}, {"json", LogFormat::json}}.
template <class Enum>
std::optional<Enum> convert_enum(const YAML::Node& node, const std::string& path, ParseContext& ctx,
                                 std::initializer_list<std::pair<std::string_view, Enum>> choices) {
  auto text = convert<std::string>(node, path, ctx);
  if (!text) return std::nullopt;
  std::string names;
  for (const auto& [name, value] : choices) {
    if (name == *text) return value;
    names += names.empty() ? std::string(name) : " | " + std::string(name);
  }
  ctx.error(node, path, "invalid value '" + *text + "' (expected " + names + ")");
  return std::nullopt;
}

class MapReader {
 public:
  // A null node reads as an empty map (an empty section); anything else that
  // is not a map is an error and reads as empty.
  MapReader(const YAML::Node& node, std::string path, ParseContext& ctx);

  bool has(std::string_view key) const;
  // The child node (marked as used); an invalid node when absent.
  YAML::Node child(std::string_view key);
  std::string path_of(std::string_view key) const { return join_path(path_, key); }
  const std::string& path() const { return path_; }
  const YAML::Node& node() const { return node_; }
  ParseContext& context() { return ctx_; }

  template <class T>
  std::optional<T> optional(std::string_view key) {
    YAML::Node n = child(key);
    if (!n.IsDefined() || n.IsNull()) {
      return std::nullopt;
    }
    return convert<T>(n, path_of(key), ctx_);
  }

  template <class T>
  std::optional<T> required(std::string_view key) {
    YAML::Node n = child(key);
    if (!n.IsDefined() || n.IsNull()) {
      missing(key);
      return std::nullopt;
    }
    return convert<T>(n, path_of(key), ctx_);
  }

  // Reports keys that were never asked for. Call once, after reading.
  void finish();

 private:
  void missing(std::string_view key);

  YAML::Node node_;
  std::string path_;
  ParseContext& ctx_;
  std::set<std::string, std::less<>> used_;
  bool valid_ = true;
};

// Parses `value` with `parse_one(node, path)` per element of a sequence;
// a missing or null node is an empty list.
template <class T, class ParseOne>
std::vector<T> parse_list(const YAML::Node& node, const std::string& path, ParseContext& ctx,
                          ParseOne parse_one) {
  std::vector<T> out;
  if (!node.IsDefined() || node.IsNull()) {
    return out;
  }
  if (!node.IsSequence()) {
    ctx.error(node, path, "expected a list");
    return out;
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    if (auto v = parse_one(node[i], index_path(path, i))) {
      out.push_back(std::move(*v));
    }
  }
  return out;
}

// Reports every element whose `name` repeats an earlier one, at the second occurrence.
template <class T>
void check_unique_names(const std::vector<T>& items, std::string_view what, const std::string& path,
                        ParseContext& ctx) {
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].name.empty()) continue;  // a missing name is already its own error
    for (std::size_t j = 0; j < i; ++j) {
      if (items[i].name == items[j].name) {
        ctx.error_at(items[i].where, path + "[" + std::to_string(i) + "].name",
                     "duplicate " + std::string(what) + " name '" + items[i].name +
                         "' (first defined at line " + std::to_string(items[j].where.line) + ")");
        break;
      }
    }
  }
}

}  // namespace hermes::config
