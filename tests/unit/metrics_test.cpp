// Metric families: series by label values, the last-series shortcut, and the text format.
#include "hermes/observability/metrics.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace hermes::observability {
namespace {

TEST(Metrics, EachLabelCombinationIsItsOwnSeriesWhicheverWasLookedUpLast) {
  MetricsRegistry registry;
  auto& family = registry.counter("hermes_test_total", "Test.", {"channel", "outcome"});
  auto& ok = family.with({"api", "ok"});
  auto& limited = family.with({"api", "rate_limited"});
  EXPECT_NE(&ok, &limited);
  for (int i = 0; i < 3; ++i) {
    family.with({"api", "ok"}).inc();
    family.with({"api", "rate_limited"}).inc();
    family.with({"api", "rate_limited"}).inc();
  }
  family.with({"ap", "iok"}).inc();  // same characters, other labels
  EXPECT_EQ(ok.value(), 3u);
  EXPECT_EQ(limited.value(), 6u);
  EXPECT_EQ(family.with({"ap", "iok"}).value(), 1u);
  EXPECT_THROW(family.with({"api"}), std::logic_error);
  auto text = registry.render();
  EXPECT_NE(text.find(R"(hermes_test_total{channel="api",outcome="ok"} 3)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(hermes_test_total{channel="api",outcome="rate_limited"} 6)"), std::string::npos) << text;
}

TEST(Metrics, ConcurrentLookupsOfDifferentSeriesCountExactly) {
  MetricsRegistry registry;
  auto& family = registry.counter("hermes_race_total", "Test.", {"worker"});
  constexpr int kPerThread = 20'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&family, t] {
      std::string mine = "w" + std::to_string(t);
      for (int i = 0; i < kPerThread; ++i) family.with({mine}).inc();
    });
  }
  for (auto& t : threads) t.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(family.with({"w" + std::to_string(t)}).value(), std::uint64_t{kPerThread});
}

}  // namespace
}  // namespace hermes::observability
