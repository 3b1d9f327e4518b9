// Time to first token at c=1 for scenario 4, measured natively: the Node stream client's
// own noise (direct p99s of 1-4 ms against a p50 of 330 µs, over 50 streams) hid the proxies'.
//
//   bench_ttft --url http://127.0.0.1:PORT/v1/chat/completions [--header "Name: value"]...
//              [--seconds 6] [--min-streams 200] [--warmup 20] [--pause-ms 2]
//
// One streamed chat completion after another, each on a fresh connection: connect (not
// timed), send the request, and time from the send to the first SSE `data:` line whose
// delta carries content (role-only chunks do not count). Then the stream is abandoned
// (the connection closed), so thousands of samples fit in a few seconds however slowly
// the upstream paces the rest; a proxy therefore reaches its upstream afresh for the
// next stream, as it would for a client that gave up. `--pause-ms` between streams lets
// the proxy finish the previous one. Prints one JSON object:
//   {"streams": n, "errors": n, "codes": {"<status or cause>": n}, "ttft_us": {"n", "p50", "p99", "max"}}
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/";
  std::vector<std::string> headers;
  double seconds = 6;
  int min_streams = 200;
  int warmup = 20;
  int pause_ms = 2;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "bench_ttft: %s\n", why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view flag = argv[i];
    std::string value = argv[i + 1];
    if (flag == "--url") {
      constexpr std::string_view kScheme = "http://";
      if (value.rfind(kScheme, 0) != 0) usage("--url must start with http://");
      auto rest = value.substr(kScheme.size());
      auto slash = rest.find('/');
      auto authority = rest.substr(0, slash);
      o.path = slash == std::string::npos ? "/" : rest.substr(slash);
      auto colon = authority.rfind(':');
      if (colon == std::string::npos) usage("--url needs a port");
      o.host = authority.substr(0, colon);
      o.port = std::atoi(authority.c_str() + colon + 1);
    } else if (flag == "--header") {
      o.headers.push_back(value);
    } else if (flag == "--seconds") {
      o.seconds = std::atof(value.c_str());
    } else if (flag == "--min-streams") {
      o.min_streams = std::atoi(value.c_str());
    } else if (flag == "--warmup") {
      o.warmup = std::atoi(value.c_str());
    } else if (flag == "--pause-ms") {
      o.pause_ms = std::atoi(value.c_str());
    } else {
      usage("unknown flag");
    }
  }
  if (o.port <= 0) usage("--url is required");
  return o;
}

std::string request_text(const Options& o) {
  const std::string body =
      R"({"model":"auto","stream":true,"messages":[{"role":"user","content":"hello bench, stream please"}]})";
  std::string r = "POST " + o.path + " HTTP/1.1\r\nHost: " + o.host + ":" + std::to_string(o.port) +
                  "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n";
  for (const auto& h : o.headers) r += h + "\r\n";
  return r + "\r\n" + body;
}

// The response body as it arrives, de-chunked when the response is chunked.
class BodyReader {
 public:
  // Feeds raw bytes; returns false on a malformed response.
  bool feed(std::string_view bytes) {
    raw_ += bytes;
    if (!head_done_) {
      auto end = raw_.find("\r\n\r\n");
      if (end == std::string::npos) return raw_.size() < 64 * 1024;
      std::string head = raw_.substr(0, end);
      raw_.erase(0, end + 4);
      head_done_ = true;
      if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0) return false;
      status_ = std::atoi(head.c_str() + 9);
      for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      chunked_ = head.find("transfer-encoding: chunked") != std::string::npos;
    }
    if (!chunked_) {
      body_ += raw_;
      raw_.clear();
      return true;
    }
    for (;;) {
      if (chunk_left_ == 0) {
        auto eol = raw_.find("\r\n");
        if (eol == std::string::npos) return true;
        if (eol == 0) {  // the CRLF that ends the previous chunk's data
          raw_.erase(0, 2);
          continue;
        }
        chunk_left_ = std::strtoul(raw_.c_str(), nullptr, 16);
        raw_.erase(0, eol + 2);
        if (chunk_left_ == 0) return true;  // last chunk
      }
      std::size_t take = std::min(chunk_left_, raw_.size());
      if (take == 0) return true;
      body_.append(raw_, 0, take);
      raw_.erase(0, take);
      chunk_left_ -= take;
    }
  }

  bool head_done() const { return head_done_; }
  int status() const { return status_; }

  // True once the body holds a complete `data:` line whose delta has non-empty content.
  bool has_token() {
    for (;;) {
      auto eol = body_.find('\n', scanned_);
      if (eol == std::string::npos) return false;
      std::string_view line(body_.data() + scanned_, eol - scanned_);
      scanned_ = eol + 1;
      if (line.rfind("data:", 0) != 0) continue;
      constexpr std::string_view kContent = R"("content":")";
      auto at = line.find(kContent);
      if (at != std::string_view::npos && at + kContent.size() < line.size() && line[at + kContent.size()] != '"') {
        return true;
      }
    }
  }

 private:
  std::string raw_, body_;
  bool head_done_ = false, chunked_ = false;
  int status_ = 0;
  std::size_t chunk_left_ = 0, scanned_ = 0;
};

int connect_to(const Options& o) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(o.port));
  if (::inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr) != 1 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// One stream: the TTFT in µs, or the cause of failure in `code`.
std::optional<double> one_stream(const Options& o, const std::string& request, std::string& code) {
  int fd = connect_to(o);
  if (fd < 0) {
    code = "connect";
    return std::nullopt;
  }
  auto sent = Clock::now();
  auto deadline = sent + std::chrono::seconds(5);
  std::optional<double> ttft;
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    code = "send";
  } else {
    BodyReader reader;
    char buf[16 * 1024];
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      pollfd p{fd, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) {
        code = "timeout";
        break;
      }
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      auto now = Clock::now();
      if (n <= 0) {
        code = "closed before a token";
        break;
      }
      if (!reader.feed(std::string_view(buf, static_cast<std::size_t>(n)))) {
        code = "malformed response";
        break;
      }
      if (reader.head_done() && reader.status() != 200) {
        code = std::to_string(reader.status());
        break;
      }
      if (reader.head_done() && reader.has_token()) {
        ttft = std::chrono::duration<double, std::micro>(now - sent).count();
        break;
      }
    }
  }
  ::close(fd);
  return ttft;
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto index = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  const std::string request = request_text(o);
  std::vector<double> samples;
  std::map<std::string, int> codes;
  int streams = 0, errors = 0;
  auto pause = std::chrono::milliseconds(o.pause_ms);
  for (int i = 0; i < o.warmup; ++i) {
    std::string code;
    one_stream(o, request, code);
    std::this_thread::sleep_for(pause);
  }
  auto end = Clock::now() + std::chrono::duration<double>(o.seconds);
  while (Clock::now() < end || streams < o.min_streams) {
    std::string code;
    auto ttft = one_stream(o, request, code);
    ++streams;
    if (ttft) {
      samples.push_back(*ttft);
    } else {
      ++errors;
      ++codes[code];
      if (errors > 100 && errors * 2 > streams) break;  // a contender that cannot stream
    }
    std::this_thread::sleep_for(pause);
  }
  std::sort(samples.begin(), samples.end());
  std::printf(R"({"streams": %d, "errors": %d, "codes": {)", streams, errors);
  bool first = true;
  for (const auto& [code, n] : codes) {
    std::printf(R"(%s"%s": %d)", first ? "" : ", ", code.c_str(), n);
    first = false;
  }
  std::printf(R"(}, "ttft_us": {"n": %zu, "p50": %.1f, "p99": %.1f, "max": %.1f}})"
              "\n",
              samples.size(), percentile(samples, 50), percentile(samples, 99),
              samples.empty() ? 0.0 : samples.back());
  return 0;
}
