#include "hermes/net/sse.hpp"

#include <algorithm>

namespace hermes::net {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

SseStatus SseParser::feed(std::string_view bytes, std::vector<SseEvent>& out) {
  if (status_ != SseStatus::ok) {
    return status_;
  }
  if (at_start_) {
    // A BOM may itself be split across pieces: hold the first bytes until it
    // is clear whether they are one.
    while (!bytes.empty() && bom_partial_.size() < kBom.size() && kBom.starts_with(bom_partial_)) {
      bom_partial_ += bytes.front();
      bytes.remove_prefix(1);
    }
    if (bom_partial_ == kBom) {
      at_start_ = false;
      bom_partial_.clear();
    } else if (kBom.starts_with(bom_partial_)) {
      return status_;  // still a possible BOM: wait for more
    } else {
      at_start_ = false;
      std::string held = std::move(bom_partial_);
      bom_partial_.clear();
      consume(held, out);
    }
  }
  consume(bytes, out);
  return status_;
}

void SseParser::consume(std::string_view bytes, std::vector<SseEvent>& out) {
  while (!bytes.empty() && status_ == SseStatus::ok) {
    if (skip_lf_) {
      skip_lf_ = false;
      if (bytes.front() == '\n') {
        bytes.remove_prefix(1);
        continue;
      }
    }
    auto end = bytes.find_first_of("\r\n");
    std::size_t length = end == std::string_view::npos ? bytes.size() : end;
    if (line_.size() + length > limit_) {
      status_ = SseStatus::line_too_long;
      return;
    }
    if (end == std::string_view::npos) {
      line_.append(bytes);
      return;
    }
    if (line_.empty()) {
      process_line(bytes.substr(0, end), out);
    } else {
      line_.append(bytes.substr(0, end));
      process_line(line_, out);
      line_.clear();
    }
    // A "\r" may be the first half of a "\r\n" that the next piece completes.
    skip_lf_ = bytes[end] == '\r';
    bytes.remove_prefix(end + 1);
  }
}

void SseParser::process_line(std::string_view line, std::vector<SseEvent>& out) {
  if (line.empty()) {
    dispatch(out);
    return;
  }
  if (line.front() == ':') {
    return;  // a comment (keep-alive pings look like this)
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) {
    process_field(line, {});
    return;
  }
  std::string_view value = line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') {
    value.remove_prefix(1);
  }
  process_field(line.substr(0, colon), value);
}

void SseParser::process_field(std::string_view field, std::string_view value) {
  if (field == "event") {
    type_.assign(value);
  } else if (field == "data") {
    if (data_.size() + value.size() + 1 > limit_) {
      status_ = SseStatus::event_too_large;
      return;
    }
    data_.append(value);
    data_.push_back('\n');
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) {
      last_id_.assign(value);
    }
  } else if (field == "retry") {
    // At most 18 digits so the value cannot overflow; longer ones are ignored like invalid ones.
    if (all_digits(value) && value.size() <= 18) {
      retry_ = std::stoll(std::string(value));
    }
  }
  // Any other field is ignored, as the spec requires.
}

void SseParser::dispatch(std::vector<SseEvent>& out) {
  if (data_.empty()) {
    type_.clear();
    return;
  }
  data_.pop_back();  // the "\n" after the last data line
  SseEvent event;
  event.type = type_.empty() ? "message" : std::move(type_);
  event.data = std::move(data_);
  event.id = last_id_;
  out.push_back(std::move(event));
  data_.clear();
  type_.clear();
}

std::optional<SseEvent> SseParser::finish() {
  if (status_ != SseStatus::ok) {
    return std::nullopt;
  }
  std::vector<SseEvent> out;
  if (at_start_ && !bom_partial_.empty()) {
    at_start_ = false;
    std::string held = std::move(bom_partial_);
    bom_partial_.clear();
    consume(held, out);
  }
  if (!line_.empty()) {
    std::string last = std::move(line_);
    line_.clear();
    process_line(last, out);
  }
  dispatch(out);
  skip_lf_ = false;
  if (out.empty()) {
    return std::nullopt;
  }
  return std::move(out.back());
}

}  // namespace hermes::net
