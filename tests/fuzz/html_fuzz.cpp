// HTML-only mail bodies become the text an agent reads (libxml2's HTML parser behind
// html_to_text): any bytes, any nesting.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "hermes/channels/email/mime.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  hermes::channels::email::html_to_text({reinterpret_cast<const char*>(data), size});
  return 0;
}
