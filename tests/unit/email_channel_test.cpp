// The email channel's configuration, its loop guard (RFC 3834) and allowlist.
#include <gtest/gtest.h>

#include "hermes/app/registries.hpp"
#include "hermes/channels/email.hpp"
#include "hermes/config/loader.hpp"

namespace hermes::channels::email {
namespace {

config::LoadResult load_mail(const std::string& listener, const std::string& channel) {
  config::SecretEnvironment env;
  env.getenv = [](const std::string&) -> std::optional<std::string> { return std::string("s3cret"); };
  return config::load_string("listeners:\n  - " + listener + "\nchannels:\n  - " + channel + "\n", "hermes.yaml", env,
                             &app::builtin_registries());
}

const char* const kMailListener = "{name: mail-in, bind: lan, port: 2424, protocol: lmtp}";
const char* const kMailChannel =
    "{name: mail, type: email, listener: mail-in, addresses: [Billing@Corp.example, support@corp.example],\n"
    "     from: \"Corp Support <support@corp.example>\",\n"
    "     smtp: {host: smtp.corp.example, username: hermes, password: \"${env:SMTP}\"}}";

const EmailSpec& mail_spec(const config::LoadResult& r) {
  return dynamic_cast<const EmailSpec&>(*r.config->channels.at(0));
}

TEST(EmailConfig, TheIssuesShapeLoadsWithItsDefaults) {
  auto r = load_mail(kMailListener, kMailChannel);
  ASSERT_TRUE(r.ok()) << config::format_errors(r.errors);
  const auto& spec = mail_spec(r);
  EXPECT_EQ(spec.addresses, (std::vector<std::string>{"billing@corp.example", "support@corp.example"}));
  EXPECT_EQ(spec.from.name, "Corp Support");
  EXPECT_EQ(spec.from.address, "support@corp.example");
  EXPECT_EQ(spec.envelope_from, "") << "the null reverse-path by default (RFC 3834)";
  EXPECT_EQ(spec.smtp.port, 587);
  EXPECT_EQ(spec.smtp.security, SmtpSecurityMode::starttls);
  EXPECT_TRUE(spec.smtp.tls.verify);
  EXPECT_EQ(r.config->listeners[0].protocol, config::ListenerProtocol::lmtp);
  EXPECT_FALSE(r.config->listeners[0].admin) << "no admin endpoints on an LMTP port";
}

TEST(EmailConfig, MistakesAreNamedWithTheirPlace) {
  auto text = config::format_errors(load_mail("{name: mail-in, port: 2424}", kMailChannel).errors);
  EXPECT_NE(text.find("channels[0].listener: a email channel needs a listener with protocol: lmtp; 'mail-in' is http"),
            std::string::npos)
      << text;
  text = config::format_errors(
      load_mail("{name: mail-in, port: 2424, protocol: lmtp, body_limit: 1MiB, admin: true}", kMailChannel).errors);
  EXPECT_NE(text.find("listeners[0].body_limit: body_limit does not apply to an lmtp listener"), std::string::npos)
      << text;
  EXPECT_NE(text.find("listeners[0].admin: admin does not apply to an lmtp listener"), std::string::npos) << text;
  text = config::format_errors(load_mail("{name: web, port: 8080, max_message_size: 1MiB}",
                                         "{name: api, type: api, listener: web}")
                                   .errors);
  EXPECT_NE(text.find("listeners[0].max_message_size: max_message_size applies to lmtp listeners only"),
            std::string::npos)
      << text;
  text = config::format_errors(
      load_mail(kMailListener,
                "{name: mail, type: email, listener: mail-in, addresses: [not-an-address], from: support,\n"
                "     smtp: {host: smtp.corp.example, security: none, username: hermes, tls: {verify: false}}}")
          .errors);
  EXPECT_NE(text.find("channels[0].addresses[0]: 'not-an-address' is not an email address"), std::string::npos) << text;
  EXPECT_NE(text.find("channels[0].from: from must be an address"), std::string::npos) << text;
  EXPECT_NE(text.find("channels[0].smtp.security: security: none is allowed only for a submission server on loopback"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("channels[0].smtp.password: password is required with username"), std::string::npos) << text;
  EXPECT_NE(text.find("channels[0].smtp.tls.verify: verify: false is allowed only for a peer on loopback"),
            std::string::npos)
      << text;
}

ParsedMail guard_mail(const std::string& from) {
  ParsedMail m;
  m.message_id = "abc@customer.example";
  m.from.address = from;
  return m;
}

TEST(EmailLoopGuard, AutomaticMailIsNeverAnswered) {
  auto r = load_mail(kMailListener, kMailChannel);
  ASSERT_TRUE(r.ok());
  const auto& spec = mail_spec(r);
  auto m = guard_mail("ana@customer.example");
  EXPECT_EQ(loop_guard(m, "ana@customer.example", spec), "");
  m.auto_submitted = "no";
  EXPECT_EQ(loop_guard(m, "ana@customer.example", spec), "") << "Auto-Submitted: no is a person";
  m.auto_submitted = "auto-replied";
  EXPECT_EQ(loop_guard(m, "ana@customer.example", spec), "auto_submitted");
  m = guard_mail("ana@customer.example");
  m.precedence = "bulk";
  EXPECT_EQ(loop_guard(m, "ana@customer.example", spec), "precedence_bulk");
  m = guard_mail("ana@customer.example");
  m.list = true;
  EXPECT_EQ(loop_guard(m, "ana@customer.example", spec), "mailing_list");
  EXPECT_EQ(loop_guard(guard_mail("ana@customer.example"), "", spec), "null_reverse_path");
  for (const char* system : {"MAILER-DAEMON@mx.example", "postmaster@x.example", "noreply@shop.example",
                             "no-reply@shop.example", "no-reply+orders@shop.example"}) {
    EXPECT_EQ(loop_guard(guard_mail(system), "x@shop.example", spec), "system_sender") << system;
  }
  EXPECT_EQ(loop_guard(guard_mail("Support@Corp.Example"), "x@corp.example", spec), "own_address");
  auto ours = guard_mail("ana@customer.example");
  MailAddress from{"", "support@corp.example"};
  ours.message_id = reply_message_id("mail", "abc@customer.example", 0, from);
  EXPECT_EQ(loop_guard(ours, "ana@customer.example", spec), "own_message") << "our reply, come back";
  EXPECT_EQ(loop_guard(guard_mail(""), "x@y.example", spec), "no_sender");
  m = guard_mail("ana@customer.example");
  m.autoresponder = true;
  EXPECT_EQ(loop_guard(m, "ana@customer.example", spec), "auto_submitted") << "X-Autoreply and friends";
  m = guard_mail("ana@customer.example");
  m.precedence = "auto_reply";
  EXPECT_EQ(loop_guard(m, "ana@customer.example", spec), "auto_submitted");
  m = guard_mail("ana@customer.example");
  m.report = true;
  EXPECT_EQ(loop_guard(m, "ana@customer.example", spec), "report");
  auto reply_to_system = guard_mail("ana@customer.example");
  reply_to_system.reply_to = MailAddress{"", "noreply@customer.example"};
  EXPECT_EQ(loop_guard(reply_to_system, "ana@customer.example", spec), "system_sender") << "the reply would go there";
  auto reply_to_us = guard_mail("ana@customer.example");
  reply_to_us.reply_to = MailAddress{"", "billing@corp.example"};
  EXPECT_EQ(loop_guard(reply_to_us, "ana@customer.example", spec), "own_address");
  EXPECT_EQ(loop_guard(guard_mail("owner-announce@lists.example"), "x@lists.example", spec), "system_sender");
  EXPECT_EQ(loop_guard(guard_mail("announce-request@lists.example"), "x@lists.example", spec), "system_sender");
}

TEST(EmailLoopGuard, TheAllowlistTakesAddressesAndDomains) {
  std::vector<std::string> allowed = {"@customer.example", "alice@partner.example"};
  EXPECT_TRUE(sender_allowed("Bo@Customer.Example", allowed));
  EXPECT_TRUE(sender_allowed("alice@partner.example", allowed));
  EXPECT_FALSE(sender_allowed("bob@partner.example", allowed));
  EXPECT_FALSE(sender_allowed("x@evilcustomer.example", allowed)) << "a domain, not a suffix";
  EXPECT_TRUE(sender_allowed("anyone@anywhere.example", {}));
}

TEST(EmailReplies, TheReplyMessageIdIsStableAcrossRetries) {
  MailAddress from{"Corp", "support@corp.example"};
  auto a = reply_message_id("mail", "x@y", 0, from);
  EXPECT_EQ(a, reply_message_id("mail", "x@y", 0, from));
  EXPECT_NE(a, reply_message_id("mail", "x@z", 0, from));
  EXPECT_TRUE(a.ends_with("@corp.example")) << a;
}

}  // namespace
}  // namespace hermes::channels::email
