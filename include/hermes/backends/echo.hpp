#pragma once
// The built-in demo model: answers "[echo demo] agent=<agent> rule=<rule>:
// <last user message>" in a few streamed pieces. Needs no network, so the
// shipped config runs as-is on a laptop.
//
//   models:
//     - {name: demo, type: echo, chunks: 4, delay: 50ms}

#include <cstdint>
#include <memory>

#include "hermes/backends/registry.hpp"
#include "hermes/config/extensions.hpp"
#include "hermes/core/units.hpp"

namespace hermes::config {
class MapReader;
}

namespace hermes::backends::echo {

struct Spec : config::ModelSpec {
  std::uint32_t chunks = 4;  // pieces the answer is streamed in
  Duration delay{0};         // pause between pieces
};

std::unique_ptr<config::ModelSpec> parse_spec(config::MapReader& reader);
std::unique_ptr<ModelBackend> create(const config::ModelSpec& spec, BackendDeps& deps);

}  // namespace hermes::backends::echo
