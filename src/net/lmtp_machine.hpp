#pragma once
// Private to src/net (and its tests): the LMTP command state machine, without I/O. The
// session (lmtp.cpp) feeds it lines and writes what it answers; everything a client can
// send is judged here, so the hostile cases are unit-tested without sockets.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hermes/net/lmtp.hpp"

namespace hermes::net {

class LmtpMachine {
 public:
  enum class Next {
    command,   // read the next command line
    data,      // read DATA lines (on_data_line) until the end marker
    starttls,  // write the replies, then run the TLS handshake (tls_started())
    close,     // write the replies, then close
  };
  struct Step {
    std::string replies;  // CRLF-terminated reply lines to write
    Next next = Next::command;
  };
  // Longest command line accepted (RFC 5321 allows 512 with its extensions; we allow more).
  static constexpr std::size_t kMaxCommandLine = 2048;
  // Longest line inside DATA (RFC 5321: 1000 with the CRLF; some MTAs send longer).
  static constexpr std::size_t kMaxDataLine = 64 * 1024;
  // Errors before the session is closed (a client that is not speaking LMTP, or guessing
  // addresses: unknown recipients count).
  static constexpr int kMaxErrors = 10;
  // Commands in one session: then 421, and the MTA opens a new one. Bounds a client that
  // keeps a session alive forever with commands that are not errors (NOOP, RSET).
  static constexpr int kMaxCommands = 10'000;

  LmtpMachine(const LmtpSettings& settings, std::shared_ptr<const LmtpRoutes> routes, bool tls_available);

  std::string greeting() const;
  // A command line without its CRLF.
  Step on_command(std::string_view line);
  // One DATA line without its CRLF. True when it was the end marker ".".
  bool on_data_line(std::string_view line);
  // After the end marker: the message was refused as a whole (too large, bare LF or NUL):
  // the replies for every accepted recipient; empty when it can be delivered.
  std::string refused_data_replies() const;
  // The transaction to deliver (after DATA): envelope and message. Resets the transaction.
  struct Transaction {
    LmtpEnvelope envelope;  // every accepted recipient
    std::shared_ptr<const std::string> data;
    std::shared_ptr<const LmtpRoutes> routes;  // the addresses as RCPT judged them
  };
  Transaction take_transaction();
  // The session completed the TLS handshake: back to the start (the client must LHLO again).
  void tls_started();
  void reset_transaction();
  bool in_transaction() const { return mail_from_set_; }
  const std::shared_ptr<const LmtpRoutes>& routes() const { return routes_; }
  // A reload's addresses, for the next transaction (never in the middle of one).
  void set_routes(std::shared_ptr<const LmtpRoutes> routes) {
    if (routes && !in_transaction()) routes_ = std::move(routes);
  }

  // The client's address and the listener's name, for the envelope.
  void set_peer(std::string listener, IpAddress client) {
    listener_ = std::move(listener);
    client_ = client;
  }

 private:
  Step error(int code, std::string enhanced, std::string text);
  Step lhlo(std::string_view argument);
  Step mail(std::string_view argument);
  Step rcpt(std::string_view argument);
  Step data();

  LmtpSettings settings_;
  std::shared_ptr<const LmtpRoutes> routes_;
  bool tls_available_ = false;
  bool tls_active_ = false;
  bool greeted_ = false;
  bool mail_from_set_ = false;
  std::string lhlo_;
  std::string mail_from_;
  std::vector<std::string> recipients_;
  int errors_ = 0;
  int commands_ = 0;
  // DATA
  std::string data_;
  bool data_too_large_ = false;
  bool data_bad_bytes_ = false;
  std::string listener_;
  IpAddress client_;
};

}  // namespace hermes::net
