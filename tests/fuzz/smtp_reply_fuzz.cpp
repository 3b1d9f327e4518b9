// What a mail relay answers when the email channel submits a reply: the input is written
// raw as every reply of the SMTP session (greeting, EHLO extensions, AUTH challenges, the
// replies to MAIL, RCPT and DATA), then the connection closes, to a real smtp_send on
// 127.0.0.1 (plain, with AUTH, as on a loopback relay).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <future>
#include <string>

#include "hermes/net/smtp.hpp"
#include "tests/fuzz/fuzz_input.hpp"
#include "tests/fuzz/loopback.hpp"

namespace {

namespace asio = boost::asio;
using namespace hermes;

struct Harness {
  fuzz::IoThread thread;
  fuzz::PeerListener peer;
};

asio::awaitable<void> submit(asio::io_context& io, std::uint16_t port, std::promise<void>& done) {
  net::SmtpSettings settings;
  settings.host = "127.0.0.1";
  settings.port = port;
  settings.security = net::SmtpSecurity::none;
  settings.username = "hermes";
  settings.password = Secret("relay-password", "fuzz");
  settings.connect_timeout = std::chrono::seconds(5);
  settings.command_timeout = std::chrono::seconds(5);
  net::SmtpMessage message;
  message.mail_from = "support@corp.example";
  message.rcpt_to = {"ana@customer.example", "bob@customer.example"};
  message.data = "From: support@corp.example\r\nTo: ana@customer.example\r\nSubject: Re: hi\r\n\r\n.hello\r\n";
  co_await net::smtp_send(io, std::move(settings), std::move(message));
  done.set_value();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto* harness = new Harness();
  std::promise<void> done;
  auto finished = done.get_future();
  asio::co_spawn(harness->thread.io(), submit(harness->thread.io(), harness->peer.port(), done), asio::detached);
  auto client_done = [&] { return finished.wait_for(std::chrono::seconds(0)) == std::future_status::ready; };
  int fd = harness->peer.accept_one(client_done);
  if (fd >= 0) {
    fuzz::write_all(fd, fuzz::as_text(data, size));
    ::shutdown(fd, SHUT_WR);
    char sink[4096];
    while (::recv(fd, sink, sizeof sink, 0) > 0) {
    }  // what the client sends, until it closes
  }
  if (finished.wait_for(std::chrono::seconds(20)) != std::future_status::ready) std::abort();
  if (fd >= 0) fuzz::close_now(fd);
  return 0;
}
