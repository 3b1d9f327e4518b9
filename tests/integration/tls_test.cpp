// TLS listeners: served over TLS with the configured certificate, re-read on SIGHUP.
#include <gtest/gtest.h>

#include <array>
#include <csignal>
#include <cstdio>

#include "harness.hpp"

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

const char* kConfig = R"(
gateway: {instance: it-tls, data_dir: "${DATA}", threads: 1}
listeners:
  - {name: secure, bind: loopback, port: ${PORT0}, tls: {cert: "${DIR}/cert.pem", key: "${DIR}/key.pem"}}
)";

TEST(Tls, ServesOverTlsAndReReadsTheCertificateOnReload) {
  Daemon d(kConfig);
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
  Daemon d(kConfig);
  TempDir a, b;
  make_cert(a.path(), "a");
  make_cert(b.path(), "b");
  std::filesystem::copy_file(a.path() / "cert.pem", d.dir().path() / "cert.pem");
  std::filesystem::copy_file(b.path() / "key.pem", d.dir().path() / "key.pem");
  EXPECT_FALSE(d.start(5s));
  EXPECT_EQ(d.wait_exit(5s), 1);
  EXPECT_NE(d.log().find("cannot start: listener secure: cannot load TLS key"), std::string::npos) << d.log();
}

}  // namespace
}  // namespace hermes::test
