// AWS Signature Version 4 against AWS's published IAM ListUsers example and vectors made
// with the npm `aws4` package (1.13.2), the signer AWS's JavaScript tooling long used.
#include <gtest/gtest.h>

#include "hermes/core/sigv4.hpp"

namespace hermes {
namespace {

// 2015-08-30T12:36:00Z, the date of AWS's examples.
std::chrono::system_clock::time_point aws_example_time() {
  return std::chrono::system_clock::time_point(std::chrono::seconds(1440938160));
}

sigv4::Credentials example_credentials() {
  return {"AKIDEXAMPLE", Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "test"), Secret()};
}

std::string header(const sigv4::Signed& s, const std::string& name) {
  for (const auto& [n, v] : s.headers) {
    if (n == name) return v;
  }
  return "<absent>";
}

TEST(SigV4, AwsPublishedIamListUsersExample) {
  sigv4::Request r;
  r.method = "GET";
  r.query = "Action=ListUsers&Version=2010-05-08";
  r.headers = {{"Host", "iam.amazonaws.com"}, {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  auto s = sigv4::sign(r, example_credentials(), "us-east-1", "iam", aws_example_time());
  EXPECT_EQ(s.canonical_request,
            "GET\n/\nAction=ListUsers&Version=2010-05-08\n"
            "content-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\n"
            "x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.signature, "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
  EXPECT_EQ(header(s, "X-Amz-Date"), "20150830T123600Z");
  EXPECT_EQ(header(s, "Authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-date, "
            "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
  EXPECT_EQ(header(s, "X-Amz-Security-Token"), "<absent>");
}

TEST(SigV4, MatchesAws4OnQueriesBodiesAndEncodedPaths) {
  sigv4::Request vanilla;
  vanilla.method = "GET";
  vanilla.headers = {{"Host", "example.amazonaws.com"}};
  EXPECT_EQ(sigv4::sign(vanilla, example_credentials(), "us-east-1", "service", aws_example_time()).signature,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");

  auto ordered = vanilla;
  ordered.query = "Param2=value2&Param1=value1";  // signed sorted
  EXPECT_EQ(sigv4::sign(ordered, example_credentials(), "us-east-1", "service", aws_example_time()).signature,
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");

  sigv4::Request get_secret;  // Secrets Manager's GetSecretValue, as the gateway sends it
  get_secret.headers = {{"Host", "secretsmanager.eu-west-1.amazonaws.com"},
                        {"Content-Type", "application/x-amz-json-1.1"},
                        {"X-Amz-Target", "secretsmanager.GetSecretValue"}};
  get_secret.body = R"({"SecretId":"prod/hermes/openai"})";
  EXPECT_EQ(sigv4::sign(get_secret, example_credentials(), "eu-west-1", "secretsmanager", aws_example_time()).signature,
            "261e41fd9f7808086103d31a9e402b733888e914ee7e6a866f8e746d2f161d72");

  auto encoded = vanilla;
  encoded.path = "/a%20b/%C3%A9";  // as sent: signed encoded once more
  encoded.query = "x=a%20b&y=~";
  auto s = sigv4::sign(encoded, example_credentials(), "us-east-1", "service", aws_example_time());
  EXPECT_NE(s.canonical_request.find("GET\n/a%2520b/%25C3%25A9\nx=a%20b&y=~\n"), std::string::npos)
      << s.canonical_request;
  EXPECT_EQ(s.signature, "2fe2cf0be4450ad918ca8623630aca2460b765b34903cc228ea1c7a26b08d0e3");
}

TEST(SigV4, ASessionTokenIsSentAndSigned) {
  auto credentials = example_credentials();
  credentials.session_token = Secret("IQoJb3JpZ2luX2VjEXAMPLE", "test");
  sigv4::Request r;
  r.headers = {{"Host", "secretsmanager.us-east-1.amazonaws.com"}};
  auto s = sigv4::sign(r, credentials, "us-east-1", "secretsmanager", aws_example_time());
  EXPECT_EQ(header(s, "X-Amz-Security-Token"), "IQoJb3JpZ2luX2VjEXAMPLE");
  EXPECT_NE(header(s, "Authorization").find("SignedHeaders=host;x-amz-date;x-amz-security-token,"), std::string::npos)
      << header(s, "Authorization");
  // The secret key never appears in anything the signer returns.
  for (const auto& [name, value] : s.headers) EXPECT_EQ(value.find("wJalrXUtnFEMI"), std::string::npos) << name;
  EXPECT_EQ(s.canonical_request.find("wJalrXUtnFEMI"), std::string::npos);
}

TEST(SigV4, HeaderValuesAreTrimmedAndRepeatedNamesJoined) {
  sigv4::Request r;
  r.method = "GET";
  r.headers = {{"Host", "example.amazonaws.com"}, {"My-Header1", "  value1  "}, {"My-Header2", "a   b   c"},
               {"my-header1", "value2"}};
  auto s = sigv4::sign(r, example_credentials(), "us-east-1", "service", aws_example_time());
  EXPECT_NE(s.canonical_request.find("my-header1:value1,value2\nmy-header2:a b c\n"), std::string::npos)
      << s.canonical_request;
  EXPECT_NE(s.canonical_request.find("\nhost;my-header1;my-header2;x-amz-date\n"), std::string::npos);
  EXPECT_EQ(sigv4::uri_encode("a b/~é", false), "a%20b%2F~%C3%A9");
  EXPECT_EQ(sigv4::uri_encode("/p/q", true), "/p/q");
}

}  // namespace
}  // namespace hermes
