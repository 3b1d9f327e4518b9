#include "hermes/core/message.hpp"

#include <openssl/rand.h>

#include "hermes/core/backend.hpp"

namespace hermes {

std::string generate_request_id() {
  unsigned char bytes[16];
  RAND_bytes(bytes, sizeof bytes);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(32);
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

std::string sanitize_request_id(std::string_view supplied) {
  if (supplied.empty() || supplied.size() > 128) return {};
  for (char c : supplied) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return {};
  }
  return std::string(supplied);
}

std::string_view reason_code(Reason r) {
  switch (r) {
    case Reason::none: return "ok";
    case Reason::bad_request: return "bad_request";
    case Reason::unauthorized: return "unauthorized";
    case Reason::not_allowed: return "not_allowed";
    case Reason::model_not_found: return "model_not_found";
    case Reason::no_route: return "no_route";
    case Reason::rejected_by_rule: return "rejected_by_rule";
    case Reason::rate_limited: return "rate_limited";
    case Reason::duplicate: return "duplicate";
    case Reason::overloaded: return "overloaded";
    case Reason::backend_error: return "backend_error";
    case Reason::timeout: return "timeout";
    case Reason::cancelled: return "cancelled";
  }
  return "unknown";
}

int http_status(Reason r) {
  switch (r) {
    case Reason::none: return 200;
    case Reason::bad_request: return 400;
    case Reason::unauthorized: return 401;
    case Reason::not_allowed: return 403;
    case Reason::rejected_by_rule: return 403;
    case Reason::model_not_found: return 404;
    case Reason::no_route: return 404;
    case Reason::rate_limited: return 429;
    case Reason::duplicate: return 409;
    case Reason::overloaded: return 503;
    case Reason::backend_error: return 502;
    case Reason::timeout: return 504;
    case Reason::cancelled: return 499;
  }
  return 500;
}

std::string_view backend_error_name(BackendErrorKind k) {
  switch (k) {
    case BackendErrorKind::none: return "none";
    case BackendErrorKind::connect: return "connect";
    case BackendErrorKind::timeout: return "timeout";
    case BackendErrorKind::http_status: return "http_status";
    case BackendErrorKind::protocol: return "protocol";
    case BackendErrorKind::rate_limited: return "rate_limited";
    case BackendErrorKind::cancelled: return "cancelled";
    case BackendErrorKind::circuit_open: return "circuit_open";
    case BackendErrorKind::busy: return "busy";
  }
  return "unknown";
}

}  // namespace hermes
