#include "hermes/core/digest.hpp"

#include <openssl/evp.h>

#include <array>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace hermes {
namespace {

constexpr std::size_t kSha256Size = 32;
constexpr std::size_t kSha256Block = 64;
using Sha256 = std::array<unsigned char, kSha256Size>;

// OpenSSL 3's one-shot SHA256()/HMAC() look the algorithm up in the provider
// registry on every call (locks and allocations: about as much work as hashing an
// audit row). Fetch it once, and keep one digest context per thread.
const EVP_MD* sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) throw std::runtime_error("OpenSSL: SHA256 is not available");
  return md;
}

struct ContextDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

EVP_MD_CTX* thread_context() {
  thread_local std::unique_ptr<EVP_MD_CTX, ContextDeleter> ctx(EVP_MD_CTX_new());
  return ctx.get();
}

// SHA-256 over the concatenation of `parts`.
template <std::size_t N>
Sha256 sha256_of(const std::array<std::string_view, N>& parts) {
  EVP_MD_CTX* ctx = thread_context();
  Sha256 digest{};
  unsigned int len = 0;
  bool ok = EVP_DigestInit_ex2(ctx, sha256_md(), nullptr) == 1;
  for (std::string_view part : parts) ok = ok && EVP_DigestUpdate(ctx, part.data(), part.size()) == 1;
  ok = ok && EVP_DigestFinal_ex(ctx, digest.data(), &len) == 1;
  if (!ok || len != kSha256Size) throw std::runtime_error("OpenSSL: SHA256 failed");
  return digest;
}

std::string_view view(const unsigned char* data, std::size_t n) {
  return {reinterpret_cast<const char*>(data), n};
}

}  // namespace

std::string hex_encode(const unsigned char* data, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(n * 2, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[data[i] >> 4];
    out[2 * i + 1] = kHex[data[i] & 0xf];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  Sha256 digest = sha256_of(std::array{data});
  return hex_encode(digest.data(), digest.size());
}

namespace {
// HMAC-SHA256 as RFC 2104 defines it, on the cached digest.
Sha256 hmac_sha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, kSha256Block> block{};
  if (key.size() > kSha256Block) {
    Sha256 hashed = sha256_of(std::array{key});
    std::memcpy(block.data(), hashed.data(), hashed.size());
  } else {
    std::memcpy(block.data(), key.data(), key.size());
  }
  std::array<unsigned char, kSha256Block> inner_pad{}, outer_pad{};
  for (std::size_t i = 0; i < kSha256Block; ++i) {
    inner_pad[i] = block[i] ^ 0x36;
    outer_pad[i] = block[i] ^ 0x5c;
  }
  Sha256 inner = sha256_of(std::array{view(inner_pad.data(), inner_pad.size()), data});
  Sha256 outer = sha256_of(std::array{view(outer_pad.data(), outer_pad.size()), view(inner.data(), inner.size())});
  OPENSSL_cleanse(block.data(), block.size());
  OPENSSL_cleanse(inner_pad.data(), inner_pad.size());
  OPENSSL_cleanse(outer_pad.data(), outer_pad.size());
  return outer;
}
}  // namespace

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  Sha256 mac = hmac_sha256(key, data);
  return hex_encode(mac.data(), mac.size());
}

std::string hmac_sha256_bytes(std::string_view key, std::string_view data) {
  Sha256 mac = hmac_sha256(key, data);
  return std::string(view(mac.data(), mac.size()));
}

std::string hmac_sha256_base64(std::string_view key, std::string_view data) {
  Sha256 mac = hmac_sha256(key, data);
  return base64_encode(view(mac.data(), mac.size()));
}

std::string base64_encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(3 * (text.size() / 4), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts padding as zero bytes.
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++padding;
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
}

}  // namespace hermes
