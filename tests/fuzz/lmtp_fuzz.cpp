// LMTP commands and DATA lines from an MTA (or anyone who reaches an LMTP listener): the
// input is split into CRLF lines and fed to the state machine the session runs, in
// command or DATA mode as the machine asks, then the transaction and the parsed mail.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "hermes/channels/email/mime.hpp"
#include "src/net/lmtp_machine.hpp"

namespace {

class FuzzMailbox final : public hermes::net::LmtpMailbox {
 public:
  boost::asio::awaitable<std::vector<hermes::net::LmtpReply>> deliver(hermes::net::LmtpEnvelope,
                                                                      std::shared_ptr<const std::string>) override {
    co_return std::vector<hermes::net::LmtpReply>{};
  }
};

std::shared_ptr<const hermes::net::LmtpRoutes> fuzz_routes() {
  auto routes = std::make_shared<hermes::net::LmtpRoutes>();
  routes->add("support@corp.example", std::make_shared<FuzzMailbox>());
  routes->add("billing@corp.example", std::make_shared<FuzzMailbox>());
  return routes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto routes = fuzz_routes();
  hermes::net::LmtpSettings settings;
  settings.hostname = "gw.fuzz";
  settings.max_message_size = 4096;
  settings.max_recipients = 4;
  hermes::net::LmtpMachine machine(settings, routes, true);
  std::string_view input(reinterpret_cast<const char*>(data), size);
  bool in_data = false;
  while (!input.empty()) {
    auto end = input.find("\r\n");
    std::string_view line = input.substr(0, end);
    input = end == std::string_view::npos ? std::string_view{} : input.substr(end + 2);
    if (in_data) {
      if (!machine.on_data_line(line)) continue;
      in_data = false;
      if (machine.refused_data_replies().empty()) {
        auto transaction = machine.take_transaction();
        if (transaction.data) hermes::channels::email::parse_mail(*transaction.data);
      } else {
        machine.reset_transaction();
      }
      continue;
    }
    auto step = machine.on_command(line);
    if (step.next == hermes::net::LmtpMachine::Next::close) break;
    if (step.next == hermes::net::LmtpMachine::Next::starttls) machine.tls_started();
    in_data = step.next == hermes::net::LmtpMachine::Next::data;
  }
  return 0;
}
