// The SMTP client's pure parts: reply parsing (multi-line, enhanced status codes, limits),
// EHLO extensions, dot-stuffing, AUTH encodings, classification and the credential rule.
#include <gtest/gtest.h>

#include <string>

#include "hermes/net/smtp.hpp"

namespace {

using hermes::net::SmtpOutcome;
using hermes::net::SmtpReply;
using hermes::net::SmtpReplyParser;

SmtpReply smtp_parse_lines(std::initializer_list<std::string_view> lines) {
  SmtpReplyParser parser;
  for (auto line : lines) {
    auto step = parser.feed(line);
    if (step == SmtpReplyParser::Step::error) return {};
  }
  return parser.reply();
}

TEST(SmtpReplyParser, SingleLine) {
  SmtpReplyParser parser;
  EXPECT_EQ(parser.feed("220 mail.example.org ESMTP ready"), SmtpReplyParser::Step::done);
  EXPECT_EQ(parser.reply().code, 220);
  ASSERT_EQ(parser.reply().lines.size(), 1u);
  EXPECT_EQ(parser.reply().lines[0], "mail.example.org ESMTP ready");
  EXPECT_EQ(parser.reply().enhanced, "");
}

TEST(SmtpReplyParser, MultiLineUntilTheSpaceSeparator) {
  SmtpReplyParser parser;
  EXPECT_EQ(parser.feed("250-mail.example.org Hello"), SmtpReplyParser::Step::more);
  EXPECT_EQ(parser.feed("250-SIZE 1000"), SmtpReplyParser::Step::more);
  EXPECT_EQ(parser.feed("250-"), SmtpReplyParser::Step::more);
  EXPECT_EQ(parser.feed("250 STARTTLS"), SmtpReplyParser::Step::done);
  const auto& r = parser.reply();
  EXPECT_EQ(r.code, 250);
  ASSERT_EQ(r.lines.size(), 4u);
  EXPECT_EQ(r.lines[1], "SIZE 1000");
  EXPECT_EQ(r.lines[2], "");
  EXPECT_EQ(r.lines[3], "STARTTLS");
}

TEST(SmtpReplyParser, BareCodeEndsTheReply) {
  SmtpReplyParser parser;
  EXPECT_EQ(parser.feed("354"), SmtpReplyParser::Step::done);
  EXPECT_EQ(parser.reply().code, 354);
  ASSERT_EQ(parser.reply().lines.size(), 1u);
  EXPECT_EQ(parser.reply().lines[0], "");
}

TEST(SmtpReplyParser, RejectsMalformedLines) {
  for (std::string_view bad : {"", "25", "2x0 ok", "250x ok", "150 early", "650 what", "abc def", "099 no"}) {
    SmtpReplyParser parser;
    EXPECT_EQ(parser.feed(bad), SmtpReplyParser::Step::error) << bad;
  }
}

TEST(SmtpReplyParser, RejectsACodeChangeInsideAReply) {
  SmtpReplyParser parser;
  EXPECT_EQ(parser.feed("250-one"), SmtpReplyParser::Step::more);
  EXPECT_EQ(parser.feed("251 two"), SmtpReplyParser::Step::error);
}

TEST(SmtpReplyParser, CapsTheNumberOfLines) {
  SmtpReplyParser parser;
  for (std::size_t i = 1; i < SmtpReplyParser::kMaxLines; ++i) {
    ASSERT_EQ(parser.feed("250-x"), SmtpReplyParser::Step::more) << i;
  }
  EXPECT_EQ(parser.feed("250-x"), SmtpReplyParser::Step::error);
  SmtpReplyParser fits;
  for (std::size_t i = 1; i < SmtpReplyParser::kMaxLines; ++i) fits.feed("250-x");
  EXPECT_EQ(fits.feed("250 last"), SmtpReplyParser::Step::done);
}

TEST(SmtpReplyParser, TakesTheEnhancedCodeFromTheFirstLine) {
  auto r = smtp_parse_lines({"451-4.3.0 Mail server temporarily rejected message", "451 4.3.0 try later"});
  EXPECT_EQ(r.code, 451);
  EXPECT_EQ(r.enhanced, "4.3.0");
  EXPECT_EQ(hermes::net::smtp_reply_detail(r), "smtp_451 4.3.0");
  auto plain = smtp_parse_lines({"550 no such user"});
  EXPECT_EQ(hermes::net::smtp_reply_detail(plain), "smtp_550");
}

TEST(SmtpEnhancedStatus, Rfc3463Syntax) {
  using hermes::net::smtp_enhanced_status;
  EXPECT_EQ(smtp_enhanced_status("5.1.1 User unknown"), "5.1.1");
  EXPECT_EQ(smtp_enhanced_status("2.0.0"), "2.0.0");
  EXPECT_EQ(smtp_enhanced_status("4.7.123 slow down"), "4.7.123");
  EXPECT_EQ(smtp_enhanced_status("5.123.45 x"), "5.123.45");
  EXPECT_EQ(smtp_enhanced_status("3.1.1 x"), "");       // no such class
  EXPECT_EQ(smtp_enhanced_status("5.1 x"), "");         // two parts
  EXPECT_EQ(smtp_enhanced_status("5.1.1234 x"), "");    // detail too long
  EXPECT_EQ(smtp_enhanced_status("5.1234.1 x"), "");    // subject too long
  EXPECT_EQ(smtp_enhanced_status("5.1.1x User"), "");   // not followed by a space
  EXPECT_EQ(smtp_enhanced_status("OK 5.1.1"), "");
  EXPECT_EQ(smtp_enhanced_status(""), "");
}

TEST(SmtpClassify, ByReplyClass) {
  using hermes::net::smtp_classify;
  EXPECT_EQ(smtp_classify(250), SmtpOutcome::sent);
  EXPECT_EQ(smtp_classify(221), SmtpOutcome::sent);
  EXPECT_EQ(smtp_classify(421), SmtpOutcome::retry);
  EXPECT_EQ(smtp_classify(451), SmtpOutcome::retry);
  EXPECT_EQ(smtp_classify(452), SmtpOutcome::retry);
  EXPECT_EQ(smtp_classify(550), SmtpOutcome::failed);
  EXPECT_EQ(smtp_classify(554), SmtpOutcome::failed);
  EXPECT_EQ(smtp_classify(0), SmtpOutcome::failed);
}

TEST(SmtpSanitize, PrintableAsciiAndBounded) {
  auto r = smtp_parse_lines({"550-5.1.1 bad\x01 \xc3\xa9", "550 second line"});
  EXPECT_EQ(hermes::net::smtp_sanitize(r), "5.1.1 bad? ?? second line");
  SmtpReply big;
  big.code = 550;
  big.lines = {std::string(150, 'a'), std::string(150, 'b')};
  auto text = hermes::net::smtp_sanitize(big);
  EXPECT_EQ(text.size(), 200u);
  EXPECT_EQ(text.substr(0, 151), std::string(150, 'a') + " ");
}

TEST(SmtpEhlo, ParsesTheExtensionsThatMatter) {
  auto r = smtp_parse_lines({"250-mail.example.org Hello STARTTLS", "250-PIPELINING", "250-size 35882577",
                             "250-8BITMIME", "250-AUTH LOGIN PLAIN XOAUTH2", "250 STARTTLS"});
  auto ext = hermes::net::smtp_parse_ehlo(r);
  EXPECT_TRUE(ext.starttls);
  EXPECT_TRUE(ext.size);
  EXPECT_EQ(ext.size_limit, 35882577u);
  EXPECT_TRUE(ext.eightbitmime);
  EXPECT_TRUE(ext.auth_plain);
  EXPECT_TRUE(ext.auth_login);
}

TEST(SmtpEhlo, TheGreetingLineIsNotAnExtension) {
  auto r = smtp_parse_lines({"250-STARTTLS is my host name", "250 SIZE"});
  auto ext = hermes::net::smtp_parse_ehlo(r);
  EXPECT_FALSE(ext.starttls);
  EXPECT_TRUE(ext.size);
  EXPECT_EQ(ext.size_limit, 0u);
  EXPECT_FALSE(ext.auth_plain);
}

TEST(SmtpEhlo, OldStyleAuthEqualsAndLoginOnly) {
  auto r = smtp_parse_lines({"250-host", "250 AUTH=LOGIN"});
  auto ext = hermes::net::smtp_parse_ehlo(r);
  EXPECT_TRUE(ext.auth_login);
  EXPECT_FALSE(ext.auth_plain);
}

TEST(SmtpDotStuff, DoublesLeadingDotsOnly) {
  using hermes::net::dot_stuff;
  EXPECT_EQ(dot_stuff(".hidden\r\nnot.here\r\n..two\r\n.\r\n"), "..hidden\r\nnot.here\r\n...two\r\n..\r\n");
  EXPECT_EQ(dot_stuff("a.b\r\n"), "a.b\r\n");
}

TEST(SmtpDotStuff, EnsuresTheTrailingCrlf) {
  using hermes::net::dot_stuff;
  EXPECT_EQ(dot_stuff("no newline"), "no newline\r\n");
  EXPECT_EQ(dot_stuff(".x"), "..x\r\n");
  EXPECT_EQ(dot_stuff("done\r\n"), "done\r\n");
  EXPECT_EQ(dot_stuff(""), "");
}

TEST(SmtpDotStuff, BareLineEndsBecomeCrlfSoNoneCanEndData) {
  using hermes::net::dot_stuff;
  // "\n.\n" and "\r.\r" are read as the end of DATA by some servers (SMTP smuggling).
  EXPECT_EQ(dot_stuff("a\n.\nb"), "a\r\n..\r\nb\r\n");
  EXPECT_EQ(dot_stuff("a\r.\rb\r\n"), "a\r\n..\r\nb\r\n");
  EXPECT_EQ(dot_stuff("a\r\n.\nMAIL FROM:<x>\r\n"), "a\r\n..\r\nMAIL FROM:<x>\r\n");
}

TEST(SmtpAuth, PlainIsBase64OfNulUserNulPassword) {
  // RFC 4616 section 4's example: "\0tim\0tanstaaftanstaaf".
  EXPECT_EQ(hermes::net::smtp_auth_plain("tim", "tanstaaftanstaaf"), "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
  EXPECT_EQ(hermes::net::smtp_auth_plain("", ""), "AAA=");
}

TEST(SmtpAuth, LoginStepsAreBase64) {
  EXPECT_EQ(hermes::net::smtp_auth_login_step("username"), "dXNlcm5hbWU=");
  EXPECT_EQ(hermes::net::smtp_auth_login_step("pässword"), "cMOkc3N3b3Jk");
}

TEST(SmtpCredentials, OnlyEncryptedOrLoopback) {
  using hermes::net::smtp_may_send_credentials;
  EXPECT_TRUE(smtp_may_send_credentials(true, "smtp.example.org"));
  EXPECT_FALSE(smtp_may_send_credentials(false, "smtp.example.org"));
  EXPECT_FALSE(smtp_may_send_credentials(false, "10.0.0.5"));
  EXPECT_FALSE(smtp_may_send_credentials(false, "localhost.example.org"));
  EXPECT_TRUE(smtp_may_send_credentials(false, "127.0.0.1"));
  EXPECT_TRUE(smtp_may_send_credentials(false, "127.10.0.1"));
  EXPECT_TRUE(smtp_may_send_credentials(false, "::1"));
  EXPECT_TRUE(smtp_may_send_credentials(false, "[::1]"));
  EXPECT_TRUE(smtp_may_send_credentials(false, "LocalHost"));
}

TEST(SmtpAddress, RefusesCommandInjection) {
  using hermes::net::smtp_valid_address;
  EXPECT_TRUE(smtp_valid_address("user@example.org"));
  EXPECT_TRUE(smtp_valid_address(""));  // the null reverse-path
  EXPECT_FALSE(smtp_valid_address("a@x>\r\nRCPT TO:<evil@y"));
  EXPECT_FALSE(smtp_valid_address("a@x\n"));
  EXPECT_FALSE(smtp_valid_address("a@x> SIZE=1"));
  EXPECT_FALSE(smtp_valid_address("<a@x"));
}

}  // namespace
