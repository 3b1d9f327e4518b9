// The WhatsApp Cloud API's wire format: webhook payloads in, /messages bodies out, and
// what a send's answer means. Plain functions (unit-tested without a peer).
#include <nlohmann/json.hpp>

#include <algorithm>

#include "hermes/channels/async.hpp"
#include "hermes/channels/whatsapp.hpp"
#include "hermes/core/json_fields.hpp"
#include "hermes/net/client.hpp"

namespace hermes::channels::whatsapp {
namespace {

using nlohmann::json;

const json& member(const json& object, const char* key) {
  static const json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it != object.end() ? *it : kNull;
}

const json& array_of(const json& object, const char* key) {
  static const json kEmpty = json::array();
  const json& value = member(object, key);
  return value.is_array() ? value : kEmpty;
}

// What the agent reads for a message that is not plain text.
std::string describe(const json& message, const std::string& type, bool& answer) {
  if (type == "text") return json_string(member(message, "text"), "body");
  if (type == "interactive") {
    const json& interactive = member(message, "interactive");
    for (const char* reply : {"button_reply", "list_reply"}) {
      const json& chosen = member(interactive, reply);
      if (chosen.is_object()) {
        std::string text = json_string(chosen, "title");
        if (auto d = json_string(chosen, "description"); !d.empty()) text += " (" + d + ")";
        return text;
      }
    }
  }
  if (type == "button") return json_string(member(message, "button"), "text");
  if (type == "image" || type == "audio" || type == "video" || type == "document" || type == "sticker") {
    std::string what = type == "audio" ? "a voice message or audio" : type == "image" ? "an image" : "a " + type;
    std::string caption = json_string(member(message, type.c_str()), "caption");
    return "[The user sent " + what + ", which this assistant cannot open; only text reaches it." +
           (caption.empty() ? std::string() : " Its caption: " + caption) +
           " Tell the user so if the message needs its content.]";
  }
  if (type == "location") {
    const json& at = member(message, "location");
    std::string text = "[The user shared a location";
    if (at.is_object() && at.contains("latitude") && at.contains("longitude")) {
      text += ": " + at["latitude"].dump() + ", " + at["longitude"].dump();
    }
    for (const char* key : {"name", "address"}) {
      if (auto v = json_string(at, key); !v.empty()) text += " — " + v;
    }
    return text + "]";
  }
  answer = false;  // reactions, unsupported, system and order messages: recorded, not answered
  return {};
}

}  // namespace

Payload read_payload(std::string_view body) {
  Payload out;
  auto root = json::parse(body, nullptr, false);
  if (!root.is_object()) {
    out.problem = "the body is not a JSON object";
    return out;
  }
  if (json_string(root, "object") != "whatsapp_business_account") {
    out.problem = "'object' is not whatsapp_business_account";
    return out;
  }
  for (const auto& entry : array_of(root, "entry")) {
    for (const auto& change : array_of(entry, "changes")) {
      const json& value = member(change, "value");
      const json& metadata = member(value, "metadata");
      std::string phone_number_id = json_string(metadata, "phone_number_id");
      std::string display_number = json_string(metadata, "display_phone_number");
      const json& contacts = array_of(value, "contacts");
      for (const auto& message : array_of(value, "messages")) {
        InboundItem item;
        item.wa_id = json_string(message, "from");
        // The contact that sent it: by wa_id, else the only one (a username-only user has none).
        for (const auto& contact : contacts) {
          bool same = !item.wa_id.empty() && json_string(contact, "wa_id") == item.wa_id;
          if (same || contacts.size() == 1) {
            item.user_id = json_string(contact, "user_id");
            if (item.wa_id.empty()) item.wa_id = json_string(contact, "wa_id");
          }
        }
        item.type = json_string(message, "type");
        auto& m = item.message;
        m.event_id = json_string(message, "id");
        m.channel_type = "whatsapp";
        m.account = phone_number_id;
        m.recipient = display_number;
        m.sender = !item.user_id.empty() ? item.user_id : item.wa_id;
        m.conversation = !item.wa_id.empty() ? item.wa_id : item.user_id;
        m.text = describe(message, item.type, item.answer);
        if (m.event_id.empty() || m.sender.empty()) continue;  // nothing to answer or to dedup on
        out.messages.push_back(std::move(item));
      }
      for (const auto& status : array_of(value, "statuses")) {
        StatusItem s;
        s.message_id = json_string(status, "id");
        s.status = json_string(status, "status");
        s.recipient = json_string(status, "recipient_id");
        if (s.recipient.empty()) s.recipient = json_string(status, "recipient_user_id");
        s.phone_number_id = phone_number_id;
        const json& errors = array_of(status, "errors");
        if (!errors.empty()) {
          s.error_code = member(errors[0], "code").is_number_integer() ? member(errors[0], "code").dump() : "";
          s.error_title = json_string(errors[0], "title");
        }
        if (!s.message_id.empty()) out.statuses.push_back(std::move(s));
      }
      for (const auto& error : array_of(value, "errors")) {
        std::string code = member(error, "code").is_number_integer() ? member(error, "code").dump() : "?";
        out.errors.push_back(code + " " + json_string(error, "title"));
      }
    }
  }
  return out;
}

namespace {

json addressed_to(const OutboxEntry& entry) {
  json body = json::object();
  body["messaging_product"] = "whatsapp";
  body["recipient_type"] = "individual";
  // A wa_id is digits; a business-scoped user id has a country prefix and a dot (US.1349…).
  if (entry.conversation.find('.') == std::string::npos) {
    body["to"] = entry.conversation;
  } else {
    body["recipient"] = entry.conversation;
  }
  return body;
}

}  // namespace

std::string template_body(const OutboxEntry& entry, const WindowTemplate& tmpl) {
  json body = addressed_to(entry);
  body["type"] = "template";
  json t = {{"name", tmpl.name}, {"language", {{"code", tmpl.language}}}};
  if (!tmpl.parameters.empty()) {
    json parameters = json::array();
    for (const auto& p : tmpl.parameters) parameters.push_back({{"type", "text"}, {"text", p}});
    t["components"] = json::array({{{"type", "body"}, {"parameters", parameters}}});
  }
  body["template"] = std::move(t);
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string message_body(const OutboxEntry& entry) {
  json body = addressed_to(entry);
  if (!entry.event_id.empty()) body["context"] = {{"message_id", entry.event_id}};
  body["type"] = "text";
  body["text"] = {{"body", entry.text}, {"preview_url", false}};
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

Delivery classify_send(const net::ClientResult& result) {
  Delivery d = classify_http_delivery(result);
  auto reply = json::parse(result.body, nullptr, false);
  const json& error = member(reply, "error");
  if (error.is_object()) {
    long code = member(error, "code").is_number_integer() ? member(error, "code").get<long>() : 0;
    d.detail = "whatsapp:" + std::to_string(code);
    switch (code) {
      case 130429:  // throughput reached
      case 131056:  // too many messages to this user
      case 131000:  // something went wrong
      case 131016:  // service unavailable
      case 133004:  // server temporarily unavailable
      case 80007:   // rate limit
      case 4:       // application rate limit
      case 2:       // temporary API issue
        d.result = DeliveryResult::retry;
        break;
      default:
        // 131047 (outside the 24-hour window), 131026 (undeliverable), 190 (token; the
        // channel holds it), and the rest: this message will not go as it is. A server
        // error is worth another try whatever its code.
        d.result = result.status >= 500 ? DeliveryResult::retry : DeliveryResult::failed;
        break;
    }
    return d;
  }
  if (d.result == DeliveryResult::delivered) {
    const json& messages = array_of(reply, "messages");
    d.peer_id = messages.empty() ? std::string() : json_string(messages[0], "id");
    if (d.peer_id.empty()) {
      d.result = DeliveryResult::retry;  // a 2xx without a message id is not an acceptance
      d.detail = "whatsapp_invalid_response";
    }
  }
  return d;
}

Pacer::Clock::duration Pacer::reserve(const std::string& number, std::uint32_t rate, const std::string& recipient,
                                      Clock::duration interval, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (next_.size() > 100'000) {
    // Keys whose slot has passed hold nothing back: forgotten, so the map stays bounded.
    std::erase_if(next_, [now](const auto& slot) { return slot.second <= now; });
  }
  auto per_number = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / std::max(1u, rate)));
  auto& number_next = next_["n:" + number];
  auto& recipient_next = next_["r:" + number + ":" + recipient];
  // The later of the two slots; both are taken from there on.
  auto at = std::max({now, number_next, recipient_next});
  number_next = at + per_number;
  recipient_next = at + interval;
  return at - now;
}

}  // namespace hermes::channels::whatsapp
