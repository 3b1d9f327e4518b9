#pragma once
// MIME for the email channel: what an incoming message says (parse_mail) and the reply
// Hermes sends (compose_reply). GMime and libxml2 stay in mime.cpp.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hermes::channels::email {

struct MailAddress {
  std::string name;     // display name, decoded to UTF-8 (RFC 2047); may be empty
  std::string address;  // local@domain as written (no angle brackets); empty when missing/unparseable
};

struct Attachment {
  std::string name;      // file name (RFC 2231/2047 decoded), or "" when none
  std::string type;      // e.g. "application/pdf"
  std::size_t size = 0;  // decoded bytes
};

struct ParsedMail {
  std::string message_id;                // without <>; empty when the header is missing
  std::vector<std::string> in_reply_to;  // message ids without <>
  std::vector<std::string> references;   // message ids without <>, in order
  std::string subject;                   // decoded to UTF-8
  MailAddress from;
  std::optional<MailAddress> reply_to;  // first Reply-To address
  std::vector<MailAddress> to, cc;
  std::string auto_submitted;  // the Auto-Submitted header's value, lower-cased, trimmed ("" when absent)
  std::string precedence;      // Precedence, lower-cased, trimmed
  bool list = false;           // List-Id or List-Unsubscribe present
  // What the agent reads: text/plain preferred in multipart/alternative; HTML-only converted to
  // text (html_to_text); quoted-printable/base64 decoded; any charset converted to UTF-8; LF line
  // endings; then quoted history and the signature trimmed (trim_quoted).
  std::string text;
  std::vector<Attachment> attachments;  // parts that are attachments (Content-Disposition attachment, or non-text leaves)
  std::string problem;  // non-empty: the bytes are not a usable message (e.g. no header block), text empty
};

// Never throws on any input; bounded work on hostile input (deeply nested multiparts: stop at
// depth 16; at most 100 parts considered; text capped at 64 KiB of UTF-8, cut at a character
// boundary).
ParsedMail parse_mail(std::string_view raw);

// The new text of a reply: drops the quoted history ("On … wrote:" / "Am … schrieb" style
// attribution line followed by '>' lines, trailing '>'-quoted blocks, "-----Original Message-----"
// / Outlook "From: … Sent: …" header blocks) and a signature after a line that is exactly "-- "
// (or "--"). Keeps inline '>' quotes that are followed by new text.
std::string trim_quoted(std::string_view text);

// HTML (UTF-8) to plain text with libxml2's HTML parser: block elements -> line breaks, <br>,
// list items "- ", links "text (url)", blockquote lines "> ", script/style/head dropped.
std::string html_to_text(std::string_view html);

// "Re: <subject>" without doubling an existing Re:/RE:/Re[2]:/AW:/Sv: prefix (keep the original as
// is then).
std::string reply_subject(std::string_view subject);

struct OutgoingMail {
  MailAddress from;                     // our address, e.g. {"Corp Support","support@corp.example"}
  MailAddress to;                       // the original sender (or their Reply-To)
  std::string subject;                  // the ORIGINAL subject; compose_reply applies reply_subject()
  std::string in_reply_to;              // the parent's Message-ID without <> ("" when none)
  std::vector<std::string> references;  // the parent's References (without <>) — compose_reply appends in_reply_to
  std::string text;                     // UTF-8 body
  std::string message_id;               // our new Message-ID without <> (the caller makes it: <random>@<from's domain>)
  std::int64_t date_unix = 0;           // Date header time (seconds since epoch, UTC)
};

// The full RFC 5322 message, CRLF line endings, ready for SMTP DATA (the caller dot-stuffs):
// headers From, To, Subject (RFC 2047 encoded when not ASCII), Date (RFC 5322 format),
// Message-ID, In-Reply-To and References (when there is a parent), MIME-Version: 1.0,
// Content-Type: text/plain; charset=utf-8, Content-Transfer-Encoding: quoted-printable,
// Auto-Submitted: auto-replied (RFC 3834); header lines folded at 78 characters; no bare LF; body
// lines ≤ 76 chars (QP soft breaks). Non-ASCII display names RFC 2047-encoded. Header values
// never contain CR/LF from input (stripped: header injection).
std::string compose_reply(const OutgoingMail& mail);

}  // namespace hermes::channels::email
