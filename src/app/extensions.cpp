#include "hermes/app/extensions.hpp"

namespace hermes::app {

const BuiltinExtensions& builtin_extensions() {
  static const BuiltinExtensions kExtensions = [] {
    BuiltinExtensions e;
    channels::register_builtin(e.config, e.channels);
    backends::register_builtin(e.config, e.backends);
    return e;
  }();
  return kExtensions;
}

}  // namespace hermes::app
