// AWS Signature Version 4: canonical request, string to sign, derived key, signature.
#include "hermes/core/sigv4.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <ctime>

#include "hermes/core/digest.hpp"

namespace hermes::sigv4 {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// A header value as SigV4 canonicalises it: trimmed, inner runs of spaces made one.
std::string canonical_value(std::string_view value) {
  std::string out;
  bool space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoded (a malformed escape kept as it is); '+' is not a space in a URL's query.
std::string sigv4_percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// Pairs sorted by encoded name, then value, each side decoded and encoded again so that
// "a b", "a%20b" and "a%2520b" are told apart exactly as AWS does.
std::string canonical_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> pairs;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    if (!pair.empty()) {
      auto eq = pair.find('=');
      std::string name = uri_encode(sigv4_percent_decode(pair.substr(0, eq)), false);
      std::string value =
          eq == std::string_view::npos ? std::string() : uri_encode(sigv4_percent_decode(pair.substr(eq + 1)), false);
      pairs.emplace_back(std::move(name), std::move(value));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (const auto& [name, value] : pairs) {
    if (!out.empty()) out += '&';
    out += name + "=" + value;
  }
  return out;
}

std::string amz_date(std::chrono::system_clock::time_point now) {
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[17];
  std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &utc);
  return text;
}

}  // namespace

std::string uri_encode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '_' || c == '.' || c == '~';
    if (unreserved || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

Signed sign(const Request& request, const Credentials& credentials, std::string_view region, std::string_view service,
            std::chrono::system_clock::time_point now) {
  Signed out;
  std::string date_time = amz_date(now);
  std::string date = date_time.substr(0, 8);
  out.headers.emplace_back("X-Amz-Date", date_time);
  if (!credentials.session_token.empty()) {
    out.headers.emplace_back("X-Amz-Security-Token", credentials.session_token.reveal());
  }

  // Canonical headers: lower-case names, sorted; a repeated name's values joined by commas.
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& [name, value] : request.headers) headers.emplace_back(lower(name), canonical_value(value));
  for (const auto& [name, value] : out.headers) headers.emplace_back(lower(name), canonical_value(value));
  std::stable_sort(headers.begin(), headers.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string canonical_headers, signed_headers;
  for (std::size_t i = 0; i < headers.size(); ++i) {
    if (i > 0 && headers[i].first == headers[i - 1].first) {
      canonical_headers.back() = ',';  // replaces the previous line's '\n'
      canonical_headers += headers[i].second + "\n";
      continue;
    }
    canonical_headers += headers[i].first + ":" + headers[i].second + "\n";
    if (!signed_headers.empty()) signed_headers += ';';
    signed_headers += headers[i].first;
  }

  std::string path = request.path.empty() ? "/" : request.path;
  // Services other than S3 sign the path encoded once more than it is sent.
  out.canonical_request = request.method + "\n" + uri_encode(path, true) + "\n" + canonical_query(request.query) +
                          "\n" + canonical_headers + "\n" + signed_headers + "\n" + sha256_hex(request.body);
  std::string scope = date + "/" + std::string(region) + "/" + std::string(service) + "/aws4_request";
  out.string_to_sign =
      std::string(kAlgorithm) + "\n" + date_time + "\n" + scope + "\n" + sha256_hex(out.canonical_request);

  std::string key = hmac_sha256_bytes("AWS4" + credentials.secret_access_key.reveal(), date);
  key = hmac_sha256_bytes(key, region);
  key = hmac_sha256_bytes(key, service);
  key = hmac_sha256_bytes(key, "aws4_request");
  out.signature = hmac_sha256_hex(key, out.string_to_sign);
  OPENSSL_cleanse(key.data(), key.size());

  out.headers.emplace_back("Authorization", std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
                                                scope + ", SignedHeaders=" + signed_headers +
                                                ", Signature=" + out.signature);
  return out;
}

}  // namespace hermes::sigv4
