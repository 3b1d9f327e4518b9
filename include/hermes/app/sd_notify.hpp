#pragma once
// systemd's notification protocol, spoken directly: one datagram to $NOTIFY_SOCKET.

#include <chrono>
#include <optional>
#include <string_view>

namespace hermes::app {

// Sends `state` ("READY=1", "STOPPING=1", ...); false when not under systemd or on error.
bool sd_notify(std::string_view state);
// The watchdog interval systemd asked for ($WATCHDOG_USEC for this pid), if any.
std::optional<std::chrono::microseconds> sd_watchdog_interval();

}  // namespace hermes::app
