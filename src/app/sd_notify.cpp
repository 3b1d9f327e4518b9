#include "hermes/app/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace hermes::app {

bool sd_notify(std::string_view state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) {
    return false;
  }
  std::size_t len = std::strlen(path);
  sockaddr_un addr{};
  if (len >= sizeof addr.sun_path || (path[0] != '/' && path[0] != '@')) {
    return false;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path, len);
  if (path[0] == '@') {
    addr.sun_path[0] = '\0';  // abstract namespace
  }
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  // Never block the event loop on a notify socket nobody drains; a lost
  // status datagram is better than a stalled gateway.
  ssize_t sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL | MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&addr), addr_len);
  ::close(fd);
  return sent == static_cast<ssize_t>(state.size());
}

std::optional<std::chrono::microseconds> sd_watchdog_interval() {
  const char* usec = std::getenv("WATCHDOG_USEC");
  if (!usec || !*usec) {
    return std::nullopt;
  }
  if (const char* pid = std::getenv("WATCHDOG_PID"); pid && *pid && std::atol(pid) != ::getpid()) {
    return std::nullopt;
  }
  long long v = std::atoll(usec);
  if (v <= 0) {
    return std::nullopt;
  }
  return std::chrono::microseconds(v);
}

}  // namespace hermes::app
