#pragma once

#include <string>
#include <vector>

namespace hermes::audit {

// Versioned migrations for the audit database (PRAGMA user_version).
const std::vector<std::string>& migrations();

}  // namespace hermes::audit
