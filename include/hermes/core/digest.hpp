#pragma once
// Hex digests (OpenSSL) shared by the audit chain and the signed channels.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace hermes {

std::string sha256_hex(std::string_view data);
// Lower-case hex of `n` bytes.
std::string hex_encode(const unsigned char* data, std::size_t n);
std::string hmac_sha256_hex(std::string_view key, std::string_view data);
// The 32 raw bytes (keys derived from keys: AWS SigV4).
std::string hmac_sha256_bytes(std::string_view key, std::string_view data);
std::string hmac_sha256_base64(std::string_view key, std::string_view data);
// Standard base64 with padding (RFC 4648 section 4); nullopt for anything else.
std::string base64_encode(std::string_view data);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace hermes
