// Mail as an MTA hands it over (RFC 5322 + MIME, any charset, any nesting): parse_mail and
// what the email channel then runs on its text (trim_quoted, reply_subject, and the
// reply built from it).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "hermes/channels/email/mime.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace email = hermes::channels::email;
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  email::ParsedMail mail = email::parse_mail(raw);
  email::trim_quoted(mail.text);
  email::OutgoingMail reply;
  reply.from = {"Support", "support@corp.example"};
  reply.to = mail.reply_to ? *mail.reply_to : mail.from;
  reply.subject = mail.subject;
  reply.in_reply_to = mail.message_id;
  reply.references = mail.references;
  reply.text = "answer";
  reply.message_id = "fuzz@corp.example";
  email::compose_reply(reply);
  return 0;
}
