// The SigV4 signer (core/sigv4) against the Secrets Manager stand-in
// (tests/peers/aws_sm_peer.mjs), which checks every signature with the npm `aws4` package as
// AWS would: a request the gateway signs is taken; a wrong key, a changed body, another
// region or a stale date is refused with AWS's error types.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "hermes/core/sigv4.hpp"
#include "node_peer.hpp"

namespace hermes::test {
namespace {

using nlohmann::json;
constexpr const char* kAwsKeyId = "AKIAIOSFODNN7EXAMPLE";
constexpr const char* kAwsSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

class AwsSigV4 : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(peer_.start()) << peer_.error();
    auto r = http_request(peer_.port(), "POST", "/_secret", {{"Content-Type", "application/json"}},
                          R"({"id": "prod/hermes/openai", "value": "sk-live-1"})");
    ASSERT_EQ(r.status, 200);
  }

  // GetSecretValue as the gateway sends it, signed; the stand-in's answer.
  HttpResult get_secret(const std::string& body, const std::string& secret_key = kAwsSecret,
                        const std::string& region = "eu-west-1",
                        std::chrono::system_clock::time_point now = std::chrono::system_clock::now(),
                        const std::string& sent_body = "") {
    sigv4::Request request;
    request.headers = {{"Host", "127.0.0.1"},  // what http_request sends
                       {"Content-Type", "application/x-amz-json-1.1"},
                       {"X-Amz-Target", "secretsmanager.GetSecretValue"}};
    request.body = body;
    sigv4::Credentials credentials{kAwsKeyId, Secret(secret_key, "test"), Secret()};
    auto signed_request = sigv4::sign(request, credentials, region, "secretsmanager", now);
    std::map<std::string, std::string> headers = {{"Content-Type", "application/x-amz-json-1.1"},
                                                  {"X-Amz-Target", "secretsmanager.GetSecretValue"}};
    for (const auto& [name, value] : signed_request.headers) headers[name] = value;
    return http_request(peer_.port(), "POST", "/", headers, sent_body.empty() ? body : sent_body);
  }

  NodePeer peer_{"tests/peers/aws_sm_peer.mjs",
                 {"--port", "0", "--region", "eu-west-1", "--access-key", kAwsKeyId, "--secret-key", kAwsSecret}};
};

TEST_F(AwsSigV4, AGetSecretValueTheGatewaySignsIsTaken) {
  auto r = get_secret(R"({"SecretId":"prod/hermes/openai"})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto reply = json::parse(r.body);
  EXPECT_EQ(reply["SecretString"], "sk-live-1");
  EXPECT_EQ(reply["Name"], "prod/hermes/openai");
  auto missing = get_secret(R"({"SecretId":"prod/none"})");
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(json::parse(missing.body)["__type"], "ResourceNotFoundException");
}

TEST_F(AwsSigV4, WrongKeyChangedBodyOtherRegionOrStaleDateAreRefused) {
  std::string body = R"({"SecretId":"prod/hermes/openai"})";
  auto type_of = [](const HttpResult& r) { return json::parse(r.body).value("__type", ""); };
  auto wrong_key = get_secret(body, "not-the-secret-key");
  EXPECT_EQ(wrong_key.status, 403);
  EXPECT_EQ(type_of(wrong_key), "InvalidSignatureException");
  auto changed = get_secret(body, kAwsSecret, "eu-west-1", std::chrono::system_clock::now(),
                            R"({"SecretId":"prod/hermes/admin"})");
  EXPECT_EQ(changed.status, 403);
  EXPECT_EQ(type_of(changed), "InvalidSignatureException");
  auto other_region = get_secret(body, kAwsSecret, "us-east-1");
  EXPECT_EQ(other_region.status, 403);
  auto stale = get_secret(body, kAwsSecret, "eu-west-1", std::chrono::system_clock::now() - std::chrono::minutes(6));
  EXPECT_EQ(stale.status, 403);
  EXPECT_NE(stale.body.find("Signature expired"), std::string::npos) << stale.body;
}

}  // namespace
}  // namespace hermes::test
