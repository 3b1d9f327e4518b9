#include "hermes/backends/echo.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <nlohmann/json.hpp>

#include <exception>
#include <stdexcept>

#include "hermes/config/reader.hpp"
#include "src/backends/coro.hpp"

namespace hermes::backends::echo {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

bool utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Code points, not bytes: the usage estimate should not punish non-ASCII text.
std::size_t characters(std::string_view text) {
  std::size_t n = 0;
  for (char c : text) {
    n += utf8_continuation(c) ? 0 : 1;
  }
  return n;
}

std::int64_t approximate_tokens(std::size_t chars) { return static_cast<std::int64_t>((chars + 3) / 4); }

// Up to `count` pieces of similar size, never splitting a UTF-8 sequence.
std::vector<std::string> split(const std::string& text, std::uint32_t count) {
  std::vector<std::string> pieces;
  std::size_t size = (text.size() + count - 1) / std::max<std::uint32_t>(count, 1);
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = std::min(text.size(), pos + std::max<std::size_t>(size, 1));
    while (end < text.size() && utf8_continuation(text[end])) {
      ++end;
    }
    pieces.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return pieces;
}

std::string last_user_message(const std::vector<ChatTurn>& messages) {
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if (it->role == "user") {
      return it->content;
    }
  }
  return {};
}

// The demo's tool loop, scripted: offered tools and not answered by a tool result yet,
// it calls the first tool with {"text": <the user's message>}; after a tool result it
// echoes that result. tool_choice "none" turns calling off.
struct ToolScript {
  std::optional<ToolCall> call;  // to make now
  std::string answer;            // else the text to answer
};

ToolScript script_tools(const CompletionRequest& request) {
  ToolScript out;
  const auto& last = request.messages.back();
  if (last.role == "tool") {
    out.answer = "[echo demo] agent=" + request.agent + " tool result: " + last.content;
    return out;
  }
  auto tools = nlohmann::json::parse(request.options().tools, nullptr, false);
  bool none = request.options().tool_choice == "\"none\"";
  if (!none && tools.is_array() && !tools.empty()) {
    ToolCall call;
    call.id = "call_echo_" + request.request_id.substr(0, 12);
    call.name = tools[0]["function"].value("name", "");
    call.arguments = nlohmann::json{{"text", last_user_message(request.messages)}}.dump();
    out.call = std::move(call);
  }
  return out;
}

class Backend final : public ValueCancellingBackend {
 public:
  explicit Backend(const Spec& spec) : chunks_(spec.chunks), delay_(spec.delay) {}

  BackendHealth health() const override { return {true, "built-in demo"}; }
  // A demo: tools are scripted (script_tools), content parts echoed as their text.
  std::string cannot_serve(const CompletionRequest& request) const override {
    return request.options().choices > 1 ? "this agent's model (echo) returns one choice ('n' must be 1)" : "";
  }

 private:
  asio::awaitable<Completion> run(CompletionRequest request, ReplyStream& reply) override;
  // Waits `delay_` (or until the deadline); false when the request must end.
  asio::awaitable<bool> pause(Clock::time_point deadline, Completion& out);

  std::uint32_t chunks_;
  Duration delay_;
};

asio::awaitable<bool> Backend::pause(Clock::time_point deadline, Completion& out) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  bool deadline_first = deadline - Clock::now() <= delay_;
  if (deadline_first) {
    timer.expires_at(deadline);
  } else {
    timer.expires_after(delay_);
  }
  auto [ec] = co_await timer.async_wait(kAsTuple);
  bool stop = co_await cancelled();
  if (ec || stop) {
    out.error = BackendErrorKind::cancelled;
    out.error_message = "cancelled";
    co_return false;
  }
  if (deadline_first) {
    out.error = BackendErrorKind::timeout;
    out.error_message = "the deadline passed while answering";
    co_return false;
  }
  co_return true;
}

asio::awaitable<Completion> Backend::run(CompletionRequest request, ReplyStream& reply) {
  auto started = Clock::now();
  Completion out;
  auto tools = script_tools(request);
  if (tools.call) {
    // Streamed as OpenAI does: id and name first, then the arguments in pieces.
    auto pieces = split(tools.call->arguments, chunks_);
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      ToolCallDelta delta;
      if (i == 0) {
        delta.id = tools.call->id;
        delta.name = tools.call->name;
      }
      delta.arguments = pieces[i];
      bool more = co_await reply.write_tool_call(delta);
      if (!out.streamed) {
        out.streamed = true;
        out.time_to_first_token = Clock::now() - started;
      }
      if (!more) {
        out.error = BackendErrorKind::cancelled;
        out.error_message = "the client went away";
        co_return out;
      }
    }
    out.ok = true;
    out.finish_reason = "tool_calls";
    out.usage.prompt_tokens = 1;
    out.usage.completion_tokens = approximate_tokens(characters(tools.call->arguments));
    out.tool_calls.push_back(std::move(*tools.call));
    co_return out;
  }
  std::string answer = !tools.answer.empty() ? tools.answer
                                             : "[echo demo] agent=" + request.agent + " rule=" + request.rule + ": " +
                                                   last_user_message(request.messages);
  auto pieces = split(answer, chunks_);
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    if (i > 0 && delay_.count() > 0) {
      bool go_on = co_await pause(request.deadline, out);
      if (!go_on) {
        co_return out;
      }
    }
    if (Clock::now() >= request.deadline) {
      out.error = BackendErrorKind::timeout;
      out.error_message = "the deadline passed while answering";
      co_return out;
    }
    bool more = co_await reply.write_delta(pieces[i]);
    if (!out.streamed) {
      out.streamed = true;
      out.time_to_first_token = Clock::now() - started;
    }
    bool stop = co_await cancelled();
    if (!more || stop) {
      out.error = BackendErrorKind::cancelled;
      out.error_message = "the client went away";
      co_return out;
    }
  }
  std::size_t prompt_chars = 0;
  for (const auto& turn : request.messages) {
    prompt_chars += characters(turn.content);
  }
  out.ok = true;
  out.finish_reason = "stop";
  out.usage.prompt_tokens = approximate_tokens(prompt_chars);
  out.usage.completion_tokens = approximate_tokens(characters(answer));
  co_return out;
}

}  // namespace

std::unique_ptr<config::ModelSpec> parse_spec(config::MapReader& r) {
  auto spec = std::make_unique<Spec>();
  if (auto chunks = r.optional<std::uint32_t>("chunks")) {
    if (*chunks == 0 || *chunks > 1000) {
      r.context().error(r.child("chunks"), r.path_of("chunks"), "chunks must be from 1 to 1000");
    } else {
      spec->chunks = *chunks;
    }
  }
  spec->delay = r.optional<Duration>("delay").value_or(spec->delay);
  return spec;
}

std::unique_ptr<ModelBackend> create(const config::ModelSpec& spec, BackendDeps&) {
  const auto* echo = dynamic_cast<const Spec*>(&spec);
  if (!echo) {
    throw std::logic_error("model " + spec.name + ": not an echo spec");
  }
  return std::make_unique<Backend>(*echo);
}

}  // namespace hermes::backends::echo
