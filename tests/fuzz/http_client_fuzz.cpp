// Whatever an upstream answers (a model API, a webhook receiver, Slack's or Meta's API):
// the input is written raw as the response to a real HttpClient request, then the
// connection closes. The first byte picks how the answer is read: whole (fetch, as the
// channels' API calls do) or streamed piece by piece into the SSE parser and the OpenAI
// chunk reader, as the openai backend does.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <future>
#include <string>
#include <unistd.h>
#include <vector>

#include "hermes/net/client.hpp"
#include "hermes/net/sse.hpp"
#include "src/backends/openai/chunk.hpp"
#include "tests/fuzz/fuzz_input.hpp"
#include "tests/fuzz/loopback.hpp"

namespace {

namespace asio = boost::asio;
using namespace hermes;

struct Client {
  fuzz::IoThread thread;
  fuzz::PeerListener peer;
  net::HttpClient client{thread.io(), [] {
                           net::HttpClientOptions o;
                           o.max_idle_per_host = 0;  // every input on a fresh connection
                           return o;
                         }()};
};

net::ClientRequest fuzz_request(std::uint16_t port) {
  net::ClientRequest request;
  request.method = "POST";
  request.url = "http://127.0.0.1:" + std::to_string(port) + "/v1/chat/completions";
  request.body = R"({"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]})";
  request.first_byte_timeout = std::chrono::seconds(5);
  request.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  request.body_limit = 64 * 1024;
  return request;
}

asio::awaitable<void> fetch_whole(net::HttpClient& client, net::ClientRequest request, std::promise<void>& done) {
  co_await client.fetch(std::move(request));
  done.set_value();
}

asio::awaitable<void> fetch_streamed(net::HttpClient& client, net::ClientRequest request, std::promise<void>& done) {
  auto sse = std::make_shared<net::SseParser>(16 * 1024);
  auto on_head = [](const net::ClientResponseHead&) {};
  auto on_body = [sse](std::string piece) -> asio::awaitable<bool> {
    std::vector<net::SseEvent> events;
    if (sse->feed(piece, events) != net::SseStatus::ok) co_return false;
    for (const auto& event : events) {
      backends::openai::ChunkFields fields;
      backends::openai::read_chunk(event.data, fields);
    }
    co_return true;
  };
  co_await client.stream(std::move(request), on_head, on_body);
  done.set_value();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto* harness = new Client();
  if (size == 0) return 0;
  bool streamed = data[0] & 1;
  std::string_view response = fuzz::as_text(data + 1, size - 1);
  std::promise<void> done;
  auto finished = done.get_future();
  auto request = fuzz_request(harness->peer.port());
  if (streamed) {
    asio::co_spawn(harness->thread.io(), fetch_streamed(harness->client, std::move(request), done), asio::detached);
  } else {
    asio::co_spawn(harness->thread.io(), fetch_whole(harness->client, std::move(request), done), asio::detached);
  }
  auto client_done = [&] { return finished.wait_for(std::chrono::seconds(0)) == std::future_status::ready; };
  int fd = harness->peer.accept_one(client_done);
  if (fd >= 0) {
    fuzz::read_head(fd);  // the request's head; its small body may follow, unread
    fuzz::write_all(fd, response);
    ::shutdown(fd, SHUT_WR);
  }
  if (finished.wait_for(std::chrono::seconds(15)) != std::future_status::ready) std::abort();
  if (fd >= 0) fuzz::close_now(fd);
  return 0;
}
