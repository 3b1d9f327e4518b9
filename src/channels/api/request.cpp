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

// OpenAI content is a string or a list of parts. The text parts' text, joined, is the
// turn's text (what routing rules and chat channels read); a list with other parts
// (image_url, input_audio, file) is also kept whole, as JSON, for backends that take it.
bool read_content(const Field& content, ChatTurn& turn) {
  std::string_view s;
  simdjson::dom::array parts;
  if (!content || content->is_null()) {
    return true;
  }
  if (content->get(s) == kOk) {
    turn.content = s;
    return true;
  }
  if (content->get(parts) != kOk) {
    return false;
  }
  bool only_text = true;
  for (element part : parts) {
    simdjson::dom::object fields;
    if (part.get(fields) != kOk) {
      continue;  // lenient, as before content parts went to models: not a part, skipped
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
      return false;  // a part whose 'type' is not a string: 400, like any bad content
    }
    if (!type) continue;  // untyped: skipped
    if (type_name != "text") {
      only_text = false;
      continue;
    }
    if (!part_text || part_text->get(s) != kOk) continue;
    if (!turn.content.empty()) turn.content += "\n";
    turn.content += s;
  }
  if (!only_text) turn.parts = simdjson::minify(*content);
  return true;
}

std::optional<std::string> read_tool_calls(element value, std::vector<ToolCall>& out) {
  simdjson::dom::array calls;
  if (value.is_null()) return std::nullopt;
  if (value.get(calls) != kOk) return "'tool_calls' must be an array";
  for (element c : calls) {
    ToolCall call;
    std::string_view s;
    simdjson::dom::element function;
    if (c["id"].get(s) != kOk) return "every tool call needs a string 'id'";
    call.id = s;
    if (c["function"].get(function) != kOk || function["name"].get(s) != kOk) {
      return "every tool call needs 'function.name'";
    }
    call.name = s;
    if (function["arguments"].get(s) != kOk) return "a tool call's 'function.arguments' must be a string of JSON";
    call.arguments = s;
    out.push_back(std::move(call));
  }
  return std::nullopt;
}

std::optional<std::string> read_turn(element m, ChatTurn& turn) {
  simdjson::dom::object message;
  Field role;
  Field content;
  Field tool_calls;
  Field tool_call_id;
  if (m.get(message) == kOk) {
    for (auto field : message) {
      if (field.key == "role") {
        role = field.value;
      } else if (field.key == "content") {
        content = field.value;
      } else if (field.key == "tool_calls") {
        tool_calls = field.value;
      } else if (field.key == "tool_call_id") {
        tool_call_id = field.value;
      }
    }
  }
  std::string_view s;
  if (!role || role->get(s) != kOk) {
    return "every message needs a string 'role'";
  }
  turn.role = s;
  if (!read_content(content, turn)) {
    return "message 'content' must be a string or a list of content parts";
  }
  if (tool_calls) {
    if (turn.role != "assistant") return "only assistant messages have 'tool_calls'";
    if (auto error = read_tool_calls(*tool_calls, turn.tool_calls)) return error;
  }
  if (turn.role == "tool") {
    if (!tool_call_id || tool_call_id->get(s) != kOk) return "a 'tool' message needs a string 'tool_call_id'";
    turn.tool_call_id = s;
  }
  return std::nullopt;
}

// The request fields passed on to the model (docs/api.md, "Passed to the model").
std::optional<std::string> read_option(std::string_view key, element value, ModelOptions& o, bool& known) {
  known = true;
  std::string_view s;
  double number = 0;
  bool flag = false;
  auto json_text = [&] { return simdjson::minify(value); };
  auto in_range = [&](std::optional<double>& into, double low, double high) -> std::optional<std::string> {
    if (value.get(number) != kOk || number < low || number > high) {
      return "'" + std::string(key) + "' must be a number from " + std::to_string(static_cast<int>(low)) + " to " +
             std::to_string(static_cast<int>(high));
    }
    into = number;
    return std::nullopt;
  };
  if (value.is_null()) return std::nullopt;  // null: as if not given
  if (key == "tools") {
    simdjson::dom::array tools;
    if (value.get(tools) != kOk) return "'tools' must be an array";
    for (element tool : tools) {
      if (tool["type"].get(s) != kOk || s != "function" || tool["function"]["name"].get(s) != kOk) {
        return "every tool needs \"type\": \"function\" and 'function.name'";
      }
    }
    o.tools = json_text();
  } else if (key == "tool_choice") {
    if (value.get(s) == kOk ? (s != "auto" && s != "none" && s != "required") : !value.is_object()) {
      return "'tool_choice' must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", ...}";
    }
    o.tool_choice = json_text();
  } else if (key == "response_format") {
    if (value["type"].get(s) != kOk || (s != "text" && s != "json_object" && s != "json_schema")) {
      return "'response_format.type' must be \"text\", \"json_object\" or \"json_schema\"";
    }
    if (s != "text") o.response_format = json_text();
  } else if (key == "stop") {
    bool strings = value.get(s) == kOk;
    simdjson::dom::array list;
    if (!strings && value.get(list) == kOk) {
      strings = true;
      for (element e : list) strings = strings && e.is_string();
    }
    if (!strings) return "'stop' must be a string or an array of strings";
    o.stop = json_text();
  } else if (key == "parallel_tool_calls" || key == "logprobs") {
    if (value.get(flag) != kOk) return "'" + std::string(key) + "' must be true or false";
    (key == "logprobs" ? o.logprobs : o.parallel_tool_calls) = flag;
  } else if (key == "seed" || key == "top_logprobs" || key == "n") {
    auto n = json_integer(value);
    if (!n) return "'" + std::string(key) + "' must be an integer";
    if (key == "n" && (*n < 1 || *n > kMaxChoices)) return "'n' must be from 1 to " + std::to_string(kMaxChoices);
    if (key == "top_logprobs" && (*n < 0 || *n > 20)) return "'top_logprobs' must be from 0 to 20";
    if (key == "seed") o.seed = *n;
    if (key == "top_logprobs") o.top_logprobs = *n;
    if (key == "n") o.choices = *n;
  } else if (key == "frequency_penalty") {
    return in_range(o.frequency_penalty, -2, 2);
  } else if (key == "presence_penalty") {
    return in_range(o.presence_penalty, -2, 2);
  } else if (key == "top_p") {
    return in_range(o.top_p, 0, 1);
  } else {
    known = false;
  }
  return std::nullopt;
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
  auto& msg = out.message;
  ModelOptions model_options;
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
    } else {
      bool known = false;
      if (auto error = read_option(key, field.value, model_options, known)) return bad_request(std::move(*error));
      // Anything else reaches the model only where the agent lists it in `passthrough:`.
      if (!known) model_options.passthrough.emplace_back(std::string(key), simdjson::minify(field.value));
    }
  }
  if (model_options != kNoModelOptions) {
    msg.model_options = std::make_shared<const ModelOptions>(std::move(model_options));
  }

  simdjson::dom::array list;
  if (!messages || messages->get(list) != kOk || list.begin() == list.end()) {
    return bad_request("'messages' must be a non-empty array");
  }
  std::vector<ChatTurn> turns;
  for (element m : list) {
    ChatTurn turn;
    if (auto error = read_turn(m, turn)) return bad_request(std::move(*error));
    turns.push_back(std::move(turn));
  }
  auto last_user = std::find_if(turns.rbegin(), turns.rend(), [](const ChatTurn& t) { return t.role == "user"; });
  if (last_user == turns.rend()) {
    return bad_request("'messages' has no user message");
  }
  auto index = static_cast<std::size_t>(std::distance(turns.begin(), last_user.base()) - 1);
  msg.text = std::move(turns[index].content);
  msg.text_parts = std::move(turns[index].parts);
  msg.context.assign(std::make_move_iterator(turns.begin()), std::make_move_iterator(turns.begin() + static_cast<long>(index)));
  msg.followups.assign(std::make_move_iterator(turns.begin() + static_cast<long>(index) + 1),
                       std::make_move_iterator(turns.end()));

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
