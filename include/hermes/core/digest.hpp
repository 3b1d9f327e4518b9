#pragma once
// Hex digests (OpenSSL) shared by the audit chain and the signed channels.

#include <cstddef>
#include <string>
#include <string_view>

namespace hermes {

std::string sha256_hex(std::string_view data);
// Lower-case hex of `n` bytes.
std::string hex_encode(const unsigned char* data, std::size_t n);
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

}  // namespace hermes
