#pragma once
// The typed config of extension points (channels, models) and the registry
// that maps a YAML `type:` to the parser of its block. Modules register their
// types explicitly (channels::register_builtin, backends::register_builtin);
// hermesd and hermesctl build their registries the same way, so they agree.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hermes/config/source_location.hpp"

namespace hermes::config {

struct Config;
class MapReader;
class ParseContext;

struct ChannelSpec {
  virtual ~ChannelSpec() = default;
  std::string name;
  std::string type;
  std::string listener;  // the listener it mounts its endpoints on
  SourceLocation where;
  // Cross-checks once the whole file is read (e.g. "keys required on a LAN listener").
  virtual void validate(const Config&, const std::string& /*path*/, ParseContext&) const {}
};

struct ModelSpec {
  virtual ~ModelSpec() = default;
  std::string name;
  std::string type;
  SourceLocation where;
  virtual void validate(const Config&, const std::string& /*path*/, ParseContext&) const {}
};

// Reads the type-specific keys of one block (name/type/listener are read already).
template <class Spec>
using SpecParser = std::function<std::unique_ptr<Spec>(MapReader& reader)>;

class Registries {
 public:
  // Throws std::logic_error on a duplicate type: that is a programming error.
  void add_channel_type(const std::string& type, SpecParser<ChannelSpec> parser);
  void add_model_type(const std::string& type, SpecParser<ModelSpec> parser);
  const SpecParser<ChannelSpec>* channel_parser(const std::string& type) const;
  const SpecParser<ModelSpec>* model_parser(const std::string& type) const;
  std::string channel_type_names() const;  // "api, slack, webchat" for errors
  std::string model_type_names() const;

 private:
  std::map<std::string, SpecParser<ChannelSpec>> channels_;
  std::map<std::string, SpecParser<ModelSpec>> models_;
};

}  // namespace hermes::config
