#pragma once

#include <string_view>

namespace hermes::build {

std::string_view version();
std::string_view commit();

}  // namespace hermes::build
