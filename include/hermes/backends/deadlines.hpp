#pragma once
// The deadlines every HTTP backend takes from its YAML block.

#include "hermes/core/units.hpp"

namespace hermes::backends {

struct HttpDeadlines {
  Duration timeout{60'000};             // the whole call (never beyond the request's own deadline)
  Duration connect_timeout{5'000};
  Duration first_byte_timeout{30'000};  // request sent → response head
};

}  // namespace hermes::backends
