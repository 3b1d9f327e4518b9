#pragma once

#include <string>

namespace hermes::config {

// Where a block came from, so late checks (start-up, reload) can still name file:line:col.
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
};

}  // namespace hermes::config
