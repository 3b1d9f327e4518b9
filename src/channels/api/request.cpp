// The OpenAI chat request body (POST /v1/chat/completions).
#include "src/channels/api/request.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hermes::channels::api {
namespace {

ReplyError bad_request(std::string message) { return {Reason::bad_request, std::move(message), {}, {}}; }

// OpenAI content is a string or a list of parts; only text parts reach a model.
std::optional<std::string> content_text(const nlohmann::json& content) {
  if (content.is_string()) return content.get<std::string>();
  if (content.is_null()) return std::string();
  if (!content.is_array()) return std::nullopt;
  std::string text;
  for (const auto& part : content) {
    if (part.is_object() && part.value("type", "") == "text" && part.contains("text") && part["text"].is_string()) {
      if (!text.empty()) text += "\n";
      text += part["text"].get<std::string>();
    }
  }
  return text;
}

}  // namespace

std::optional<ReplyError> parse_body(std::string_view body, ParsedRequest& out) {
  auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return bad_request("the request body is not a JSON object");
  const auto& messages = json.contains("messages") ? json["messages"] : nlohmann::json();
  if (!messages.is_array() || messages.empty()) return bad_request("'messages' must be a non-empty array");
  std::vector<ChatTurn> turns;
  for (const auto& m : messages) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return bad_request("every message needs a string 'role'");
    }
    auto text = content_text(m.contains("content") ? m["content"] : nlohmann::json());
    if (!text) return bad_request("message 'content' must be a string or a list of text parts");
    turns.push_back({m["role"].get<std::string>(), std::move(*text)});
  }
  auto last_user = std::find_if(turns.rbegin(), turns.rend(), [](const ChatTurn& t) { return t.role == "user"; });
  if (last_user == turns.rend()) return bad_request("'messages' has no user message");
  auto index = static_cast<std::size_t>(std::distance(turns.begin(), last_user.base()) - 1);
  auto& msg = out.message;
  msg.text = turns[index].content;
  msg.context.assign(turns.begin(), turns.begin() + static_cast<long>(index));
  if (json.contains("model")) {
    if (!json["model"].is_string()) return bad_request("'model' must be a string");
    msg.model = json["model"].get<std::string>();
  }
  if (json.contains("stream") && !json["stream"].is_null()) {
    if (!json["stream"].is_boolean()) return bad_request("'stream' must be true or false");
    out.stream = json["stream"].get<bool>();
  }
  if (json.contains("stream_options") && json["stream_options"].is_object()) {
    const auto& usage = json["stream_options"].contains("include_usage") ? json["stream_options"]["include_usage"]
                                                                        : nlohmann::json();
    if (!usage.is_null() && !usage.is_boolean()) return bad_request("'stream_options.include_usage' must be true or false");
    out.include_usage = usage.is_boolean() && usage.get<bool>();
  }
  if (json.contains("user") && json["user"].is_string()) msg.session_hint = json["user"].get<std::string>();
  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    if (json.contains(key) && json[key].is_number_integer() && !msg.max_tokens) {
      msg.max_tokens = json[key].get<std::int64_t>();
    }
  }
  if (json.contains("temperature") && json["temperature"].is_number()) {
    msg.temperature = json["temperature"].get<double>();
  }
  return std::nullopt;
}

}  // namespace hermes::channels::api
