// Email MIME: parsing real-looking messages (bodies, charsets, encodings, threading and
// automation headers, attachments, hostile input), quote trimming, HTML to text, and the
// reply Hermes composes.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>

#include "hermes/channels/email/mime.hpp"

namespace hermes::channels::email {
namespace {

// Lines joined with CRLF, as a message arrives over SMTP/IMAP.
std::string mime_raw(std::initializer_list<std::string_view> lines) {
  std::string out;
  for (std::string_view line : lines) {
    out.append(line);
    out.append("\r\n");
  }
  return out;
}

std::vector<std::string> mime_test_lines(const std::string& message) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < message.size()) {
    const std::size_t end = message.find("\r\n", start);
    if (end == std::string::npos) {
      lines.push_back(message.substr(start));
      break;
    }
    lines.push_back(message.substr(start, end - start));
    start = end + 2;
  }
  return lines;
}

std::string mime_test_header_block(const std::string& message) { return message.substr(0, message.find("\r\n\r\n") + 2); }

// The unfolded value of header `name` in a composed message ("" when absent).
std::string mime_test_header(const std::string& message, std::string_view name) {
  const std::string head = mime_test_header_block(message);
  const std::string key = "\r\n" + std::string(name) + ":";
  std::size_t at = ("\r\n" + head).find(key);
  if (at == std::string::npos) return "";
  std::string value;
  std::size_t i = at + key.size() - 2;
  while (i < head.size()) {
    const std::size_t end = head.find("\r\n", i);
    value += head.substr(i, end - i);
    i = end + 2;
    if (i >= head.size() || (head[i] != ' ' && head[i] != '\t')) break;
  }
  const std::size_t first = value.find_first_not_of(' ');
  return first == std::string::npos ? "" : value.substr(first);
}

OutgoingMail mime_test_outgoing() {
  OutgoingMail m;
  m.from = {"Corp Support", "support@corp.example"};
  m.to = {"Ana Pereira", "ana@customer.example"};
  m.subject = "Invoice question";
  m.in_reply_to = "CAF=abc123@mail.gmail.com";
  m.references = {"root-1@customer.example", "mid-2@corp.example"};
  m.text = "Hello Ana,\nyour invoice is attached to your account.\n\nBest regards";
  m.message_id = "9f8e7d6c5b4a@corp.example";
  m.date_unix = 1796637600;  // Mon, 07 Dec 2026 10:00:00 +0000
  return m;
}

// --- parsing: bodies --------------------------------------------------------------------

TEST(EmailMimeParse, PlainTextMessage) {
  const std::string raw = mime_raw({
      "Return-Path: <ana@customer.example>",
      "Received: from mx.customer.example by mx.corp.example; Mon, 7 Dec 2026 10:00:01 +0000",
      "From: Ana Pereira <ana@customer.example>",
      "To: Corp Support <support@corp.example>, sales@corp.example",
      "Cc: \"Boss, The\" <boss@customer.example>",
      "Reply-To: Ana (work) <ana.work@customer.example>",
      "Subject: Invoice question",
      "Date: Mon, 7 Dec 2026 10:00:00 +0000",
      "Message-ID: <CAF=abc123@mail.gmail.com>",
      "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=UTF-8",
      "",
      "Hello,",
      "",
      "why was I charged twice this month?",
      "",
      "Ana",
  });
  const ParsedMail mail = parse_mail(raw);
  EXPECT_EQ(mail.problem, "");
  EXPECT_EQ(mail.message_id, "CAF=abc123@mail.gmail.com");
  EXPECT_EQ(mail.subject, "Invoice question");
  EXPECT_EQ(mail.from.name, "Ana Pereira");
  EXPECT_EQ(mail.from.address, "ana@customer.example");
  ASSERT_TRUE(mail.reply_to.has_value());
  EXPECT_EQ(mail.reply_to->address, "ana.work@customer.example");
  ASSERT_EQ(mail.to.size(), 2u);
  EXPECT_EQ(mail.to[0].name, "Corp Support");
  EXPECT_EQ(mail.to[0].address, "support@corp.example");
  EXPECT_EQ(mail.to[1].name, "");
  EXPECT_EQ(mail.to[1].address, "sales@corp.example");
  ASSERT_EQ(mail.cc.size(), 1u);
  EXPECT_EQ(mail.cc[0].name, "Boss, The");
  EXPECT_TRUE(mail.in_reply_to.empty());
  EXPECT_TRUE(mail.references.empty());
  EXPECT_EQ(mail.auto_submitted, "");
  EXPECT_EQ(mail.precedence, "");
  EXPECT_FALSE(mail.list);
  EXPECT_EQ(mail.text, "Hello,\n\nwhy was I charged twice this month?\n\nAna");
  EXPECT_TRUE(mail.attachments.empty());
}

TEST(EmailMimeParse, MissingHeadersAreEmpty) {
  const ParsedMail mail = parse_mail(mime_raw({"From: ana@customer.example", "", "hi"}));
  EXPECT_EQ(mail.problem, "");
  EXPECT_EQ(mail.message_id, "");
  EXPECT_EQ(mail.subject, "");
  EXPECT_EQ(mail.from.address, "ana@customer.example");
  EXPECT_FALSE(mail.reply_to.has_value());
  EXPECT_EQ(mail.text, "hi");
}

TEST(EmailMimeParse, AlternativePrefersPlainText) {
  const std::string raw = mime_raw({
      "From: ana@customer.example",
      "Subject: alt",
      "MIME-Version: 1.0",
      "Content-Type: multipart/alternative; boundary=\"000000000000b1c2d3\"",
      "",
      "--000000000000b1c2d3",
      "Content-Type: text/plain; charset=\"UTF-8\"",
      "",
      "The plain version.",
      "",
      "--000000000000b1c2d3",
      "Content-Type: text/html; charset=\"UTF-8\"",
      "",
      "<div dir=\"ltr\">The <b>HTML</b> version.</div>",
      "",
      "--000000000000b1c2d3--",
  });
  const ParsedMail mail = parse_mail(raw);
  EXPECT_EQ(mail.text, "The plain version.");
  EXPECT_TRUE(mail.attachments.empty());
}

TEST(EmailMimeParse, AlternativeWithRelatedHtmlFallsBackToHtml) {
  const std::string raw = mime_raw({
      "From: ana@customer.example",
      "Subject: alt",
      "Content-Type: multipart/alternative; boundary=outer",
      "",
      "--outer",
      "Content-Type: text/plain; charset=UTF-8",
      "",
      "",
      "--outer",
      "Content-Type: multipart/related; boundary=inner",
      "",
      "--inner",
      "Content-Type: text/html; charset=UTF-8",
      "",
      "<p>Only <i>rich</i> text here.</p><img src=\"cid:logo\">",
      "--inner",
      "Content-Type: image/png",
      "Content-ID: <logo>",
      "Content-Transfer-Encoding: base64",
      "",
      "iVBORw0KGgoAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
      "--inner--",
      "--outer--",
  });
  const ParsedMail mail = parse_mail(raw);
  EXPECT_EQ(mail.text, "Only rich text here.");
  ASSERT_EQ(mail.attachments.size(), 1u);
  EXPECT_EQ(mail.attachments[0].type, "image/png");
  EXPECT_EQ(mail.attachments[0].size, 32u);
}

TEST(EmailMimeParse, HtmlOnlyConvertedToText) {
  const std::string raw = mime_raw({
      "From: Shop <orders@shop.example>",
      "Subject: Your order",
      "MIME-Version: 1.0",
      "Content-Type: text/html; charset=utf-8",
      "Content-Transfer-Encoding: quoted-printable",
      "",
      "<html><head><title>Order</title><style>p { color: red; }</style></head><bod=",
      "y>",
      "<script>alert('x')</script>",
      "<p>Hello   Ana,<br>thanks for your order.</p>",
      "<ul><li>Item one</li><li>Item two</li></ul>",
      "<p>Track it <a href=3D\"https://shop.example/t/1\">here</a> or mail ",
      "<a href=3D\"mailto:help@shop.example\">help@shop.example</a>.</p>",
      "</body></html>",
  });
  const ParsedMail mail = parse_mail(raw);
  EXPECT_EQ(mail.problem, "");
  EXPECT_EQ(mail.text,
            "Hello Ana,\nthanks for your order.\n\n- Item one\n- Item two\n\n"
            "Track it here (https://shop.example/t/1) or mail help@shop.example.");
}

TEST(EmailMimeHtml, BlocksBreaksListsLinksAndDroppedElements) {
  EXPECT_EQ(html_to_text("<div>one</div><div>two<br>three</div><h1>Title</h1><p>para &amp; more&nbsp;text</p>"),
            "one\ntwo\nthree\n\nTitle\n\npara & more text");
  EXPECT_EQ(html_to_text("<ol><li>a<ul><li>a1</li></ul></li><li>b</li></ol>"), "- a\n  - a1\n- b");
  EXPECT_EQ(html_to_text("<a href=\"https://x.example/\">https://x.example/</a>"), "https://x.example/");
  EXPECT_EQ(html_to_text("<a href=\"#top\">top</a> <a href=\"javascript:void(0)\">js</a>"), "top js");
  EXPECT_EQ(html_to_text("<html><head><style>.a{}</style></head><body><script>var x = '<p>no</p>';</script>"
                         "<p>ok</p></body></html>"),
            "ok");
  EXPECT_EQ(html_to_text("<table><tr><td>Name</td><td>Ana</td></tr><tr><td>Plan</td><td>Pro</td></tr></table>"),
            "Name Ana\nPlan Pro");
  EXPECT_EQ(html_to_text("<pre>a  b\n  c</pre>"), "a  b\n  c");
  EXPECT_EQ(html_to_text("<p>Reply</p><blockquote><p>old line 1</p><p>old line 2</p></blockquote>"),
            "Reply\n\n> old line 1\n\n> old line 2");
  EXPECT_EQ(html_to_text(""), "");
  EXPECT_EQ(html_to_text("a < b & c > d"), "a < b & c > d");
  (void)html_to_text("<<<>>>&&&</p></div><li><a href=");
  EXPECT_EQ(html_to_text("plain words, no tags"), "plain words, no tags");
}

TEST(EmailMimeHtml, ADeepTreeIsBounded) {
  std::string html;
  for (int i = 0; i < 5000; ++i) html += "<div>";
  html += "deep";
  for (int i = 0; i < 5000; ++i) html += "</div>";
  (void)html_to_text(html);  // no crash, no stack exhaustion
  SUCCEED();
}

TEST(EmailMimeParse, QuotedPrintableBody) {
  const std::string raw = mime_raw({
      "From: ana@customer.example",
      "Subject: qp",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: quoted-printable",
      "",
      "Gr=C3=BC=C3=9Fe! This line is long enough that it needed a soft line brea=",
      "k to stay under 76 characters. 1+1=3D2",
  });
  EXPECT_EQ(parse_mail(raw).text,
            "Grüße! This line is long enough that it needed a soft line break to stay under 76 characters. 1+1=2");
}

TEST(EmailMimeParse, Base64Body) {
  const std::string raw = mime_raw({
      "From: ana@customer.example",
      "Subject: b64",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: base64",
      "",
      "SGFsbG8sIHdpZSBnZWh0IGVzIGRpcj8gSWNoIGhhYmUgZWluZSBGcmFnZSB6dSBtZWluZXIgUmVj",
      "aG51bmcuDQo=",
  });
  EXPECT_EQ(parse_mail(raw).text, "Hallo, wie geht es dir? Ich habe eine Frage zu meiner Rechnung.");
}

TEST(EmailMimeParse, CharsetsConvertedToUtf8) {
  auto body = [](std::string_view charset, std::string_view encoding, std::string_view content) {
    std::string raw = mime_raw({"From: ana@customer.example", "Subject: cs"});
    raw += "Content-Type: text/plain; charset=" + std::string(charset) + "\r\n";
    if (!encoding.empty()) raw += "Content-Transfer-Encoding: " + std::string(encoding) + "\r\n";
    raw += "\r\n" + std::string(content) + "\r\n";
    return parse_mail(raw).text;
  };
  EXPECT_EQ(body("ISO-8859-1", "quoted-printable", "Caf=E9 cr=E8me, =A3 5"), "Café crème, £ 5");
  EXPECT_EQ(body("iso-8859-1", "8bit", "na\xefve"), "naïve");
  EXPECT_EQ(body("windows-1252", "8bit", "\x93quoted\x94 \x80 10 \x96 ok"), "\xE2\x80\x9Cquoted\xE2\x80\x9D € 10 – ok");
  EXPECT_EQ(body("Shift_JIS", "base64", "k/qWe4zqgsyDgYFbg4uCxYK3"), "日本語のメールです");
  EXPECT_EQ(body("KOI8-R", "8bit", "\xf0\xd2\xc9\xd7\xc5\xd4, \xcd\xc9\xd2"), "Привет, мир");
  // Unknown or lying labels still give valid UTF-8.
  EXPECT_EQ(body("x-no-such-charset", "8bit", "plain ascii"), "plain ascii");
  EXPECT_EQ(body("utf-8", "8bit", "bad \xff\xfe bytes"), "bad ÿþ bytes");  // not UTF-8: read as Windows-1252
}

TEST(EmailMimeParse, EncodedWordsInSubjectAndNames) {
  const std::string raw = mime_raw({
      "From: =?ISO-8859-1?Q?Jos=E9_Garc=EDa?= <jose@customer.example>",
      "To: =?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4=?= <team@corp.example>",
      "Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4=?= =?ISO-8859-1?Q?_und_K=F6ln?=",
      "",
      "body",
  });
  const ParsedMail mail = parse_mail(raw);
  EXPECT_EQ(mail.subject, "Grüße aus München und Köln");
  EXPECT_EQ(mail.from.name, "José García");
  EXPECT_EQ(mail.from.address, "jose@customer.example");
  ASSERT_EQ(mail.to.size(), 1u);
  EXPECT_EQ(mail.to[0].name, "Grüße aus München");
}

TEST(EmailMimeParse, ThreadingHeaders) {
  const std::string raw = mime_raw({
      "From: ana@customer.example",
      "Subject: Re: thread",
      "Message-ID: <reply-3@customer.example>",
      "In-Reply-To: <mid-2@corp.example>",
      "References: <root-1@customer.example>",
      "\t<mid-2@corp.example>",
      "",
      "ok",
  });
  const ParsedMail mail = parse_mail(raw);
  EXPECT_EQ(mail.message_id, "reply-3@customer.example");
  EXPECT_EQ(mail.in_reply_to, std::vector<std::string>{"mid-2@corp.example"});
  EXPECT_EQ(mail.references, (std::vector<std::string>{"root-1@customer.example", "mid-2@corp.example"}));
}

TEST(EmailMimeParse, AutomationHeaders) {
  const std::string raw = mime_raw({
      "From: MAILER-DAEMON@corp.example",
      "Subject: Out of office",
      "Auto-Submitted:  Auto-Replied ",
      "Precedence: Bulk",
      "List-Id: Customers <customers.lists.example>",
      "",
      "I am away.",
  });
  const ParsedMail mail = parse_mail(raw);
  EXPECT_EQ(mail.auto_submitted, "auto-replied");
  EXPECT_EQ(mail.precedence, "bulk");
  EXPECT_TRUE(mail.list);
  const ParsedMail unsubscribe =
      parse_mail(mime_raw({"From: news@shop.example", "List-Unsubscribe: <mailto:u@shop.example>", "", "news"}));
  EXPECT_TRUE(unsubscribe.list);
  EXPECT_FALSE(unsubscribe.autoresponder);
  EXPECT_FALSE(unsubscribe.report);
  EXPECT_TRUE(parse_mail(mime_raw({"From: a@x.example", "List-Post: <mailto:l@x.example>", "", "x"})).list);
  const ParsedMail exchange = parse_mail(
      mime_raw({"From: a@x.example", "Subject: Automatic reply", "X-Auto-Response-Suppress: All", "", "away"}));
  EXPECT_TRUE(exchange.autoresponder);
  const ParsedMail receipt = parse_mail(mime_raw({
      "From: a@x.example", "Subject: Read: hello", "MIME-Version: 1.0",
      "Content-Type: multipart/report; report-type=disposition-notification; boundary=\"r\"", "", "--r",
      "Content-Type: text/plain", "", "Your message was read.", "--r--"}));
  EXPECT_TRUE(receipt.report);
}

TEST(EmailMimeParse, AttachmentsListedNotInlined) {
  const std::string raw = mime_raw({
      "From: ana@customer.example",
      "Subject: files",
      "MIME-Version: 1.0",
      "Content-Type: multipart/mixed; boundary=\"mixed-b\"",
      "",
      "This is a multi-part message in MIME format.",
      "--mixed-b",
      "Content-Type: text/plain; charset=utf-8",
      "",
      "Please see the attached documents.",
      "--mixed-b",
      "Content-Type: application/pdf; name=\"invoice.pdf\"",
      "Content-Disposition: attachment; filename=\"invoice.pdf\"",
      "Content-Transfer-Encoding: base64",
      "",
      "JVBERi0xLjQKJSBIZXJtZXMgdGVzdCBkb2N1bWVudAolJUVPRgo=",
      "--mixed-b",
      "Content-Type: application/pdf",
      "Content-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf",
      "Content-Transfer-Encoding: base64",
      "",
      "JVBERi0xLjQKJSBIZXJtZXMgdGVzdCBkb2N1bWVudAolJUVPRgo=",
      "--mixed-b",
      "Content-Type: text/plain; charset=utf-8; name=\"notes.txt\"",
      "Content-Disposition: attachment; filename=\"=?UTF-8?Q?N=C3=B6tes.txt?=\"",
      "",
      "SECRET ATTACHED TEXT",
      "--mixed-b",
      "Content-Type: image/png",
      "Content-Transfer-Encoding: base64",
      "",
      "iVBORw0KGgoAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
      "--mixed-b--",
  });
  const ParsedMail mail = parse_mail(raw);
  EXPECT_EQ(mail.text, "Please see the attached documents.");
  ASSERT_EQ(mail.attachments.size(), 4u);
  EXPECT_EQ(mail.attachments[0].name, "invoice.pdf");
  EXPECT_EQ(mail.attachments[0].type, "application/pdf");
  EXPECT_EQ(mail.attachments[0].size, 38u);
  EXPECT_EQ(mail.attachments[1].name, "résumé.pdf");
  EXPECT_EQ(mail.attachments[2].name, "Nötes.txt");
  EXPECT_EQ(mail.attachments[2].type, "text/plain");
  EXPECT_EQ(mail.attachments[3].name, "");
  EXPECT_EQ(mail.attachments[3].type, "image/png");
  EXPECT_EQ(mail.attachments[3].size, 32u);
  EXPECT_EQ(mail.text.find("SECRET"), std::string::npos);
  EXPECT_EQ(mail.text.find("JVBER"), std::string::npos);
}

TEST(EmailMimeParse, ForwardedMessageIsAnAttachment) {
  const std::string raw = mime_raw({
      "From: ana@customer.example",
      "Subject: Fwd: original",
      "Content-Type: multipart/mixed; boundary=b",
      "",
      "--b",
      "Content-Type: text/plain",
      "",
      "See below.",
      "--b",
      "Content-Type: message/rfc822",
      "",
      "From: other@example.org",
      "Subject: original",
      "",
      "inner body",
      "--b--",
  });
  const ParsedMail mail = parse_mail(raw);
  EXPECT_EQ(mail.text, "See below.");
  ASSERT_EQ(mail.attachments.size(), 1u);
  EXPECT_EQ(mail.attachments[0].type, "message/rfc822");
  EXPECT_GT(mail.attachments[0].size, 0u);
}

TEST(EmailMimeParse, FormatFlowedIsUnwrapped) {
  const std::string raw = mime_raw({
      "From: ana@customer.example",
      "Subject: flowed",
      "Content-Type: text/plain; charset=utf-8; format=flowed",
      "",
      "This paragraph was wrapped by the sender's ",
      "client at a short width.",
      "Next line.",
  });
  EXPECT_EQ(parse_mail(raw).text, "This paragraph was wrapped by the sender's client at a short width.\nNext line.");
}

// --- parsing: the reply part of the text ---------------------------------------------------

TEST(EmailMimeTrim, GmailAttributionAndQuote) {
  EXPECT_EQ(trim_quoted("Thanks, that worked!\n\nOn Mon, 7 Dec 2026 at 10:00, Ana <a@x> wrote:\n"
                        "> Did you try turning it off and on?\n>\n> Support\n"),
            "Thanks, that worked!");
  // Gmail wraps a long attribution line.
  EXPECT_EQ(trim_quoted("Yes please.\r\n\r\nOn Mon, 7 Dec 2026 at 10:00, Ana Maria Pereira da Silva <\r\n"
                        "ana.maria@customer.example> wrote:\r\n\r\n> Shall we upgrade you?\r\n"),
            "Yes please.");
}

TEST(EmailMimeTrim, OtherLanguagesAttribution) {
  EXPECT_EQ(trim_quoted("Danke!\n\nAm 07.12.2026 um 10:00 schrieb Ana <a@x>:\n> Hallo\n"), "Danke!");
  EXPECT_EQ(trim_quoted("Merci.\n\nLe lun. 7 déc. 2026 à 10:00, Ana <a@x> a écrit :\n> Bonjour\n"), "Merci.");
}

TEST(EmailMimeTrim, OutlookOriginalMessage) {
  EXPECT_EQ(trim_quoted("Please cancel it.\r\n\r\n-----Original Message-----\r\nFrom: Support\r\n"
                        "Sent: Monday\r\nSubject: Offer\r\n\r\nBuy now\r\n"),
            "Please cancel it.");
}

TEST(EmailMimeTrim, OutlookHeaderBlock) {
  EXPECT_EQ(trim_quoted("Sounds good.\n\nKind regards\nAna\n\n________________________________\n"
                        "From: Corp Support <support@corp.example>\nSent: Monday, December 7, 2026 10:00 AM\n"
                        "To: Ana Pereira <ana@customer.example>\nSubject: Your plan\n\nHello Ana, ...\n"),
            "Sounds good.\n\nKind regards\nAna");
  EXPECT_EQ(trim_quoted("Ok.\n\n*From:* Corp Support\n*Sent:* Monday\n*To:* Ana\n*Subject:* Plan\n\nold\n"), "Ok.");
}

TEST(EmailMimeTrim, SignatureDropped) {
  EXPECT_EQ(trim_quoted("Where is my parcel?\n\n-- \nAna Pereira\nHead of Things\n+1 555 0100\n"),
            "Where is my parcel?");
  EXPECT_EQ(trim_quoted("Question.\n--\nsig"), "Question.");
  EXPECT_EQ(trim_quoted("a -- b\n--- not a separator\nc"), "a -- b\n--- not a separator\nc");
}

TEST(EmailMimeTrim, InlineQuotesFollowedByNewTextKept) {
  const std::string text =
      "On Mon, 7 Dec 2026 at 10:00, Support <s@x> wrote:\n> Which plan are you on?\nPro.\n"
      "> And since when?\nSince March.\n";
  EXPECT_EQ(trim_quoted(text),
            "On Mon, 7 Dec 2026 at 10:00, Support <s@x> wrote:\n> Which plan are you on?\nPro.\n"
            "> And since when?\nSince March.");
}

TEST(EmailMimeTrim, ForwardedMessageKept) {
  const std::string text =
      "Please look at this.\n\n---------- Forwarded message ---------\nFrom: Bank <b@bank.example>\n"
      "Date: Mon, 7 Dec 2026\nSubject: Notice\nTo: <ana@customer.example>\n\nYour account...";
  EXPECT_EQ(trim_quoted(text), text);
}

TEST(EmailMimeTrim, OnlyHistoryIsKept) {
  EXPECT_EQ(trim_quoted("> just a quote\n> nothing else\n"), "> just a quote\n> nothing else");
  EXPECT_EQ(trim_quoted(""), "");
}

TEST(EmailMimeParse, HtmlGmailQuoteTrimmed) {
  const std::string raw = mime_raw({
      "From: ana@customer.example",
      "Subject: Re: plan",
      "Content-Type: text/html; charset=UTF-8",
      "",
      "<div dir=\"ltr\">Yes, upgrade me.</div><br><div class=\"gmail_quote\"><div dir=\"ltr\" "
      "class=\"gmail_attr\">On Mon, 7 Dec 2026 at 10:00, Support &lt;s@corp.example&gt; wrote:<br></div>"
      "<blockquote class=\"gmail_quote\"><div>Shall we upgrade you?</div></blockquote></div>",
  });
  EXPECT_EQ(parse_mail(raw).text, "Yes, upgrade me.");
}

// --- parsing: hostile input ---------------------------------------------------------------

TEST(EmailMimeHostile, EmptyAndHeaderless) {
  EXPECT_NE(parse_mail("").problem, "");
  EXPECT_NE(parse_mail("\r\n\r\n").problem, "");
  const ParsedMail prose = parse_mail("hello, this is not an email at all\r\njust words\r\n");
  EXPECT_NE(prose.problem, "");
  EXPECT_EQ(prose.text, "");
  const ParsedMail body_only = parse_mail("\r\nonly a body\r\n");
  EXPECT_NE(body_only.problem, "");
  EXPECT_EQ(body_only.text, "");
}

TEST(EmailMimeHostile, TenMegabytesOfGarbage) {
  std::mt19937 rng(12345);
  std::string garbage(10u << 20, '\0');
  for (std::size_t i = 0; i + 4 <= garbage.size(); i += 4) {
    const std::uint32_t word = static_cast<std::uint32_t>(rng());
    std::memcpy(&garbage[i], &word, 4);
  }
  const ParsedMail mail = parse_mail(garbage);
  EXPECT_NE(mail.problem, "");
  EXPECT_EQ(mail.text, "");
  // Garbage after a valid header block: a message, with bounded text.
  const ParsedMail tail = parse_mail(mime_raw({"From: a@b.example", "Subject: junk", ""}) + garbage);
  EXPECT_EQ(tail.problem, "");
  EXPECT_LE(tail.text.size(), 64u * 1024u);
}

TEST(EmailMimeHostile, ThousandNestedMultiparts) {
  std::string raw = mime_raw({"From: a@b.example", "Subject: nest", "MIME-Version: 1.0"});
  for (int i = 0; i < 1000; ++i)
    raw += "Content-Type: multipart/mixed; boundary=\"b" + std::to_string(i) + "\"\r\n\r\n--b" + std::to_string(i) +
           "\r\n";
  raw += "Content-Type: text/plain\r\n\r\ndeep text\r\n";
  for (int i = 999; i >= 0; --i) raw += "--b" + std::to_string(i) + "--\r\n";
  const ParsedMail mail = parse_mail(raw);
  EXPECT_EQ(mail.problem, "");
  EXPECT_EQ(mail.text, "");  // below depth 16: not looked at
  EXPECT_EQ(mail.subject, "nest");
}

TEST(EmailMimeHostile, UnclosedNestingAndHugeHeaderBlocks) {
  std::string nested = mime_raw({"From: a@b.example", "Subject: unclosed"});
  while (nested.size() < (4u << 20))
    nested += "Content-Type: multipart/mixed; boundary=\"n" + std::to_string(nested.size()) + "\"\r\n\r\n--n" +
              std::to_string(nested.size()) + "\r\n";
  EXPECT_EQ(parse_mail(nested).subject, "unclosed");

  std::string headers = mime_raw({"From: Ana <ana@customer.example>", "Subject: many headers"});
  while (headers.size() < (1u << 20)) headers += "X-Junk: yes\r\n";
  const ParsedMail cut = parse_mail(headers + "\r\nthe body\r\n");
  EXPECT_EQ(cut.problem, "");
  EXPECT_EQ(cut.subject, "many headers");
  EXPECT_EQ(cut.from.address, "ana@customer.example");
  EXPECT_EQ(cut.text, "the body");
  EXPECT_EQ(parse_mail(headers).subject, "many headers");  // no body at all
  const ParsedMail one_line = parse_mail("From: a@b.example\r\nSubject: " + std::string(1u << 20, 'x') + "\r\n\r\nbody");
  EXPECT_EQ(one_line.from.address, "a@b.example");
  EXPECT_EQ(one_line.text, "body");
}

TEST(EmailMimeHostile, ShallowNestingIsRead) {
  std::string raw = mime_raw({"From: a@b.example", "Subject: nest"});
  for (int i = 0; i < 10; ++i)
    raw += "Content-Type: multipart/mixed; boundary=\"b" + std::to_string(i) + "\"\r\n\r\n--b" + std::to_string(i) +
           "\r\n";
  raw += "Content-Type: text/plain\r\n\r\ndeep text\r\n";
  for (int i = 9; i >= 0; --i) raw += "--b" + std::to_string(i) + "--\r\n";
  EXPECT_EQ(parse_mail(raw).text, "deep text");
}

TEST(EmailMimeHostile, ManyPartsAreCapped) {
  std::string raw = mime_raw({"From: a@b.example", "Subject: parts", "Content-Type: multipart/mixed; boundary=m", ""});
  for (int i = 0; i < 1000; ++i)
    raw += "--m\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=f" +
           std::to_string(i) + ".bin\r\n\r\nxx\r\n";
  raw += "--m--\r\n";
  const ParsedMail mail = parse_mail(raw);
  EXPECT_EQ(mail.problem, "");
  EXPECT_LE(mail.attachments.size(), 100u);
  EXPECT_GT(mail.attachments.size(), 50u);
}

TEST(EmailMimeHostile, MissingBoundary) {
  const std::string raw = mime_raw({
      "From: a@b.example",
      "Subject: no boundary",
      "Content-Type: multipart/mixed",
      "",
      "--whatever",
      "Content-Type: text/plain",
      "",
      "text",
      "--whatever--",
  });
  const ParsedMail mail = parse_mail(raw);  // no crash; whatever GMime makes of it
  EXPECT_EQ(mail.problem, "");
  EXPECT_EQ(mail.subject, "no boundary");
}

TEST(EmailMimeHostile, NulBytesAndControls) {
  std::string raw = mime_raw({"From: a@b.example", "Subject: nul"});
  raw += std::string("Content-Type: text/plain\r\n\r\nbefore\0after\x01\x1b[31m red\r\n", 46);
  const ParsedMail mail = parse_mail(raw);
  EXPECT_EQ(mail.problem, "");
  EXPECT_EQ(mail.text.find('\0'), std::string::npos);
  EXPECT_EQ(mail.text.find('\x1b'), std::string::npos);
  EXPECT_NE(mail.text.find("before"), std::string::npos);
  EXPECT_NE(mail.text.find("after"), std::string::npos);
  (void)parse_mail(std::string("\0\0\0\0From: x\r\n\r\n\0", 17));
}

TEST(EmailMimeHostile, TextCappedAtCharacterBoundary) {
  std::string body;
  while (body.size() < 100'000) body += "äöü € ";
  std::string raw = mime_raw({"From: a@b.example", "Subject: big", "Content-Type: text/plain; charset=utf-8", ""});
  raw += body + "\r\n";
  const ParsedMail mail = parse_mail(raw);
  EXPECT_LE(mail.text.size(), 64u * 1024u);
  EXPECT_GT(mail.text.size(), 64u * 1024u - 4u);
  // Still valid UTF-8 at the end: a whole "€" or a whole umlaut or ASCII.
  const auto last = static_cast<unsigned char>(mail.text.back());
  EXPECT_TRUE(last < 0x80 || last == 0xA4 || last == 0xB6 || last == 0xBC || last == 0xAC);
}

// --- replies ----------------------------------------------------------------------------

TEST(EmailMimeReply, SubjectPrefixNotDoubled) {
  EXPECT_EQ(reply_subject("Invoice question"), "Re: Invoice question");
  EXPECT_EQ(reply_subject("Re: Invoice question"), "Re: Invoice question");
  EXPECT_EQ(reply_subject("RE: Invoice"), "RE: Invoice");
  EXPECT_EQ(reply_subject("re: lower"), "re: lower");
  EXPECT_EQ(reply_subject("Re[2]: Invoice"), "Re[2]: Invoice");
  EXPECT_EQ(reply_subject("AW: Rechnung"), "AW: Rechnung");
  EXPECT_EQ(reply_subject("Sv: Faktura"), "Sv: Faktura");
  EXPECT_EQ(reply_subject("Fwd: Invoice"), "Re: Fwd: Invoice");
  EXPECT_EQ(reply_subject("Regarding invoices"), "Re: Regarding invoices");
  EXPECT_EQ(reply_subject("Rechnung"), "Re: Rechnung");
  EXPECT_EQ(reply_subject(""), "Re:");
}

TEST(EmailMimeReply, ComposeHasTheHeaders) {
  const std::string out = compose_reply(mime_test_outgoing());
  EXPECT_EQ(mime_test_header(out, "From"), "Corp Support <support@corp.example>");
  EXPECT_EQ(mime_test_header(out, "To"), "Ana Pereira <ana@customer.example>");
  EXPECT_EQ(mime_test_header(out, "Subject"), "Re: Invoice question");
  EXPECT_EQ(mime_test_header(out, "Date"), "Mon, 07 Dec 2026 10:00:00 +0000");
  EXPECT_EQ(mime_test_header(out, "Message-ID"), "<9f8e7d6c5b4a@corp.example>");
  EXPECT_EQ(mime_test_header(out, "In-Reply-To"), "<CAF=abc123@mail.gmail.com>");
  EXPECT_EQ(mime_test_header(out, "References"),
            "<root-1@customer.example> <mid-2@corp.example> <CAF=abc123@mail.gmail.com>");
  EXPECT_EQ(mime_test_header(out, "MIME-Version"), "1.0");
  EXPECT_EQ(mime_test_header(out, "Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(mime_test_header(out, "Content-Transfer-Encoding"), "quoted-printable");
  EXPECT_EQ(mime_test_header(out, "Auto-Submitted"), "auto-replied");

  OutgoingMail first = mime_test_outgoing();
  first.subject = "Re: Invoice question";
  first.in_reply_to.clear();
  first.references.clear();
  const std::string fresh = compose_reply(first);
  EXPECT_EQ(mime_test_header(fresh, "Subject"), "Re: Invoice question");
  EXPECT_EQ(fresh.find("In-Reply-To:"), std::string::npos);
  EXPECT_EQ(fresh.find("References:"), std::string::npos);
}

TEST(EmailMimeReply, ParsesBackThroughParseMail) {
  OutgoingMail m = mime_test_outgoing();
  m.from.name = "Équipe Support";
  m.to.name = "Pereira, Ana";
  m.subject = "Frage zur Rechnung Nr. 4711 — Grüße aus München, bitte um schnelle Antwort wegen Überweisung";
  m.text =
      "Grüße Ana,\n"
      "a line with = signs, 100% sure, and a trailing space \n"
      "From the start of a line.\n"
      "." "\n"
      "\ttab-indented\n"
      "A very long line that goes on and on and on well past the seventy-six character limit of "
      "quoted-printable lines, with ünïcödé sprinkled in so encoded triplets straddle the soft breaks €€€€€€€€.\n"
      "日本語のメールです。";
  const std::string out = compose_reply(m);
  const ParsedMail back = parse_mail(out);
  EXPECT_EQ(back.problem, "");
  EXPECT_EQ(back.subject, "Re: " + m.subject);
  EXPECT_EQ(back.from.name, "Équipe Support");
  EXPECT_EQ(back.from.address, "support@corp.example");
  ASSERT_EQ(back.to.size(), 1u);
  EXPECT_EQ(back.to[0].name, "Pereira, Ana");
  EXPECT_EQ(back.to[0].address, "ana@customer.example");
  EXPECT_EQ(back.message_id, "9f8e7d6c5b4a@corp.example");
  EXPECT_EQ(back.in_reply_to, std::vector<std::string>{"CAF=abc123@mail.gmail.com"});
  EXPECT_EQ(back.references,
            (std::vector<std::string>{"root-1@customer.example", "mid-2@corp.example", "CAF=abc123@mail.gmail.com"}));
  EXPECT_EQ(back.auto_submitted, "auto-replied");
  EXPECT_EQ(back.text, m.text);
}

TEST(EmailMimeReply, LinesAreCrlfFoldedAndBounded) {
  OutgoingMail m = mime_test_outgoing();
  m.subject = "A rather long subject line that keeps going so that it will certainly need folding somewhere";
  m.references.clear();
  for (int i = 0; i < 12; ++i) m.references.push_back("ref-" + std::to_string(i) + "-abcdefghij@customer.example");
  m.text = std::string(300, 'x') + "\n" + std::string(200, '=');
  const std::string out = compose_reply(m);
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '\n') {
      ASSERT_TRUE(i > 0 && out[i - 1] == '\r') << "bare LF at " << i;
    }
    if (out[i] == '\r') {
      ASSERT_TRUE(i + 1 < out.size() && out[i + 1] == '\n') << "bare CR at " << i;
    }
  }
  ASSERT_GE(out.size(), 2u);
  EXPECT_EQ(out.substr(out.size() - 2), "\r\n");
  const std::string head = mime_test_header_block(out);
  for (const std::string& line : mime_test_lines(head)) EXPECT_LE(line.size(), 78u) << line;
  const std::string body = out.substr(head.size() + 2);
  for (const std::string& line : mime_test_lines(body)) EXPECT_LE(line.size(), 76u) << line;
  EXPECT_EQ(mime_test_header(out, "Subject"), "Re: " + m.subject);
  EXPECT_NE(head.find("\r\n "), std::string::npos);  // something was folded
  EXPECT_EQ(parse_mail(out).text, m.text);
}

TEST(EmailMimeReply, NonAsciiSubjectEncoded) {
  OutgoingMail m = mime_test_outgoing();
  m.subject = "Grüße aus München";
  m.to.name = "José García";
  const std::string out = compose_reply(m);
  const std::string head = mime_test_header_block(out);
  for (unsigned char c : head) EXPECT_LT(c, 0x80);
  EXPECT_NE(mime_test_header(out, "Subject").find("=?utf-8?q?"), std::string::npos);
  const ParsedMail back = parse_mail(out);
  EXPECT_EQ(back.subject, "Re: Grüße aus München");
  ASSERT_EQ(back.to.size(), 1u);
  EXPECT_EQ(back.to[0].name, "José García");
}

TEST(EmailMimeReply, CrLfInInputCannotInjectHeaders) {
  OutgoingMail m = mime_test_outgoing();
  m.subject = "Hello\r\nBcc: victim@evil.example\r\n\r\nInjected body";
  m.to.name = "Ana\nX-Evil: 1";
  m.to.address = "ana@customer.example\r\nCc: other@evil.example";
  m.from.name = "Support\r";
  m.message_id = "id@corp.example>\r\nX-Injected: yes";
  m.in_reply_to = "parent@x\nX-Injected2: yes";
  m.references = {"r@x\r\nX-Injected3: yes"};
  const std::string out = compose_reply(m);
  const std::string head = mime_test_header_block(out);
  for (const std::string& line : mime_test_lines(head)) {
    if (line.empty()) continue;
    const bool continuation = line[0] == ' ' || line[0] == '\t';
    if (continuation) continue;
    const std::string name = line.substr(0, line.find(':'));
    EXPECT_TRUE(name == "From" || name == "To" || name == "Subject" || name == "Date" || name == "Message-ID" ||
                name == "In-Reply-To" || name == "References" || name == "MIME-Version" || name == "Content-Type" ||
                name == "Content-Transfer-Encoding" || name == "Auto-Submitted")
        << line;
  }
  const ParsedMail back = parse_mail(out);
  EXPECT_EQ(back.subject, "Re: Hello Bcc: victim@evil.example Injected body");
  EXPECT_TRUE(back.cc.empty());
  EXPECT_EQ(back.text, m.text);
}

}  // namespace
}  // namespace hermes::channels::email
