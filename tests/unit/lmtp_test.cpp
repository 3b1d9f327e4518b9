// The LMTP command state machine with what MTAs send, and with what hostile clients send.
#include <gtest/gtest.h>

#include "src/net/lmtp_machine.hpp"

namespace hermes::net {
namespace {

class LmtpFakeMailbox final : public LmtpMailbox {
 public:
  boost::asio::awaitable<std::vector<LmtpReply>> deliver(LmtpEnvelope, std::shared_ptr<const std::string>) override {
    co_return std::vector<LmtpReply>{};
  }
};

std::shared_ptr<const LmtpRoutes> lmtp_routes() {
  auto routes = std::make_shared<LmtpRoutes>();
  auto box = std::make_shared<LmtpFakeMailbox>();
  routes->add("billing@corp.example", box);
  routes->add("Support@Corp.Example", box);
  return routes;
}

LmtpSettings lmtp_settings() {
  LmtpSettings s;
  s.hostname = "gw.test";
  s.max_message_size = 1000;
  s.max_recipients = 3;
  return s;
}

class Lmtp : public ::testing::Test {
 protected:
  LmtpMachine m{lmtp_settings(), lmtp_routes(), true};
  std::string say(std::string_view line) { return m.on_command(line).replies; }
  void open_transaction() {
    ASSERT_EQ(say("LHLO mta.corp.example").substr(0, 4), "250-");
    ASSERT_EQ(say("MAIL FROM:<ana@customer.example>"), "250 2.1.0 OK\r\n");
  }
};

TEST_F(Lmtp, LhloAdvertisesTheExtensionsAndEhloIsRefused) {
  EXPECT_EQ(m.greeting(), "220 gw.test LMTP Hermes ready\r\n");
  EXPECT_EQ(say("LHLO mta"),
            "250-gw.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-SIZE 1000\r\n"
            "250 STARTTLS\r\n");
  EXPECT_EQ(say("EHLO mta").substr(0, 10), "500 5.5.1 ");
  EXPECT_EQ(say("HELO mta").substr(0, 10), "500 5.5.1 ");
  EXPECT_EQ(say("LHLO").substr(0, 10), "501 5.5.4 ");
}

TEST_F(Lmtp, OnlyRegisteredAddressesAreAcceptedNeverARelay) {
  open_transaction();
  EXPECT_EQ(say("RCPT TO:<billing@corp.example>"), "250 2.1.5 OK\r\n");
  EXPECT_EQ(say("RCPT TO:<SUPPORT@corp.EXAMPLE>"), "250 2.1.5 OK\r\n") << "case-insensitive";
  EXPECT_EQ(say("RCPT TO:<someone@elsewhere.example>"), "550 5.1.1 no such user here\r\n");
  EXPECT_EQ(say("RCPT TO:<@relay.example:billing@corp.example>"), "250 2.1.5 OK\r\n") << "source route dropped";
  EXPECT_EQ(say("RCPT TO:<billing@corp.example>").substr(0, 10), "452 4.5.3 ") << "max_recipients";
  auto step = m.on_command("DATA");
  EXPECT_EQ(step.next, LmtpMachine::Next::data);
  EXPECT_EQ(step.replies.substr(0, 4), "354 ");
  EXPECT_FALSE(m.on_data_line("Subject: hi"));
  EXPECT_FALSE(m.on_data_line(""));
  EXPECT_FALSE(m.on_data_line("..a line that began with a dot"));
  EXPECT_TRUE(m.on_data_line("."));
  EXPECT_TRUE(m.refused_data_replies().empty());
  auto tx = m.take_transaction();
  EXPECT_EQ(tx.envelope.mail_from, "ana@customer.example");
  ASSERT_EQ(tx.envelope.recipients.size(), 3u);
  EXPECT_EQ(tx.envelope.recipients[1], "support@corp.example");
  EXPECT_EQ(*tx.data, "Subject: hi\r\n\r\n.a line that began with a dot\r\n");
  EXPECT_FALSE(m.in_transaction());
}

TEST_F(Lmtp, CommandsOutOfOrderAreRefused) {
  EXPECT_EQ(say("MAIL FROM:<a@b>").substr(0, 10), "503 5.5.1 ");
  say("LHLO mta");
  EXPECT_EQ(say("RCPT TO:<billing@corp.example>").substr(0, 10), "503 5.5.1 ");
  EXPECT_EQ(say("DATA").substr(0, 10), "503 5.5.1 ");
  EXPECT_EQ(say("MAIL FROM:<>"), "250 2.1.0 OK\r\n") << "the null reverse-path";
  EXPECT_EQ(say("MAIL FROM:<a@b>").substr(0, 10), "503 5.5.1 ") << "nested MAIL";
  EXPECT_EQ(say("DATA").substr(0, 10), "503 5.5.1 ") << "no valid recipients (RFC 2033 4.2)";
  EXPECT_EQ(say("RSET"), "250 2.0.0 OK\r\n");
  EXPECT_EQ(say("NOOP"), "250 2.0.0 OK\r\n");
  auto quit = m.on_command("QUIT");
  EXPECT_EQ(quit.next, LmtpMachine::Next::close);
  EXPECT_EQ(quit.replies.substr(0, 10), "221 2.0.0 ");
}

TEST_F(Lmtp, SizeAndParametersAreChecked) {
  say("LHLO mta");
  EXPECT_EQ(say("MAIL FROM:<a@b> SIZE=1001").substr(0, 10), "552 5.3.4 ");
  EXPECT_EQ(say("MAIL FROM:<a@b> SIZE=abc").substr(0, 10), "501 5.5.4 ");
  EXPECT_EQ(say("MAIL FROM:<a@b> SMTPUTF8").substr(0, 10), "555 5.5.4 ");
  EXPECT_EQ(say("MAIL FROM:<a@b> SIZE=999 BODY=8BITMIME"), "250 2.1.0 OK\r\n");
  EXPECT_EQ(say("RCPT TO:<billing@corp.example> NOTIFY=NEVER").substr(0, 10), "555 5.5.4 ");
  EXPECT_EQ(say("RCPT TO:<billing@corp.example>"), "250 2.1.5 OK\r\n");
  say("DATA");
  for (int i = 0; i < 40; ++i) EXPECT_FALSE(m.on_data_line(std::string(40, 'x')));
  EXPECT_TRUE(m.on_data_line("."));
  EXPECT_EQ(m.refused_data_replies().substr(0, 10), "552 5.3.4 ") << "larger than max_message_size";
}

TEST_F(Lmtp, HostileInputIsRefused) {
  auto smuggled = m.on_command("LHLO a\nMAIL FROM:<x@y>");
  EXPECT_EQ(smuggled.next, LmtpMachine::Next::close);
  LmtpMachine again(lmtp_settings(), lmtp_routes(), false);
  EXPECT_EQ(again.on_command(std::string("NOOP\0x", 6)).next, LmtpMachine::Next::close);
  EXPECT_EQ(again.on_command("STARTTLS").replies.substr(0, 10), "454 4.7.0 ") << "no certificate";
  again.on_command("LHLO mta");
  EXPECT_EQ(again.on_command("MAIL FROM:<a b@c>").replies.substr(0, 10), "501 5.5.4 ");
  EXPECT_EQ(again.on_command("MAIL FROM:<" + std::string(300, 'a') + ">").replies.substr(0, 10), "501 5.5.4 ");
  LmtpMachine noisy(lmtp_settings(), lmtp_routes(), false);
  LmtpMachine::Step last;
  for (int i = 0; i < LmtpMachine::kMaxErrors; ++i) last = noisy.on_command("GET / HTTP/1.1");
  EXPECT_EQ(last.next, LmtpMachine::Next::close) << "an HTTP client at the LMTP port is cut off";
  EXPECT_NE(last.replies.find("421 4.7.0"), std::string::npos);
}

TEST_F(Lmtp, GuessingAddressesAndEndlessSessionsAreCutOff) {
  open_transaction();
  LmtpMachine::Step last;
  for (int i = 0; i < LmtpMachine::kMaxErrors; ++i) last = m.on_command("RCPT TO:<guess" + std::to_string(i) + "@corp.example>");
  EXPECT_EQ(last.next, LmtpMachine::Next::close) << "unknown recipients count as errors";
  LmtpMachine chatty(lmtp_settings(), lmtp_routes(), false);
  for (int i = 0; i < LmtpMachine::kMaxCommands; ++i) ASSERT_EQ(chatty.on_command("NOOP").next, LmtpMachine::Next::command);
  auto over = chatty.on_command("NOOP");
  EXPECT_EQ(over.next, LmtpMachine::Next::close);
  EXPECT_EQ(over.replies.substr(0, 10), "421 4.7.0 ");
}

TEST_F(Lmtp, AReloadsAddressesApplyFromTheNextTransaction) {
  auto fewer = std::make_shared<LmtpRoutes>();
  fewer->add("billing@corp.example", std::make_shared<LmtpFakeMailbox>());
  open_transaction();
  m.set_routes(fewer);  // ignored inside a transaction
  EXPECT_EQ(say("RCPT TO:<support@corp.example>"), "250 2.1.5 OK\r\n");
  say("RSET");
  m.set_routes(fewer);
  say("MAIL FROM:<a@b.example>");
  EXPECT_EQ(say("RCPT TO:<support@corp.example>"), "550 5.1.1 no such user here\r\n");
  EXPECT_EQ(say("RCPT TO:<billing@corp.example>"), "250 2.1.5 OK\r\n");
}

TEST_F(Lmtp, BareLineFeedsAndNulsInTheMessageRefuseIt) {
  open_transaction();
  say("RCPT TO:<billing@corp.example>");
  say("RCPT TO:<support@corp.example>");
  say("DATA");
  m.on_data_line("Subject: x\nBcc: smuggled");
  EXPECT_TRUE(m.on_data_line("."));
  EXPECT_EQ(m.refused_data_replies(), "554 5.6.0 bare LF or NUL in the message\r\n"
                                      "554 5.6.0 bare LF or NUL in the message\r\n")
      << "one reply per recipient";
}

TEST_F(Lmtp, StartTlsResetsTheSession) {
  open_transaction();
  auto step = m.on_command("STARTTLS");
  EXPECT_EQ(step.next, LmtpMachine::Next::starttls);
  m.tls_started();
  EXPECT_EQ(say("MAIL FROM:<a@b>").substr(0, 10), "503 5.5.1 ") << "LHLO again after TLS";
  auto lhlo = say("LHLO mta");
  EXPECT_EQ(lhlo.find("STARTTLS"), std::string::npos);
  EXPECT_EQ(say("STARTTLS").substr(0, 10), "503 5.5.1 ");
}

}  // namespace
}  // namespace hermes::net
