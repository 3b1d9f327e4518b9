#pragma once
// What every channel hands the pipeline: one normalized inbound message.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hermes/core/ip.hpp"

namespace hermes {

// A function call the model asked for (OpenAI `tool_calls[]`, Anthropic `tool_use`).
struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // JSON text as the model wrote it (not necessarily valid JSON)
  friend bool operator==(const ToolCall&, const ToolCall&) = default;
};

class JsonWriter;

// `"tool_calls": [{"id", "type": "function", "function": {"name", "arguments"}}]`, as
// OpenAI writes an assistant message's calls (the API's answers, the openai backend's
// requests); nothing when `calls` is empty.
void write_openai_tool_calls(JsonWriter& w, const std::vector<ToolCall>& calls);

struct ChatTurn {
  std::string role;     // "system" | "user" | "assistant" | "tool"
  std::string content;  // the text (of a list of parts: the text parts, joined by "\n")
  // A content list with more than text (image_url, input_audio, file...): the list as
  // the client sent it, JSON text, for backends that take it. Empty: `content` is all.
  std::string parts;
  std::vector<ToolCall> tool_calls;  // assistant turns that call tools
  std::string tool_call_id;          // role "tool": the call this answers
  friend bool operator==(const ChatTurn&, const ChatTurn&) = default;
};

// Request fields passed on to the model as the client gave them (docs/api.md lists them).
// JSON values are kept as JSON text; empty / nullopt: not given.
// The most answers one request may ask for (`n`, an agent's `max_choices`): each one
// is generated, relayed and, on a buffered answer, held until the end.
inline constexpr std::int64_t kMaxChoices = 16;

struct ModelOptions {
  std::string tools;            // array of {"type":"function","function":{name,description,parameters}}
  std::string tool_choice;      // "auto" | "none" | "required" | {"type":"function","function":{"name"}}
  std::string response_format;  // {"type":"json_object"} | {"type":"json_schema",...} | {"type":"text"}
  std::string stop;             // a string or an array of strings
  std::optional<bool> parallel_tool_calls;
  std::optional<std::int64_t> seed;
  std::optional<double> frequency_penalty;
  std::optional<double> presence_penalty;
  std::optional<double> top_p;
  std::optional<bool> logprobs;
  std::optional<std::int64_t> top_logprobs;
  // `n`: answers wanted. Above 1 only where the agent's `max_choices` allows it; choice 0
  // is the answer (sessions, the audit's text), the others reach the client only.
  std::int64_t choices = 1;
  // Fields an agent opted in to with `passthrough:` (name, JSON text), sent as they came.
  std::vector<std::pair<std::string, std::string>> passthrough;
  friend bool operator==(const ModelOptions&, const ModelOptions&) = default;
};
inline const ModelOptions kNoModelOptions{};

struct InboundMessage {
  std::string request_id;   // X-Request-Id or generated; in every log line, audit row, upstream call
  std::string traceparent;  // W3C trace context, passed on upstream when present
  std::string channel;      // the channel's configured name
  std::string channel_type; // "api", "slack", "webchat", ...
  std::string account;      // workspace / phone number id / listener; part of the session key
  std::string conversation; // DM / channel / chat id
  std::string thread;       // thread within the conversation, if any
  std::string sender;       // user id, or the API key's name
  std::string recipient;    // bot id / address written to
  bool group = false;       // group conversation: sessions are per sender
  std::string text;         // the new user message
  std::vector<ChatTurn> context;  // client-supplied turns before `text` (the API sends whole histories)
  // Client-supplied turns after the user's (an agent's tool loop: the assistant's tool
  // calls and the `tool` results), sent to the model after `text`.
  std::vector<ChatTurn> followups;
  std::string text_parts;   // the user turn's content list when it has more than text (ChatTurn::parts)
  // Null for the common message that sets none: a message is moved several times on its
  // way, and the options' strings made every move cost (docs/performance.md).
  std::shared_ptr<const ModelOptions> model_options;
  const ModelOptions& options() const { return model_options ? *model_options : kNoModelOptions; }
  std::string model;        // API: requested model ("" or "auto": route by rules)
  std::string event_id;     // async channels: the upstream event id, for dedup
  // Async channels: what the channel needs to send the answer and the pipeline does not
  // read (email: the reply address, subject and References), carried to the outbox entry.
  std::string delivery_context;
  std::string session_hint; // API: `user` or X-Hermes-Session
  std::string api_key;      // the name of the key that authenticated (never the key)
  std::vector<std::string> allowed_agents;  // the key's scope; empty: any
  // Set by a channel that could not read the request (the reason, for the client): the
  // pipeline charges it to the sender's limits, then refuses it as bad_request.
  std::string invalid;
  std::optional<std::int64_t> max_tokens;
  std::optional<double> temperature;
  IpAddress client;
  std::chrono::system_clock::time_point received_at = std::chrono::system_clock::now();
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

// A fresh request id, 32 hex characters: 48 bits of Unix milliseconds (so ids sort by
// time), then 80 random bits. Unique, not unpredictable: a fast per-thread generator
// seeded from the CSPRNG. Never use one as a secret.
std::string generate_request_id();
// Session ids: 48 bits of Unix milliseconds, then 64 random bits from the same
// generator, as 28 hex characters; they sort by creation time.
std::string generate_session_id();
// 128 bits from the CSPRNG as 32 hex characters: for session tokens and other secrets.
std::string generate_secret_token();
// A request id a client supplied, if safe to echo (printable, short); else empty.
std::string sanitize_request_id(std::string_view supplied);

}  // namespace hermes
