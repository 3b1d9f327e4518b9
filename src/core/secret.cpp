#include "hermes/core/secret.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace hermes {

bool constant_time_equals(std::string_view a, std::string_view b) {
  unsigned char ha[SHA256_DIGEST_LENGTH];
  unsigned char hb[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), ha);
  SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), hb);
  return CRYPTO_memcmp(ha, hb, sizeof ha) == 0;
}

bool Secret::equals(std::string_view candidate) const {
  return !value_.empty() && constant_time_equals(value_, candidate);
}

}  // namespace hermes
