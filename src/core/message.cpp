#include "hermes/core/message.hpp"

#include <openssl/rand.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <stdexcept>

#include "hermes/core/backend.hpp"
#include "hermes/core/digest.hpp"
#include "hermes/core/json_writer.hpp"

namespace hermes {

namespace {

// Request ids must be unique, not secret (they are echoed in X-Request-Id and logs):
// a per-thread generator seeded from the OS CSPRNG is enough, and RAND_bytes per
// request (locks, a DRBG round) showed in the profile. Tokens use RAND_bytes.
std::mt19937_64& id_generator() {
  thread_local std::mt19937_64 generator = [] {
    std::uint64_t seed[2] = {0, 0};
    if (RAND_bytes(reinterpret_cast<unsigned char*>(seed), sizeof seed) != 1) {
      seed[0] = std::random_device{}();
      seed[1] = std::random_device{}();
    }
    std::seed_seq sequence{seed[0], seed[0] >> 32, seed[1], seed[1] >> 32};
    return std::mt19937_64(sequence);
  }();
  return generator;
}

}  // namespace

std::string generate_secret_token() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("OpenSSL: RAND_bytes failed");
  return hex_encode(bytes, sizeof bytes);
}

namespace {

void append_hex(std::string& out, std::uint64_t bits, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) out.push_back(kHex[(bits >> (4 * i)) & 0xf]);
}

}  // namespace

std::string generate_request_id() {
  // 48 bits of Unix milliseconds, then 80 random bits. Ids sort by time, so the audit
  // log's request_id index grows at its end: random ids put each insert on a random
  // page of an index larger than SQLite's cache (a read and a WAL write per row).
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch()).count();
  auto& generator = id_generator();
  std::string out;
  out.reserve(32);
  append_hex(out, static_cast<std::uint64_t>(ms), 12);
  append_hex(out, generator(), 16);
  append_hex(out, generator(), 4);
  return out;
}

std::string generate_session_id() {
  // Time-led like request ids, for the same reason: the audit log's session_id index.
  // Random session ids put each message's row on a random page of that index.
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch()).count();
  std::string out;
  out.reserve(28);
  append_hex(out, static_cast<std::uint64_t>(ms), 12);
  append_hex(out, id_generator()(), 16);
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

boost::asio::awaitable<bool> ReplyStream::write_tool_call(const ToolCallDelta&) { co_return true; }
boost::asio::awaitable<bool> ReplyStream::write_choice(const ChoiceDelta&) { co_return true; }

void write_openai_tool_calls(JsonWriter& w, const std::vector<ToolCall>& calls) {
  if (calls.empty()) return;
  w.key("tool_calls").begin_array();
  for (const auto& c : calls) {
    w.begin_object().key("id").value(c.id).key("type").value("function");
    w.key("function").begin_object().key("name").value(c.name).key("arguments").value(c.arguments).end_object();
    w.end_object();
  }
  w.end_array();
}

bool add_tool_call_delta(std::vector<ToolCall>& calls, const ToolCallDelta& delta) {
  if (delta.index < 0 || static_cast<std::size_t>(delta.index) >= kMaxToolCalls) return false;
  auto index = static_cast<std::size_t>(delta.index);
  if (calls.size() <= index) calls.resize(index + 1);
  auto& call = calls[index];
  if (call.arguments.size() + delta.arguments.size() > kMaxToolArguments) return false;
  if (!delta.id.empty()) call.id = delta.id;
  if (!delta.name.empty()) call.name = delta.name;
  call.arguments += delta.arguments;
  return true;
}

std::string structured_features(const CompletionRequest& request) {
  std::vector<std::string> used;
  if (!request.options().tools.empty() || !request.options().tool_choice.empty()) used.emplace_back("tools");
  bool tool_turns = false;
  bool parts = false;
  for (const auto& t : request.messages) {
    tool_turns = tool_turns || !t.tool_calls.empty() || t.role == "tool";
    parts = parts || !t.parts.empty();
  }
  if (tool_turns) used.emplace_back("tool calls in the conversation");
  if (parts) used.emplace_back("content parts other than text (images, audio, files)");
  if (!request.options().response_format.empty()) used.emplace_back("response_format");
  if (request.options().choices > 1) used.emplace_back("several choices ('n')");
  std::string out;
  for (const auto& u : used) out += (out.empty() ? "" : ", ") + u;
  return out;
}

std::string ModelBackend::cannot_serve(const CompletionRequest& request) const {
  auto used = structured_features(request);
  return used.empty() ? std::string() : "this agent's model does not take " + used;
}

}  // namespace hermes
