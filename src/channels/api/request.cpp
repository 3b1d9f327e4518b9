// The OpenAI chat request body (POST /v1/chat/completions), read from simdjson's DOM.
#include "src/channels/api/request.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "hermes/core/json_dom.hpp"

namespace hermes::channels::api {
namespace {

using simdjson::dom::element;
constexpr auto kOk = simdjson::SUCCESS;

ReplyError bad_request(std::string message) { return {Reason::bad_request, std::move(message), {}, {}}; }

// A field as the nlohmann DOM this replaces held it: present or not (null is present),
// and of a duplicate key the last.
using Field = std::optional<element>;

// OpenAI content is a string or a list of parts; only text parts reach a model.
std::optional<std::string> content_text(const Field& content) {
  std::string_view s;
  simdjson::dom::array parts;
  if (!content || content->is_null()) {
    return std::string();
  }
  if (content->get(s) == kOk) {
    return std::string(s);
  }
  if (content->get(parts) != kOk) {
    return std::nullopt;
  }
  std::string text;
  for (element part : parts) {
    simdjson::dom::object fields;
    if (part.get(fields) != kOk) {
      continue;
    }
    Field type;
    Field part_text;
    for (auto field : fields) {
      if (field.key == "type") {
        type = field.value;
      } else if (field.key == "text") {
        part_text = field.value;
      }
    }
    std::string_view type_name;
    if (type && type->get(type_name) != kOk) {
      return std::nullopt;  // a part whose 'type' is not a string: 400, like any bad content
    }
    if (type_name == "text" && part_text && part_text->get(s) == kOk) {
      if (!text.empty()) {
        text += "\n";
      }
      text += s;
    }
  }
  return text;
}

}  // namespace

std::optional<ReplyError> parse_body(std::string_view body, ParsedRequest& out) {
  element root;
  simdjson::dom::object fields;
  if (!parse_json(body, root)) {
    return bad_request("the request body is not a JSON object: " + json_error_position(body));
  }
  if (root.get(fields) != kOk) {
    return bad_request("the request body is not a JSON object");
  }
  Field messages, model, stream, stream_options, user, max_completion_tokens, max_tokens, temperature;
  for (auto field : fields) {
    std::string_view key = field.key;
    if (key == "messages") {
      messages = field.value;
    } else if (key == "model") {
      model = field.value;
    } else if (key == "stream") {
      stream = field.value;
    } else if (key == "stream_options") {
      stream_options = field.value;
    } else if (key == "user") {
      user = field.value;
    } else if (key == "max_completion_tokens") {
      max_completion_tokens = field.value;
    } else if (key == "max_tokens") {
      max_tokens = field.value;
    } else if (key == "temperature") {
      temperature = field.value;
    }
  }

  simdjson::dom::array list;
  if (!messages || messages->get(list) != kOk || list.begin() == list.end()) {
    return bad_request("'messages' must be a non-empty array");
  }
  std::vector<ChatTurn> turns;
  for (element m : list) {
    simdjson::dom::object message;
    Field role;
    Field content;
    if (m.get(message) == kOk) {
      for (auto field : message) {
        if (field.key == "role") {
          role = field.value;
        } else if (field.key == "content") {
          content = field.value;
        }
      }
    }
    std::string_view role_name;
    if (!role || role->get(role_name) != kOk) {
      return bad_request("every message needs a string 'role'");
    }
    auto text = content_text(content);
    if (!text) {
      return bad_request("message 'content' must be a string or a list of text parts");
    }
    turns.push_back({std::string(role_name), std::move(*text)});
  }
  auto last_user = std::find_if(turns.rbegin(), turns.rend(), [](const ChatTurn& t) { return t.role == "user"; });
  if (last_user == turns.rend()) {
    return bad_request("'messages' has no user message");
  }
  auto index = static_cast<std::size_t>(std::distance(turns.begin(), last_user.base()) - 1);
  auto& msg = out.message;
  msg.text = turns[index].content;
  msg.context.assign(turns.begin(), turns.begin() + static_cast<long>(index));

  std::string_view s;
  bool flag = false;
  if (model) {
    if (model->get(s) != kOk) {
      return bad_request("'model' must be a string");
    }
    msg.model = s;
  }
  if (stream && !stream->is_null()) {
    if (stream->get(flag) != kOk) {
      return bad_request("'stream' must be true or false");
    }
    out.stream = flag;
  }
  simdjson::dom::object options;
  if (stream_options && stream_options->get(options) == kOk) {
    Field usage;
    for (auto field : options) {
      if (field.key == "include_usage") {
        usage = field.value;
      }
    }
    flag = false;
    if (usage && !usage->is_null() && usage->get(flag) != kOk) {
      return bad_request("'stream_options.include_usage' must be true or false");
    }
    out.include_usage = flag;
  }
  if (user && user->get(s) == kOk) {
    msg.session_hint = s;
  }
  for (const Field* field : {&max_completion_tokens, &max_tokens}) {
    if (*field && !msg.max_tokens) {
      msg.max_tokens = json_integer(**field);
    }
  }
  if (msg.max_tokens && *msg.max_tokens <= 0) {
    return bad_request("'max_tokens' and 'max_completion_tokens' must be positive");
  }
  double number = 0;
  if (temperature && temperature->get(number) == kOk) {
    if (!(number >= 0 && number <= 2)) {
      return bad_request("'temperature' must be between 0 and 2");
    }
    msg.temperature = number;
  }
  return std::nullopt;
}

}  // namespace hermes::channels::api
