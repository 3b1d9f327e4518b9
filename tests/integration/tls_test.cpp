// TLS listeners: served over TLS with the configured certificate, re-read on SIGHUP.
#include <gtest/gtest.h>

#include <array>
#include <csignal>
#include <cstdio>

#include "harness.hpp"
#include "node_peer.hpp"

namespace hermes::test {
namespace {

std::string run(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  ::pclose(p);
  return out;
}

void make_cert(const std::filesystem::path& dir, const std::string& cn) {
  run("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=" + cn + " -keyout " + (dir / "key.pem").string() +
      " -out " + (dir / "cert.pem").string() + " 2>&1");
}

std::string served_subject(std::uint16_t port) {
  return run("curl -sSkv --max-time 5 https://127.0.0.1:" + std::to_string(port) + "/healthz 2>&1");
}

const char* kTlsConfig = R"(
gateway: {instance: it-tls, data_dir: "${DATA}", threads: 1}
listeners:
  - {name: secure, bind: loopback, port: ${PORT0}, tls: {cert: "${DIR}/cert.pem", key: "${DIR}/key.pem"}}
)";

TEST(Tls, ServesOverTlsAndReReadsTheCertificateOnReload) {
  Daemon d(kTlsConfig);
  make_cert(d.dir().path(), "hermes-one");
  ASSERT_TRUE(d.start()) << d.log();

  auto first = served_subject(d.port());
  EXPECT_NE(first.find("CN=hermes-one"), std::string::npos) << first;
  EXPECT_NE(first.find("\nok"), std::string::npos) << first;
  // Plain HTTP on a TLS listener gets no HTTP answer.
  EXPECT_EQ(http_get(d.port(), "/healthz").status, 0);

  make_cert(d.dir().path(), "hermes-two");
  d.signal(SIGHUP);
  ASSERT_TRUE(d.wait_notify("RELOADING=1"));
  ASSERT_TRUE(d.wait_notify("READY=1"));
  auto second = served_subject(d.port());
  EXPECT_NE(second.find("CN=hermes-two"), std::string::npos) << second << d.log();
}

TEST(Tls, KeyThatDoesNotMatchTheCertificateRefusesToStart) {
  Daemon d(kTlsConfig);
  TempDir a, b;
  make_cert(a.path(), "a");
  make_cert(b.path(), "b");
  std::filesystem::copy_file(a.path() / "cert.pem", d.dir().path() / "cert.pem");
  std::filesystem::copy_file(b.path() / "key.pem", d.dir().path() / "key.pem");
  EXPECT_FALSE(d.start(5s));
  EXPECT_EQ(d.wait_exit(5s), 1);
  EXPECT_NE(d.log().find("cannot start: listener secure: cannot load TLS key"), std::string::npos) << d.log();
}

// A TLS client says goodbye with a close_notify alert before its FIN: the request it
// left must be cancelled and audited like one whose TCP connection ended.
TEST(Tls, AClientThatClosesItsTlsSessionCancelsItsRequest) {
  NodePeer upstream("tests/peers/openai_upstream.mjs");
  ASSERT_TRUE(upstream.start()) << upstream.error();
  Daemon d(R"(
gateway: {instance: it-tls, data_dir: "${DATA}", threads: 1}
listeners:
  - {name: secure, bind: loopback, port: ${PORT0}, tls: {cert: "${DIR}/cert.pem", key: "${DIR}/key.pem"}}
channels:
  - {name: api, type: api, listener: secure}
)" + hanging_agent_yaml(upstream.port()));
  make_cert(d.dir().path(), "hermes");
  ASSERT_TRUE(d.start()) << d.log();
  std::string body = R"({"model":"auto","messages":[{"role":"user","content":"hello?"}]})";
  std::string request = "POST /v1/chat/completions HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nContent-Type: application/json\\r\\n"
                        "Content-Length: " + std::to_string(body.size()) + "\\r\\n\\r\\n" + body;
  // s_client sends the request, and at the end of its input (300 ms later, once the
  // request is being answered) closes the session: close_notify, then FIN. TLS 1.2 shows
  // the alert's record type; TLS 1.3 encrypts it.
  for (std::string version : {"-tls1_3", "-tls1_2"}) {
    run("(printf '" + request + "'; sleep 0.3) | openssl s_client -quiet -no_ign_eof " + version +
        " -connect 127.0.0.1:" + std::to_string(d.port()) + " 2>/dev/null");
  }
  auto exchanges = d.audit_events("message.exchange", 2, 3s);
  ASSERT_EQ(exchanges.size(), 2u) << d.log();
  for (const auto& row : exchanges) EXPECT_EQ(row["status"], "cancelled");
  auto seen = nlohmann::json::parse(http_get(upstream.port(), "/_requests").body);
  ASSERT_EQ(seen.size(), 2u);
  for (const auto& call : seen) EXPECT_TRUE(call.value("client_disconnected", false)) << call.dump();
}

}  // namespace
}  // namespace hermes::test
