// Standard Webhooks v1 signatures, checked against the specification's published example.
#include "hermes/core/standard_webhooks.hpp"

#include <gtest/gtest.h>

#include "hermes/core/digest.hpp"

namespace hermes::standard_webhooks {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view kId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr std::int64_t kTimestamp = 1614265330;
constexpr std::string_view kBody = R"({"test": 2432232314})";
constexpr std::string_view kSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

std::chrono::system_clock::time_point at(std::int64_t seconds) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
}

TEST(StandardWebhooks, SignsAsTheSpecificationsExample) {
  EXPECT_EQ(sign(signing_key(kSecret), kId, kTimestamp, kBody), kSignature);
}

TEST(StandardWebhooks, VerifiesAnyOfSeveralSignaturesWithinFiveMinutes) {
  auto key = signing_key(kSecret);
  auto now = at(kTimestamp + 60);
  EXPECT_EQ(verify(key, kId, "1614265330", kSignature, kBody, now), Verdict::ok);
  std::string rotated = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= v2,whatever " + std::string(kSignature);
  EXPECT_EQ(verify(key, kId, "1614265330", rotated, kBody, now), Verdict::ok);
  EXPECT_EQ(verify(key, kId, "1614265330", kSignature, R"({"test": 2432232315})", now), Verdict::bad_signature);
  EXPECT_EQ(verify(key, "msg_other", "1614265330", kSignature, kBody, now), Verdict::bad_signature);
  EXPECT_EQ(verify(signing_key("whsec_AAAA"), kId, "1614265330", kSignature, kBody, now), Verdict::bad_signature);
  EXPECT_EQ(verify(key, kId, "1614265330", "v1g0hM9SsE", kBody, now), Verdict::bad_signature);
  // Replays: outside five minutes either way the request is refused, whatever it carries.
  EXPECT_EQ(verify(key, kId, "1614265330", kSignature, kBody, at(kTimestamp + 301)), Verdict::stale_timestamp);
  EXPECT_EQ(verify(key, kId, "1614265330", kSignature, kBody, at(kTimestamp - 301)), Verdict::stale_timestamp);
  EXPECT_EQ(verify(key, kId, "16142653x0", kSignature, kBody, now), Verdict::stale_timestamp);
  // Far-off times are stale, not an overflow of the clock's nanoseconds (found by fuzzing).
  EXPECT_EQ(verify(key, kId, "17000000000", kSignature, kBody, now), Verdict::stale_timestamp);
  EXPECT_EQ(verify(key, kId, "-9223372036854775808", kSignature, kBody, now), Verdict::stale_timestamp);
  EXPECT_EQ(verify(key, kId, "9223372036854775807", kSignature, kBody, now), Verdict::stale_timestamp);
  EXPECT_EQ(verify(key, "", "1614265330", kSignature, kBody, now), Verdict::missing_header);
  EXPECT_EQ(verify(key, kId, "1614265330", "", kBody, now), Verdict::missing_header);
}

TEST(StandardWebhooks, HeadersForSendingVerify) {
  auto now = at(1'800'000'000);
  auto headers = signature_headers(Scheme::standard, kSecret, "hooks:e1:0", kBody, now);
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers[0], (std::pair<std::string, std::string>{"webhook-id", "hooks:e1:0"}));
  EXPECT_EQ(headers[1].second, "1800000000");
  EXPECT_EQ(verify(signing_key(kSecret), headers[0].second, headers[1].second, headers[2].second, kBody, now),
            Verdict::ok);
  auto legacy = signature_headers(Scheme::hermes_v1, "s3cret", "x", kBody, now);
  ASSERT_EQ(legacy.size(), 1u);
  EXPECT_EQ(legacy[0].second, "sha256=" + hmac_sha256_hex("s3cret", kBody));
  EXPECT_EQ(signing_key("plain-text-secret"), "plain-text-secret");
}

TEST(Base64, RoundTripsAndRefusesMalformedText) {
  for (std::string text : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    EXPECT_EQ(base64_decode(base64_encode(text)), text) << text;
  }
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_FALSE(base64_decode("Zm9"));
  EXPECT_FALSE(base64_decode("Zm9v!!!!"));
}

}  // namespace
}  // namespace hermes::standard_webhooks
