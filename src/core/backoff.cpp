#include "hermes/core/backoff.hpp"

#include <algorithm>
#include <cstdint>
#include <random>

namespace hermes {

std::chrono::milliseconds jittered_backoff(std::chrono::milliseconds first, int doublings,
                                           std::chrono::milliseconds cap) {
  thread_local std::minstd_rand random{std::random_device{}()};
  auto base = std::min<std::chrono::milliseconds>(first * (1LL << std::max(doublings, 0)), cap);
  std::uniform_int_distribution<std::int64_t> spread(base.count() / 2, base.count());
  return std::chrono::milliseconds(spread(random));
}

}  // namespace hermes
