// The SMTP submission client against tests/peers/smtp_peer.mjs (npm smtp-server) on loopback:
// STARTTLS and implicit TLS with a throwaway certificate, AUTH PLAIN/LOGIN, 4xx/5xx replies,
// dot-stuffing, connections lost around the final ".", and the transport failures.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "harness.hpp"
#include "hermes/core/digest.hpp"
#include "hermes/net/smtp.hpp"
#include "node_peer.hpp"

namespace hermes::test {
namespace {

using net::SmtpOutcome;

int smtp_shell(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()); }

// A self-signed certificate for 127.0.0.1 and localhost (it is its own CA) in `dir`/<name>-{cert,key}.pem.
bool smtp_make_cert(const std::filesystem::path& dir, const std::string& name) {
  auto cert = (dir / (name + "-cert.pem")).string();
  auto key = (dir / (name + "-key.pem")).string();
  return smtp_shell("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -addext "
                    "subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " +
                    key + " -out " + cert) == 0;
}

net::SmtpResult smtp_run(net::SmtpSettings settings, net::SmtpMessage message) {
  boost::asio::io_context io;
  std::optional<net::SmtpResult> result;
  boost::asio::co_spawn(io, net::smtp_send(io, std::move(settings), std::move(message)),
                        [&result](std::exception_ptr e, net::SmtpResult r) {
                          if (!e) result = std::move(r);
                        });
  io.run();
  return result.value_or(net::SmtpResult{SmtpOutcome::failed, -1, "exception", "", false});
}

std::vector<nlohmann::json> smtp_recorded(const std::filesystem::path& file) {
  std::vector<nlohmann::json> out;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

std::string smtp_recorded_data(const nlohmann::json& record) {
  return base64_decode(record.at("data").get<std::string>()).value_or("<bad base64>");
}

class SmtpClientTest : public ::testing::Test {
 protected:
  // The peer needs npm smtp-server: NodePeer installs the peers' packages on first use.
  void SetUp() override { record_ = dir_.path() / "sent.jsonl"; }

  std::filesystem::path cert(const std::string& name = "server") {
    auto file = dir_.path() / (name + "-cert.pem");
    if (!std::filesystem::exists(file)) {
      EXPECT_TRUE(smtp_make_cert(dir_.path(), name)) << "openssl failed";
    }
    return file;
  }

  // Starts the peer with `args` (plus --port 0 --record); TLS flags get the "server" certificate.
  std::uint16_t start(std::vector<std::string> args, bool with_cert = false) {
    std::vector<std::string> all{"--port", "0", "--record", record_.string()};
    if (with_cert) {
      auto c = cert();
      all.insert(all.end(), {"--tls-cert", c.string(), "--tls-key", (dir_.path() / "server-key.pem").string()});
    }
    all.insert(all.end(), args.begin(), args.end());
    peer_.emplace("tests/peers/smtp_peer.mjs", all);
    EXPECT_TRUE(peer_->start()) << peer_->error();
    return peer_->port();
  }

  net::SmtpSettings settings(std::uint16_t port, net::SmtpSecurity security) {
    net::SmtpSettings s;
    s.host = "127.0.0.1";
    s.port = port;
    s.security = security;
    s.helo_name = "hermes.test";
    s.connect_timeout = Duration(5'000);
    s.command_timeout = Duration(5'000);
    if (security != net::SmtpSecurity::none) s.tls.ca_file = cert();
    return s;
  }

  static net::SmtpMessage message(std::string data = "Subject: hi\r\n\r\nhello\r\n") {
    net::SmtpMessage m;
    m.mail_from = "hermes@example.org";
    m.rcpt_to = {"alice@example.org"};
    m.data = std::move(data);
    return m;
  }

  std::vector<nlohmann::json> recorded() const { return smtp_recorded(record_); }

  TempDir dir_;
  std::filesystem::path record_;
  std::optional<NodePeer> peer_;
};

TEST_F(SmtpClientTest, StartTlsWithAuthPlainDelivers) {
  auto port = start({"--auth", "mailer:s3cret pass"}, true);
  auto s = settings(port, net::SmtpSecurity::starttls);
  s.username = "mailer";
  s.password = Secret("s3cret pass", "inline");
  auto m = message();
  m.rcpt_to = {"alice@example.org", "bob@example.org"};
  auto r = smtp_run(s, m);
  EXPECT_EQ(r.outcome, SmtpOutcome::sent) << r.detail << " " << r.server_reply;
  EXPECT_EQ(r.code, 250);
  EXPECT_FALSE(r.ambiguous);
  auto sent = recorded();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]["secure"], true);
  EXPECT_EQ(sent[0]["user"], "mailer");
  EXPECT_EQ(sent[0]["from"], "hermes@example.org");
  EXPECT_EQ(sent[0]["to"], nlohmann::json::array({"alice@example.org", "bob@example.org"}));
  EXPECT_EQ(smtp_recorded_data(sent[0]), m.data);
  EXPECT_EQ(sent[0]["args"]["SIZE"], std::to_string(m.data.size()));
  EXPECT_FALSE(sent[0]["args"].contains("BODY"));  // 7-bit data
}

TEST_F(SmtpClientTest, AuthLoginWhenOnlyLoginIsOffered) {
  auto port = start({"--auth", "mailer:pw", "--auth-methods", "LOGIN"}, true);
  auto s = settings(port, net::SmtpSecurity::starttls);
  s.username = "mailer";
  s.password = Secret("pw", "inline");
  auto r = smtp_run(s, message());
  EXPECT_EQ(r.outcome, SmtpOutcome::sent) << r.detail << " " << r.server_reply;
  auto sent = recorded();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]["user"], "mailer");
}

TEST_F(SmtpClientTest, WrongPasswordFailsAuth) {
  auto port = start({"--auth", "mailer:pw"}, true);
  auto s = settings(port, net::SmtpSecurity::starttls);
  s.username = "mailer";
  s.password = Secret("not-it", "inline");
  auto r = smtp_run(s, message());
  EXPECT_EQ(r.outcome, SmtpOutcome::failed);
  EXPECT_EQ(r.detail, "auth_failed");
  EXPECT_EQ(r.code, 535);
  EXPECT_EQ(r.server_reply.find("not-it"), std::string::npos);
  EXPECT_TRUE(recorded().empty());
}

TEST_F(SmtpClientTest, ImplicitTlsDelivers) {
  auto port = start({"--secure"}, true);
  auto s = settings(port, net::SmtpSecurity::tls);
  s.host = "localhost";  // resolved; and the certificate names it
  auto r = smtp_run(s, message());
  EXPECT_EQ(r.outcome, SmtpOutcome::sent) << r.detail;
  auto sent = recorded();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]["secure"], true);
  EXPECT_EQ(sent[0]["user"], nullptr);
}

// A certificate that does not verify is a configuration problem (or an interception), not
// weather: retrying would not fix it, only hide it from the operator. So: failed.
TEST_F(SmtpClientTest, UntrustedCertificateFailsWithTls) {
  auto port = start({}, true);
  auto s = settings(port, net::SmtpSecurity::starttls);
  s.tls.ca_file = cert("other");
  auto r = smtp_run(s, message());
  EXPECT_EQ(r.outcome, SmtpOutcome::failed);
  EXPECT_EQ(r.detail, "tls");
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(recorded().empty());

  auto implicit = start({"--secure"}, true);
  auto t = settings(implicit, net::SmtpSecurity::tls);
  t.tls.ca_file = cert("other");
  r = smtp_run(t, message());
  EXPECT_EQ(r.outcome, SmtpOutcome::failed);
  EXPECT_EQ(r.detail, "tls");
}

TEST_F(SmtpClientTest, CertificateForAnotherNameFails) {
  auto port = start({"--secure"}, true);
  auto s = settings(port, net::SmtpSecurity::tls);
  s.tls.server_name = "mail.example.org";
  auto r = smtp_run(s, message());
  EXPECT_EQ(r.outcome, SmtpOutcome::failed);
  EXPECT_EQ(r.detail, "tls");
  s.tls.verify = false;  // tests on loopback only
  r = smtp_run(s, message());
  EXPECT_EQ(r.outcome, SmtpOutcome::sent) << r.detail;
}

TEST_F(SmtpClientTest, StartTlsNotOfferedFails) {
  auto port = start({});  // no certificate: no STARTTLS
  auto r = smtp_run(settings(port, net::SmtpSecurity::starttls), message());
  EXPECT_EQ(r.outcome, SmtpOutcome::failed);
  EXPECT_EQ(r.detail, "starttls_unavailable");
  EXPECT_TRUE(recorded().empty());
}

TEST_F(SmtpClientTest, PlaintextToLoopbackMayAuthenticate) {
  auto port = start({"--auth", "mailer:pw"});
  auto s = settings(port, net::SmtpSecurity::none);
  s.username = "mailer";
  s.password = Secret("pw", "inline");
  auto r = smtp_run(s, message());
  EXPECT_EQ(r.outcome, SmtpOutcome::sent) << r.detail;
  auto sent = recorded();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]["secure"], false);
  EXPECT_EQ(sent[0]["user"], "mailer");
}

TEST_F(SmtpClientTest, PlaintextCredentialsToAnotherHostAreRefusedBeforeConnecting) {
  net::SmtpSettings s;
  s.host = "192.0.2.1";  // TEST-NET-1: nothing answers; the refusal must come first
  s.port = 25;
  s.security = net::SmtpSecurity::none;
  s.username = "mailer";
  s.password = Secret("pw", "inline");
  s.connect_timeout = Duration(200);
  auto r = smtp_run(s, message());
  EXPECT_EQ(r.outcome, SmtpOutcome::failed);
  EXPECT_EQ(r.detail, "auth_insecure");
}

TEST_F(SmtpClientTest, TemporaryFailureIsRetriedThenDelivers) {
  auto port = start({"--fail-first", "451"}, true);
  auto s = settings(port, net::SmtpSecurity::starttls);
  auto r = smtp_run(s, message());
  EXPECT_EQ(r.outcome, SmtpOutcome::retry);
  EXPECT_EQ(r.code, 451);
  EXPECT_EQ(r.detail, "smtp_451 4.3.0");
  EXPECT_NE(r.server_reply.find("scripted failure"), std::string::npos) << r.server_reply;
  EXPECT_FALSE(r.ambiguous);
  EXPECT_TRUE(recorded().empty());
  r = smtp_run(s, message());
  EXPECT_EQ(r.outcome, SmtpOutcome::sent) << r.detail;
  EXPECT_EQ(recorded().size(), 1u);
}

TEST_F(SmtpClientTest, PermanentFailureFails) {
  auto port = start({"--fail-first", "550"}, true);
  auto r = smtp_run(settings(port, net::SmtpSecurity::starttls), message());
  EXPECT_EQ(r.outcome, SmtpOutcome::failed);
  EXPECT_EQ(r.code, 550);
  EXPECT_EQ(r.detail, "smtp_550 5.7.1");
}

TEST_F(SmtpClientTest, ARefusedRecipientStopsTheWholeMessage) {
  auto port = start({"--fail-rcpt", "550"});
  auto m = message();
  m.rcpt_to = {"gone@example.org", "alice@example.org"};
  auto r = smtp_run(settings(port, net::SmtpSecurity::none), m);
  EXPECT_EQ(r.outcome, SmtpOutcome::failed);
  EXPECT_EQ(r.code, 550);
  EXPECT_TRUE(recorded().empty());  // no partial delivery: a retry could never duplicate

  auto again = start({"--fail-rcpt", "452"});
  r = smtp_run(settings(again, net::SmtpSecurity::none), m);
  EXPECT_EQ(r.outcome, SmtpOutcome::retry);
  EXPECT_EQ(r.code, 452);
}

TEST_F(SmtpClientTest, DotStuffingAndEightBitArriveIntact) {
  auto port = start({}, true);
  std::string data =
      "Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nmiddle . dot\r\n"
      "caf\xc3\xa9\r\n.";
  auto r = smtp_run(settings(port, net::SmtpSecurity::starttls), message(data));
  EXPECT_EQ(r.outcome, SmtpOutcome::sent) << r.detail;
  auto sent = recorded();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(smtp_recorded_data(sent[0]), data + "\r\n");  // the client ends the last line
  EXPECT_EQ(sent[0]["args"]["BODY"], "8BITMIME");
}

TEST_F(SmtpClientTest, NullReversePath) {
  auto port = start({});
  auto m = message();
  m.mail_from = "";
  auto r = smtp_run(settings(port, net::SmtpSecurity::none), m);
  EXPECT_EQ(r.outcome, SmtpOutcome::sent) << r.detail;
  auto sent = recorded();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(sent[0]["from"].is_null() || sent[0]["from"] == "") << sent[0].dump();
}

TEST_F(SmtpClientTest, ConnectionLostAfterTheFinalDotIsAmbiguous) {
  auto port = start({"--drop-after-data"}, true);
  auto r = smtp_run(settings(port, net::SmtpSecurity::starttls), message());
  EXPECT_EQ(r.outcome, SmtpOutcome::retry);
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(r.ambiguous);
  EXPECT_EQ(r.detail, "connection_lost");
}

TEST_F(SmtpClientTest, ConnectionLostDuringDataIsRetried) {
  auto port = start({"--drop-in-data"});
  // Far more than the socket buffers hold: the reset arrives while the body is still going out.
  std::string data = "Subject: big\r\n\r\n";
  std::string line(998, 'x');
  line += "\r\n";
  while (data.size() < 24 * 1024 * 1024) data += line;
  auto r = smtp_run(settings(port, net::SmtpSecurity::none), message(data));
  EXPECT_EQ(r.outcome, SmtpOutcome::retry);
  EXPECT_EQ(r.code, 0);
  EXPECT_FALSE(r.ambiguous) << r.detail;
  EXPECT_EQ(r.detail, "connection_lost");
}

TEST_F(SmtpClientTest, NothingListeningIsRetriedAsConnect) {
  auto s = settings(free_port(), net::SmtpSecurity::none);
  auto r = smtp_run(s, message());
  EXPECT_EQ(r.outcome, SmtpOutcome::retry);
  EXPECT_EQ(r.detail, "connect");
  EXPECT_EQ(r.code, 0);
}

TEST_F(SmtpClientTest, SilentServerTimesOut) {
  // Listening, never accepting: the connect succeeds (backlog), no greeting ever comes.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  auto s = settings(ntohs(addr.sin_port), net::SmtpSecurity::none);
  s.command_timeout = Duration(300);
  auto started = std::chrono::steady_clock::now();
  auto r = smtp_run(s, message());
  auto took = std::chrono::steady_clock::now() - started;
  ::close(fd);
  EXPECT_EQ(r.outcome, SmtpOutcome::retry);
  EXPECT_EQ(r.detail, "timeout");
  EXPECT_LT(took, std::chrono::seconds(3));
}

TEST_F(SmtpClientTest, InvalidAddressIsRefusedLocally) {
  auto port = start({});
  auto m = message();
  m.rcpt_to = {"a@example.org>\r\nRCPT TO:<b@example.org"};
  auto r = smtp_run(settings(port, net::SmtpSecurity::none), m);
  EXPECT_EQ(r.outcome, SmtpOutcome::failed);
  EXPECT_EQ(r.detail, "invalid_address");
}

}  // namespace
}  // namespace hermes::test
