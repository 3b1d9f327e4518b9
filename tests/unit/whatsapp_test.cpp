// The WhatsApp Cloud API's wire format: webhook payloads read, /messages bodies written,
// a send's answer classified by its error code; and the channel's YAML block.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "hermes/app/registries.hpp"
#include "hermes/channels/whatsapp.hpp"
#include "hermes/config/loader.hpp"
#include "hermes/net/client.hpp"

namespace hermes::channels::whatsapp {
namespace {

using nlohmann::json;

json envelope(json value) {
  value["messaging_product"] = "whatsapp";
  value["metadata"] = {{"display_phone_number", "15550001111"}, {"phone_number_id", "106540352242922"}};
  return {{"object", "whatsapp_business_account"},
          {"entry", json::array({{{"id", "WABA1"}, {"changes", json::array({{{"field", "messages"}, {"value", value}}})}}})}};
}

TEST(WhatsAppPayload, ATextMessageWithItsContact) {
  auto p = read_payload(envelope({{"contacts", json::array({{{"profile", {{"name", "Ana"}}}, {"wa_id", "16505551234"},
                                                             {"user_id", "US.13491208655302741918"}}})},
                                  {"messages", json::array({{{"from", "16505551234"}, {"id", "wamid.A1"},
                                                             {"timestamp", "1765000000"}, {"type", "text"},
                                                             {"text", {{"body", "hello"}}}}})}})
                              .dump());
  ASSERT_EQ(p.problem, "");
  ASSERT_EQ(p.messages.size(), 1u);
  const auto& m = p.messages[0].message;
  EXPECT_EQ(m.event_id, "wamid.A1");
  EXPECT_EQ(m.text, "hello");
  EXPECT_EQ(m.account, "106540352242922");
  EXPECT_EQ(m.sender, "US.13491208655302741918");  // the business-scoped id keys sessions and limits
  EXPECT_EQ(m.conversation, "16505551234");        // answers go to the wa_id
  EXPECT_EQ(p.messages[0].wa_id, "16505551234");
  EXPECT_TRUE(p.messages[0].answer);
}

TEST(WhatsAppPayload, AUsernameOnlyContactIsKnownByItsUserId) {
  auto p = read_payload(envelope({{"contacts", json::array({{{"profile", {{"name", "@bob"}}}, {"user_id", "BR.1502576394655843"}}})},
                                  {"messages", json::array({{{"id", "wamid.B1"}, {"type", "text"},
                                                             {"text", {{"body", "hi"}}}}})}})
                              .dump());
  ASSERT_EQ(p.messages.size(), 1u);
  EXPECT_EQ(p.messages[0].message.sender, "BR.1502576394655843");
  EXPECT_EQ(p.messages[0].message.conversation, "BR.1502576394655843");
}

TEST(WhatsAppPayload, NonTextMessagesSayWhatArrived) {
  auto one = [](json message) {
    message["from"] = "16505551234";
    message["id"] = "wamid.X";
    auto p = read_payload(envelope({{"messages", json::array({message})}}).dump());
    return p.messages.at(0);
  };
  EXPECT_EQ(one({{"type", "interactive"}, {"interactive", {{"type", "button_reply"}, {"button_reply", {{"id", "b1"}, {"title", "Yes"}}}}}})
                .message.text, "Yes");
  EXPECT_EQ(one({{"type", "interactive"}, {"interactive", {{"type", "list_reply"}, {"list_reply", {{"id", "l1"}, {"title", "Plan B"}, {"description", "cheaper"}}}}}})
                .message.text, "Plan B (cheaper)");
  EXPECT_EQ(one({{"type", "button"}, {"button", {{"text", "Stop promotions"}, {"payload", "STOP"}}}}).message.text,
            "Stop promotions");
  auto image = one({{"type", "image"}, {"image", {{"id", "MEDIA1"}, {"caption", "my invoice"}}}});
  EXPECT_NE(image.message.text.find("sent an image, which this assistant cannot open"), std::string::npos);
  EXPECT_NE(image.message.text.find("Its caption: my invoice"), std::string::npos);
  EXPECT_NE(one({{"type", "audio"}, {"audio", {{"id", "A"}, {"voice", true}}}}).message.text.find("a voice message"),
            std::string::npos);
  EXPECT_NE(one({{"type", "location"}, {"location", {{"latitude", 38.7}, {"longitude", -9.1}, {"name", "Office"}}}})
                .message.text.find("38.7, -9.1 — Office"), std::string::npos);
  auto reaction = one({{"type", "reaction"}, {"reaction", {{"message_id", "wamid.OUT"}, {"emoji", "👍"}}}});
  EXPECT_FALSE(reaction.answer);
  EXPECT_FALSE(one({{"type", "unsupported"}}).answer);
}

TEST(WhatsAppPayload, StatusesErrorsAndWhatIsNotAPayload) {
  auto p = read_payload(envelope({{"statuses", json::array({{{"id", "wamid.OUT1"}, {"status", "delivered"}, {"recipient_id", "16505551234"}},
                                                            {{"id", "wamid.OUT2"}, {"status", "failed"}, {"recipient_id", "16505551234"},
                                                             {"errors", json::array({{{"code", 131047}, {"title", "Re-engagement message"}}})}}})},
                                  {"errors", json::array({{{"code", 131000}, {"title", "Something went wrong"}}})}})
                              .dump());
  ASSERT_EQ(p.statuses.size(), 2u);
  EXPECT_EQ(p.statuses[0].status, "delivered");
  EXPECT_EQ(p.statuses[1].error_code, "131047");
  EXPECT_EQ(p.errors, std::vector<std::string>{"131000 Something went wrong"});
  EXPECT_EQ(read_payload("[]").problem, "the body is not a JSON object");
  EXPECT_EQ(read_payload(R"({"object":"page"})").problem, "'object' is not whatsapp_business_account");
  // Wrong types anywhere are skipped, never thrown on.
  auto odd = read_payload(R"({"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"messages":[{"id":1},"x",{"id":"w","from":7}]}}]},"y"]})");
  EXPECT_EQ(odd.problem, "");
  EXPECT_TRUE(odd.messages.empty());
}

TEST(WhatsAppSend, ABodyInTheContextOfTheAskingMessage) {
  OutboxEntry e;
  e.event_id = "wamid.A1";
  e.conversation = "16505551234";
  e.text = "Hi \"there\"";
  auto body = json::parse(message_body(e));
  EXPECT_EQ(body["messaging_product"], "whatsapp");
  EXPECT_EQ(body["to"], "16505551234");
  EXPECT_EQ(body["context"]["message_id"], "wamid.A1");
  EXPECT_EQ(body["text"]["body"], "Hi \"there\"");
  EXPECT_EQ(body["text"]["preview_url"], false);
  e.conversation = "US.13491208655302741918";
  body = json::parse(message_body(e));
  EXPECT_FALSE(body.contains("to"));
  EXPECT_EQ(body["recipient"], "US.13491208655302741918");
}

net::ClientResult answer(int status, const std::string& body) {
  net::ClientResult r;
  r.status = status;
  r.body = body;
  r.request_sent = true;
  return r;
}

TEST(WhatsAppSend, ErrorCodesDecideNotHttpStatuses) {
  auto ok = classify_send(answer(200, R"({"messaging_product":"whatsapp","messages":[{"id":"wamid.OUT"}]})"));
  EXPECT_EQ(ok.result, DeliveryResult::delivered);
  EXPECT_EQ(ok.peer_id, "wamid.OUT");
  auto error = [](int status, int code) {
    return classify_send(answer(status, R"({"error":{"message":"m","type":"OAuthException","code":)" +
                                            std::to_string(code) + "}}"));
  };
  EXPECT_EQ(error(400, 130429).result, DeliveryResult::retry);
  EXPECT_EQ(error(400, 131056).result, DeliveryResult::retry);
  EXPECT_EQ(error(400, 131047).result, DeliveryResult::failed);
  EXPECT_EQ(error(400, 131047).detail, "whatsapp:131047");
  EXPECT_EQ(error(400, 131026).result, DeliveryResult::failed);
  EXPECT_EQ(error(401, 190).detail, "whatsapp:190");
  EXPECT_EQ(error(500, 12345).result, DeliveryResult::retry);
  EXPECT_EQ(classify_send(answer(200, "{}")).result, DeliveryResult::retry);  // no message id: not accepted
  EXPECT_EQ(classify_send(answer(503, "busy")).result, DeliveryResult::retry);
}

TEST(WhatsAppPacer, SendsAreSpacedPerNumberAndPerRecipient) {
  Pacer pacer;
  auto t0 = Pacer::Clock::now();
  using std::chrono::milliseconds;
  auto ms = [](Pacer::Clock::duration d) { return std::chrono::duration_cast<milliseconds>(d).count(); };
  EXPECT_EQ(ms(pacer.reserve("n1", 10, "alice", milliseconds(1000), t0)), 0);
  EXPECT_EQ(ms(pacer.reserve("n1", 10, "bob", milliseconds(1000), t0)), 100);     // 10 a second from n1
  EXPECT_EQ(ms(pacer.reserve("n1", 10, "alice", milliseconds(1000), t0)), 1000);  // alice's next message
  EXPECT_EQ(ms(pacer.reserve("n2", 10, "alice", milliseconds(1000), t0)), 0);     // another number is its own
  EXPECT_EQ(ms(pacer.reserve("n1", 10, "carol", milliseconds(1000), t0 + milliseconds(5000))), 0);  // slots passed
}

config::LoadResult load_wa(const std::string& extra) {
  config::SecretEnvironment env;
  env.getenv = [](const std::string&) -> std::optional<std::string> { return std::string("s3cret"); };
  return config::load_string(
      "listeners:\n  - {name: hooks, bind: loopback, port: 8080}\nchannels:\n"
      "  - {name: wa, type: whatsapp, listener: hooks, app_secret: \"${env:A}\", verify_token: \"${env:V}\",\n"
      "     access_token: \"${env:T}\"" + extra + "}\n",
      "hermes.yaml", env, &app::builtin_registries());
}

TEST(WhatsAppConfig, DefaultsAndTheWindowTemplate) {
  auto fine = load_wa("");
  ASSERT_TRUE(fine.ok()) << config::format_errors(fine.errors);
  const auto* spec = dynamic_cast<const WhatsAppSpec*>(fine.config->channels.at(0).get());
  ASSERT_NE(spec, nullptr);
  EXPECT_EQ(spec->api_version, "v27.0");
  EXPECT_EQ(spec->api_url, "https://graph.facebook.com");
  EXPECT_FALSE(spec->window_template.has_value());

  auto with = load_wa(", window_template: {name: follow_up, language: pt_BR, parameters: [Corp], hold: 12h}");
  ASSERT_TRUE(with.ok()) << config::format_errors(with.errors);
  spec = dynamic_cast<const WhatsAppSpec*>(with.config->channels.at(0).get());
  ASSERT_TRUE(spec->window_template.has_value());
  EXPECT_EQ(spec->window_template->name, "follow_up");
  EXPECT_EQ(spec->window_template->language, "pt_BR");
  EXPECT_EQ(spec->window_template->hold, std::chrono::hours(12));
  EXPECT_EQ(spec->window_template->parameters, std::vector<std::string>{"Corp"});
}

TEST(WhatsAppConfig, ABadWindowTemplateIsNamedWithItsPlace) {
  auto text = config::format_errors(load_wa(", window_template: {language: en_US}").errors);
  EXPECT_NE(text.find("channels[0].window_template.name"), std::string::npos) << text;
  text = config::format_errors(load_wa(", window_template: {name: Follow-Up}").errors);
  EXPECT_NE(text.find("lower-case letters"), std::string::npos) << text;
  text = config::format_errors(load_wa(", window_template: {name: follow_up, hold: 9d}").errors);
  EXPECT_NE(text.find("channels[0].window_template.hold: hold must be from 1s to the channel's dedup_retention (192h)"),
            std::string::npos)
      << text;
  text = config::format_errors(load_wa(", window_template: {name: follow_up, colour: red}").errors);
  EXPECT_NE(text.find("colour"), std::string::npos) << text;
}

TEST(WhatsAppPayload, TheTemplateBodyAddressesTheUserAsTheirAnswerWould) {
  OutboxEntry e;
  e.conversation = "16505551234";
  e.event_id = "wamid.IN";
  WindowTemplate t;
  t.name = "follow_up";
  t.language = "de";
  t.parameters = {"Corp"};
  auto body = nlohmann::json::parse(template_body(e, t));
  EXPECT_EQ(body["to"], "16505551234");
  EXPECT_EQ(body["type"], "template");
  EXPECT_EQ(body["template"]["name"], "follow_up");
  EXPECT_EQ(body["template"]["language"]["code"], "de");
  EXPECT_EQ(body["template"]["components"][0]["parameters"][0]["text"], "Corp");
  EXPECT_FALSE(body.contains("context")) << "a template does not reply to the old message";
  e.conversation = "US.13491208655302741918";
  body = nlohmann::json::parse(template_body(e, t));
  EXPECT_EQ(body["recipient"], "US.13491208655302741918");
  EXPECT_FALSE(body.contains("to"));
}

}  // namespace
}  // namespace hermes::channels::whatsapp
