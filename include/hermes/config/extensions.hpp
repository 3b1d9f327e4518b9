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

#include "hermes/config/listener_protocol.hpp"
#include "hermes/config/source_location.hpp"
#include "hermes/core/units.hpp"

namespace hermes::config {

struct Config;
class MapReader;
class ParseContext;

struct ChannelSpec {
  virtual ~ChannelSpec() = default;
  std::string name;
  std::string type;
  std::string listener;  // the listener it mounts its endpoints on; empty: none (see needs_listener)
  SourceLocation where;
  // What its listener must speak: most channels serve HTTP; email takes LMTP.
  virtual ListenerProtocol listener_protocol() const { return ListenerProtocol::http; }
  // Whether it serves endpoints and so must name a listener. A channel that only makes
  // outbound connections (Slack in Socket Mode) needs none.
  virtual bool needs_listener() const { return true; }
  // Cross-checks once the whole file is read (e.g. "keys required on a LAN listener").
  virtual void validate(const Config&, const std::string& /*path*/, ParseContext&) const {}
};

// What every model gets from the gateway, whatever its type (backends/resilient.hpp).
struct ResilienceConfig {
  std::uint32_t retry_attempts = 2;       // extra tries on connect errors, 5xx and 429, never after the first token
  Duration retry_backoff{200};            // first wait, doubled each time, jittered; Retry-After wins when longer
  std::uint32_t breaker_failures = 5;     // failures within breaker_window that open the breaker (0: no breaker)
  Duration breaker_window{30'000};
  Duration breaker_cooldown{30'000};      // open this long, then one probe call decides
  std::uint32_t max_concurrency = 0;      // calls in flight at once (0: unlimited)
  Duration queue_timeout{1'000};          // longest wait for a free slot
};

struct ModelSpec {
  virtual ~ModelSpec() = default;
  std::string name;
  std::string type;
  SourceLocation where;
  ResilienceConfig resilience;
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
