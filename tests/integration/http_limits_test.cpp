// Body limits, Expect: 100-continue, slow clients and keep-alive against the real hermesd.
#include <gtest/gtest.h>

#include <thread>

#include "harness.hpp"

namespace hermes::test {
namespace {

const char* kHttpLimitsConfig = R"(
gateway: {instance: it-limits, data_dir: "${DATA}", threads: 2}
listeners:
  - {name: main, bind: loopback, port: ${PORT0}, body_limit: 1KiB, header_timeout: 600ms,
     idle_timeout: 2s, body_timeout: 800ms}
)";

class HttpLimits : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(daemon_.start()) << daemon_.log(); }
  Daemon daemon_{kHttpLimitsConfig};
};

TEST_F(HttpLimits, OversizedContentLengthGets413AndCloseWithoutReadingTheBody) {
  RawConnection c(daemon_.port());
  c.send("POST /anything HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1025\r\n\r\n");
  auto r = c.read_response();
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.headers["connection"], "close");
  EXPECT_NE(r.body.find("request_too_large"), std::string::npos);
  EXPECT_TRUE(c.closed_by_peer(2s));
}

TEST_F(HttpLimits, ExpectContinueOversizedIsRefusedAtTheHeaders) {
  RawConnection c(daemon_.port());
  c.send("POST /anything HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\n\r\n");
  auto r = c.read_response();
  EXPECT_EQ(r.status, 413) << r.raw;  // not 100 Continue
  EXPECT_EQ(r.headers["connection"], "close");
}

TEST_F(HttpLimits, ExpectContinueWithinLimitGets100ThenTheAnswer) {
  RawConnection c(daemon_.port());
  c.send("POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n");
  auto interim = c.read_until("\r\n\r\n", 2s);
  EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  c.send("0123456789");
  auto r = c.read_response();
  EXPECT_EQ(r.status, 405);  // the body was read and the request routed
}

TEST_F(HttpLimits, ChunkedBodyOverTheLimitGets413) {
  RawConnection c(daemon_.port());
  std::string chunk(800, 'a');
  c.send("POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  c.send("320\r\n" + chunk + "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n");
  EXPECT_EQ(c.read_response().status, 413);
}

TEST_F(HttpLimits, SlowlorisHeadIsCutOffAtTheHeaderTimeout) {
  RawConnection c(daemon_.port());
  std::string head = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
  auto started = std::chrono::steady_clock::now();
  bool cut = false;
  // One byte every 100 ms would take far longer than the 600 ms header timeout.
  for (int i = 0; i < 40 && !cut; ++i) {
    c.send(i < static_cast<int>(head.size()) ? head.substr(static_cast<std::size_t>(i), 1) : "a");
    cut = c.closed_by_peer(100ms);
  }
  auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_TRUE(cut);
  EXPECT_LT(elapsed, 2500ms);
  EXPECT_GT(elapsed, 400ms);
}

TEST_F(HttpLimits, SlowBodyIsCutOffAtTheBodyTimeout) {
  RawConnection c(daemon_.port());
  c.send("POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nabc");
  EXPECT_TRUE(c.closed_by_peer(3s));
}

TEST_F(HttpLimits, KeepAliveServesSeveralRequestsThenIdleTimeoutCloses) {
  RawConnection c(daemon_.port());
  for (int i = 0; i < 3; ++i) {
    c.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    auto r = c.read_response();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.headers.count("connection"), 0u) << "keep-alive is the HTTP/1.1 default";
  }
  EXPECT_TRUE(c.closed_by_peer(4s));
}

TEST_F(HttpLimits, PipelinedRequestsAreAnsweredInOrder) {
  RawConnection c(daemon_.port());
  c.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_EQ(c.read_response().status, 200);
  EXPECT_EQ(c.read_response().status, 404);
}

TEST_F(HttpLimits, GarbageGets400) {
  RawConnection c(daemon_.port());
  c.send("THIS IS NOT HTTP\r\n\r\n");
  EXPECT_EQ(c.read_response().status, 400);
}

TEST_F(HttpLimits, OversizedHeadGets431) {
  RawConnection c(daemon_.port());
  c.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(20000, 'b') + "\r\n\r\n");
  EXPECT_EQ(c.read_response().status, 431);
}

}  // namespace
}  // namespace hermes::test
