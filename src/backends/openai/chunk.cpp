#include "src/backends/openai/chunk.hpp"

#include "hermes/core/json_dom.hpp"

namespace hermes::backends::openai {
namespace {

using simdjson::dom::element;

// Fields are read in document order, a duplicate key each time it appears, as the
// SAX reader this replaces did: a later value of a field replaces an earlier one.

// tool_calls[]: {"index"?, "id"?, "type"?, "function": {"name"?, "arguments"?}}. A
// missing index (whole answers) is the call's position.
void read_tool_calls(element value, std::vector<ToolCallDelta>& out) {
  simdjson::dom::array calls;
  if (value.get(calls) != simdjson::SUCCESS) return;
  int position = 0;
  for (element call : calls) {
    ToolCallDelta delta;
    delta.index = position++;
    std::string_view text;
    if (auto index = call["index"]; !index.error()) {
      if (auto n = json_integer(index.value()); n && *n >= 0 && *n < 1024) delta.index = static_cast<int>(*n);
    }
    if (call["id"].get(text) == simdjson::SUCCESS) delta.id = text;
    element function;
    if (call["function"].get(function) == simdjson::SUCCESS) {
      if (function["name"].get(text) == simdjson::SUCCESS) delta.name = text;
      if (function["arguments"].get(text) == simdjson::SUCCESS) delta.arguments = text;
    }
    out.push_back(std::move(delta));
  }
}

// A choice's delta (a chunk) or message (an answer): content and tool calls.
void read_content(element body, std::string& content, std::vector<ToolCallDelta>& tool_calls) {
  simdjson::dom::object fields;
  if (body.get(fields) != simdjson::SUCCESS) {
    return;
  }
  for (auto field : fields) {
    std::string_view text;
    if (field.key == "content" && field.value.get(text) == simdjson::SUCCESS) {
      content = text;
    } else if (field.key == "tool_calls") {
      tool_calls.clear();
      read_tool_calls(field.value, tool_calls);
    }
  }
}

// The choice's "index" when it has a sane one, else its position in the array.
int choice_index(simdjson::dom::object choice, int position) {
  element index;
  if (choice["index"].get(index) != simdjson::SUCCESS) return position;
  auto n = json_integer(index);
  return n && *n >= 0 && *n < 1024 ? static_cast<int>(*n) : position;
}

void read_choice(simdjson::dom::object choice, std::string& content, std::vector<ToolCallDelta>& tool_calls,
                 std::string& finish_reason) {
  for (auto field : choice) {
    std::string_view text;
    if (field.key == "delta" || field.key == "message") {
      read_content(field.value, content, tool_calls);
    } else if (field.key == "finish_reason" && field.value.get(text) == simdjson::SUCCESS) {
      finish_reason = text;
    }
  }
}

void read_choices(element value, ChunkFields& out) {
  simdjson::dom::array choices;
  if (value.get(choices) != simdjson::SUCCESS) return;
  int position = 0;
  for (element item : choices) {
    simdjson::dom::object choice;
    if (item.get(choice) != simdjson::SUCCESS) {
      ++position;
      continue;
    }
    out.has_choice = true;
    int index = choice_index(choice, position++);
    if (index == 0) {
      read_choice(choice, out.content, out.tool_calls, out.finish_reason);
    } else {
      auto& other = out.other_choices.emplace_back();
      other.index = index;
      read_choice(choice, other.content, other.tool_calls, other.finish_reason);
    }
  }
}

// Any non-null "error" but an array is an error; its message is the string itself or
// error.message.
void read_error(element value, ChunkFields& out) {
  std::string_view text;
  simdjson::dom::object fields;
  if (value.get(text) == simdjson::SUCCESS) {
    out.has_error = true;
    out.error_message = text;
  } else if (value.get(fields) == simdjson::SUCCESS) {
    out.has_error = true;
    for (auto field : fields) {
      if (field.key == "message" && field.value.get(text) == simdjson::SUCCESS) {
        out.error_message = text;
      }
    }
  } else if (!value.is_null() && !value.is_array()) {
    out.has_error = true;
  }
}

void read_usage(element value, ChunkFields& out) {
  simdjson::dom::object fields;
  if (value.get(fields) != simdjson::SUCCESS) {
    return;
  }
  for (auto field : fields) {
    // Token counts are integers: 12.0 does not count.
    std::optional<std::int64_t> n;
    if (field.key == "prompt_tokens" && (n = json_integer(field.value))) {
      out.prompt_tokens = n;
    } else if (field.key == "completion_tokens" && (n = json_integer(field.value))) {
      out.completion_tokens = n;
    } else if (field.key == "prompt_tokens_details") {
      element cached;
      if (field.value["cached_tokens"].get(cached) == simdjson::SUCCESS && (n = json_integer(cached))) {
        out.cached_tokens = n;
      }
    }
  }
}

}  // namespace

bool read_chunk(std::string_view data, ChunkFields& out) {
  // A chunk is an object: cheaper to check the first byte than to parse the rest of
  // anything else.
  auto first = data.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || data[first] != '{') {
    return false;
  }
  element root;
  simdjson::dom::object fields;
  if (!parse_json(data, root) || root.get(fields) != simdjson::SUCCESS) {
    return false;
  }
  for (auto field : fields) {
    if (field.key == "choices") {
      read_choices(field.value, out);
    } else if (field.key == "error") {
      read_error(field.value, out);
    } else if (field.key == "usage") {
      read_usage(field.value, out);
    }
  }
  return true;
}

}  // namespace hermes::backends::openai
