#pragma once
// Private to src/config: the pipeline sections of the file (channels, models,
// agents, routes, limits, sessions) and their cross-references.

#include "hermes/config/config.hpp"
#include "hermes/config/reader.hpp"

namespace hermes::config {

void parse_pipeline_sections(MapReader& root, ParseContext& ctx, const Registries* registries, Config& cfg);
// `browsers:` (src/config/browsers.cpp); after the listeners.
void parse_browsers(MapReader& root, ParseContext& ctx, Config& cfg);

}  // namespace hermes::config
