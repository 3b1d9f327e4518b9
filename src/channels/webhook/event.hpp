#pragma once
// Private to the webhook channel (and its fuzz target): the event a signed POST carries.

#include <optional>
#include <string>

#include "hermes/core/message.hpp"

namespace hermes::channels::webhook {

// The event's fields into `m`; what is wrong otherwise. Optional fields of the wrong type
// are refused too (nlohmann's value() threw on them: a 500 with no audit row).
std::optional<std::string> read_event(const std::string& raw, InboundMessage& m);

}  // namespace hermes::channels::webhook
