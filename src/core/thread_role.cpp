#include "hermes/core/thread_role.hpp"

namespace hermes {
namespace {
thread_local bool t_is_io = false;
}

void mark_this_thread_as_io() { t_is_io = true; }
bool this_thread_is_io() { return t_is_io; }

}  // namespace hermes
