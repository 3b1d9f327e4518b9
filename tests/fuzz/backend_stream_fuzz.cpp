// What a model upstream streams back: the input is the event stream a real openai or
// anthropic backend reads after a "200 text/event-stream" head (the first byte picks
// which backend), up to the connection's close. Deltas, tool calls, usage, errors
// mid-stream and malformed events all go through the backend's own reader into a reply
// that discards them.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <future>
#include <string>
#include <unistd.h>

#include "hermes/backends/anthropic.hpp"
#include "hermes/backends/openai.hpp"
#include "hermes/backends/registry.hpp"
#include "hermes/core/backend.hpp"
#include "hermes/core/reply.hpp"
#include "hermes/net/client.hpp"
#include "tests/fuzz/fuzz_input.hpp"
#include "tests/fuzz/loopback.hpp"

namespace {

namespace asio = boost::asio;
using namespace hermes;

class DiscardingReply final : public ReplyStream {
 public:
  asio::awaitable<void> begin(const ReplyMeta&) override { co_return; }
  asio::awaitable<bool> write_delta(std::string_view) override { co_return true; }
  asio::awaitable<void> finish(const Usage&, std::string_view) override { co_return; }
  asio::awaitable<void> fail(const ReplyError&) override { co_return; }
};

struct Backends {
  fuzz::IoThread thread;
  fuzz::PeerListener peer;
  net::HttpClient http{thread.io(), [] {
                         net::HttpClientOptions o;
                         o.max_idle_per_host = 0;
                         return o;
                       }()};
  backends::BackendDeps deps{thread.io(), http};
  std::unique_ptr<ModelBackend> openai;
  std::unique_ptr<ModelBackend> anthropic;

  Backends() {
    std::string base = "http://127.0.0.1:" + std::to_string(peer.port());
    backends::openai::Spec o;
    o.name = o.type = "openai";
    o.base_url = base + "/v1";
    o.model = "gpt";
    o.first_byte_timeout = o.timeout = std::chrono::seconds(5);
    openai = backends::openai::create(o, deps);
    backends::anthropic::Spec a;
    a.name = a.type = "anthropic";
    a.base_url = base;
    a.model = "claude";
    a.api_key = Secret("fuzz-key", "fuzz");
    a.deadlines.first_byte_timeout = a.deadlines.timeout = std::chrono::seconds(5);
    anthropic = backends::anthropic::create(a, deps);
  }
};

CompletionRequest fuzz_completion() {
  CompletionRequest request;
  request.request_id = "fuzz";
  request.agent = "fuzz";
  ChatTurn turn;
  turn.role = "user";
  turn.content = "hello";
  request.messages.push_back(std::move(turn));
  request.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  return request;
}

asio::awaitable<void> complete(ModelBackend& backend, std::promise<void>& done) {
  DiscardingReply reply;
  co_await backend.complete(fuzz_completion(), reply);
  done.set_value();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto* harness = new Backends();
  if (size == 0) return 0;
  ModelBackend& backend = (data[0] & 1) ? *harness->anthropic : *harness->openai;
  std::promise<void> done;
  auto finished = done.get_future();
  asio::co_spawn(harness->thread.io(), complete(backend, done), asio::detached);
  auto client_done = [&] { return finished.wait_for(std::chrono::seconds(0)) == std::future_status::ready; };
  int fd = harness->peer.accept_one(client_done);
  if (fd >= 0) {
    fuzz::read_head(fd);
    fuzz::write_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n");
    fuzz::write_all(fd, fuzz::as_text(data + 1, size - 1));
    ::shutdown(fd, SHUT_WR);
  }
  if (finished.wait_for(std::chrono::seconds(15)) != std::future_status::ready) std::abort();
  if (fd >= 0) fuzz::close_now(fd);
  return 0;
}
