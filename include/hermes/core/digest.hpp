#pragma once
// Hex digests (OpenSSL) shared by the audit chain and the signed channels.

#include <string>
#include <string_view>

namespace hermes {

std::string sha256_hex(std::string_view data);
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

}  // namespace hermes
