#pragma once
// Helpers shared by the fuzz targets: the input as text, split into the parts a target
// needs. Seeds in tests/fuzz/corpus/<target>/ are written in the same layout.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

namespace hermes::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// `input` cut at the first `separator`: (before, after). No separator: (input, "").
inline std::pair<std::string_view, std::string_view> split_once(std::string_view input,
                                                                std::string_view separator = "\n\n") {
  auto at = input.find(separator);
  if (at == std::string_view::npos) return {input, {}};
  return {input.substr(0, at), input.substr(at + separator.size())};
}

// The next line of `text` (without its "\n"), consumed from `text`.
inline std::string_view next_line(std::string_view& text) {
  auto end = text.find('\n');
  std::string_view line = text.substr(0, end);
  text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
  return line;
}

}  // namespace hermes::fuzz
