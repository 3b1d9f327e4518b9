#pragma once

#include <string>
#include <vector>

namespace hermes::config {

// One problem in a configuration file: "FILE:LINE:COL: key.path: message".
struct ConfigError {
  std::string file;
  int line = 0;    // 1-based; 0 when the problem is not tied to a place
  int column = 0;  // 1-based
  std::string path;  // dotted key path: "listeners[1].port"; empty for the document
  std::string message;

  std::string to_string() const;
};

std::string format_errors(const std::vector<ConfigError>& errors);

}  // namespace hermes::config
