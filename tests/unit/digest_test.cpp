// SHA-256 and HMAC-SHA256 against published test vectors (FIPS 180-2, RFC 4231):
// the HMAC is built on the digest by hand, so every key-length branch is checked.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "hermes/core/digest.hpp"

namespace {

TEST(Digest, Sha256MatchesFips180Vectors) {
  EXPECT_EQ(hermes::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hermes::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hermes::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Digest, HmacMatchesRfc4231ShortKeys) {
  EXPECT_EQ(hermes::hmac_sha256_hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(hermes::hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hermes::hmac_sha256_hex(std::string(20, '\xaa'), std::string(50, '\xdd')),
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
}

TEST(Digest, HmacHashesKeysLongerThanABlock) {
  std::string key(131, '\xaa');
  EXPECT_EQ(hermes::hmac_sha256_hex(key, "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(hermes::hmac_sha256_hex(key, "This is a test using a larger than block-size key and a larger than "
                                         "block-size data. The key needs to be hashed before being used by the "
                                         "HMAC algorithm."),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST(Digest, ExactlyOneBlockKeyIsUsedAsIs) {
  // A 64-byte key is padded, not hashed: it must differ from the hash-first result.
  std::string key(64, 'k');
  EXPECT_NE(hermes::hmac_sha256_hex(key, "x"), hermes::hmac_sha256_hex(hermes::sha256_hex(key), "x"));
  EXPECT_EQ(hermes::hmac_sha256_hex(key, "x"), hermes::hmac_sha256_hex(key, "x"));
}

TEST(Digest, ThreadsHashIndependently) {
  std::string expected = hermes::sha256_hex("abc");
  std::string seen;
  std::thread t([&] { seen = hermes::sha256_hex("abc"); });
  t.join();
  EXPECT_EQ(seen, expected);
}

}  // namespace
