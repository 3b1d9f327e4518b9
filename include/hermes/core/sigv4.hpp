#pragma once
// AWS Signature Version 4 (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html),
// for the requests the gateway signs itself (Secrets Manager's GetSecretValue; Debian has
// no C++ AWS SDK). Pure: no clock, no I/O; the caller adds the headers it returns.

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hermes/core/secret.hpp"

namespace hermes::sigv4 {

struct Credentials {
  std::string access_key_id;
  Secret secret_access_key;
  Secret session_token;  // empty for long-term keys; sent as X-Amz-Security-Token
};

struct Request {
  std::string method = "POST";
  std::string path = "/";  // as sent (already percent-encoded where needed)
  std::string query;       // as sent, without '?'
  // Headers to sign, as sent (Host included); X-Amz-Date and X-Amz-Security-Token are added.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view body;
};

struct Signed {
  // What to add to the request: X-Amz-Date, X-Amz-Security-Token (with a session token) and
  // Authorization.
  std::vector<std::pair<std::string, std::string>> headers;
  // For tests and debugging (never logged: they are not secret, but mean nothing to operators).
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;
};

// `service` as AWS names it in the scope ("secretsmanager", "iam"), `region` as "us-east-1".
Signed sign(const Request& request, const Credentials& credentials, std::string_view region,
            std::string_view service, std::chrono::system_clock::time_point now);

// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters kept, every other byte
// %XX in upper case; '/' kept when `keep_slash` (paths).
std::string uri_encode(std::string_view text, bool keep_slash);

}  // namespace hermes::sigv4
