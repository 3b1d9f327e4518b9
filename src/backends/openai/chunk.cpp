#include "src/backends/openai/chunk.hpp"

#include <nlohmann/json.hpp>

#include <vector>

namespace hermes::backends::openai {
namespace {

using json = nlohmann::json;

// Walks the events keeping only the container path, and picks out the few fields a chunk carries.
class ChunkReader final : public nlohmann::json_sax<json> {
 public:
  explicit ChunkReader(ChunkFields& out) : out_(out) {}

  bool null() override {
    value();
    return true;
  }
  bool boolean(bool) override {
    value();
    scalar_error();
    return true;
  }
  bool number_integer(number_integer_t v) override { return integer(v); }
  bool number_unsigned(number_unsigned_t v) override { return integer(static_cast<std::int64_t>(v)); }
  bool number_float(number_float_t, const string_t&) override {
    value();
    scalar_error();
    return true;
  }
  bool string(string_t& s) override {
    value();
    if ((in_choice0_field(3, "delta") || in_choice0_field(3, "message")) && key_is(3, "content")) {
      out_.content = std::move(s);
    } else if (in_choice0() && key_is(2, "finish_reason")) {
      out_.finish_reason = std::move(s);
    } else if (frames_.size() == 1 && key_is(0, "error")) {
      out_.has_error = true;
      out_.error_message = std::move(s);
    } else if (frames_.size() == 2 && key_is(0, "error") && key_is(1, "message")) {
      out_.error_message = std::move(s);
    }
    return true;
  }
  bool binary(binary_t&) override {
    value();
    return true;
  }
  bool start_object(std::size_t) override {
    value();
    if (frames_.size() == 1 && key_is(0, "error")) out_.has_error = true;
    if (frames_.size() == 2 && key_is(0, "choices") && frames_[1].array && frames_[1].index == 0) {
      out_.has_choice = true;
    }
    frames_.push_back({});
    return true;
  }
  bool key(string_t& k) override {
    frames_.back().key = std::move(k);
    return true;
  }
  bool end_object() override {
    frames_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    value();
    frames_.push_back({true});
    return true;
  }
  bool end_array() override {
    frames_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  struct Frame {
    bool array = false;
    std::size_t next = 0;   // arrays: index of the next element
    std::size_t index = 0;  // arrays: index of the current element
    std::string key;        // objects: the current key
  };

  // Every value (scalar or container) starts here: arrays count their elements.
  void value() {
    if (!frames_.empty() && frames_.back().array) frames_.back().index = frames_.back().next++;
  }
  // "error": 42 or true is an error without a message (null is no error).
  void scalar_error() {
    if (frames_.size() == 1 && key_is(0, "error")) out_.has_error = true;
  }
  bool integer(std::int64_t v) {
    value();
    scalar_error();
    if (frames_.size() == 2 && key_is(0, "usage")) {
      if (key_is(1, "prompt_tokens")) out_.prompt_tokens = v;
      if (key_is(1, "completion_tokens")) out_.completion_tokens = v;
    }
    return true;
  }
  bool key_is(std::size_t depth, std::string_view k) const {
    return depth < frames_.size() && !frames_[depth].array && frames_[depth].key == k;
  }
  // Inside choices[0] (the choice object itself is frames_[2]).
  bool in_choice0() const {
    return frames_.size() == 3 && key_is(0, "choices") && frames_[1].array && frames_[1].index == 0;
  }
  // Inside an object held by choices[0] under `field` (that object is frames_[depth]).
  bool in_choice0_field(std::size_t depth, std::string_view field) const {
    return frames_.size() == depth + 1 && key_is(0, "choices") && frames_[1].array && frames_[1].index == 0 &&
           key_is(2, field);
  }

  ChunkFields& out_;
  std::vector<Frame> frames_;
};

}  // namespace

bool read_chunk(std::string_view data, ChunkFields& out) {
  // A chunk is an object: cheaper to check the first byte than to track it in the reader.
  auto first = data.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || data[first] != '{') return false;
  ChunkReader reader(out);
  return json::sax_parse(data, &reader, json::input_format_t::json, true);
}

}  // namespace hermes::backends::openai
