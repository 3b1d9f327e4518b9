#pragma once
// A secret value resolved from a reference (${env:X}, ${file:P}, ${credential:N}).
// It cannot be printed or formatted by accident: the only way to read it is reveal().

#include <string>
#include <string_view>

namespace hermes {

class Secret {
 public:
  Secret() = default;
  Secret(std::string value, std::string source) : value_(std::move(value)), source_(std::move(source)) {}

  bool empty() const { return value_.empty(); }
  const std::string& reveal() const { return value_; }
  // Where it came from, safe to log: "env:ADMIN_KEY", "credential:admin", "inline".
  const std::string& source() const { return source_; }
  // Constant-time comparison, for bearer tokens and signatures.
  bool equals(std::string_view candidate) const;
  friend bool operator==(const Secret& a, const Secret& b) { return a.value_ == b.value_; }

 private:
  std::string value_;
  std::string source_;
};

// Constant-time equality of two byte strings (hashes both first, so lengths don't leak).
bool constant_time_equals(std::string_view a, std::string_view b);

}  // namespace hermes
