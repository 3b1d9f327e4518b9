#pragma once
// Wires the modules from a loaded config, owns the io_context, handles
// signals (SIGTERM/SIGINT drain, SIGHUP reload) and talks to systemd.

#include <filesystem>
#include <memory>

#include "hermes/config/config.hpp"

namespace hermes::app {

class Gateway {
 public:
  explicit Gateway(std::shared_ptr<const config::Config> config);
  ~Gateway();
  // Runs until SIGTERM/SIGINT; returns the process exit code.
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hermes::app
