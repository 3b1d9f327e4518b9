#include "hermes/channels/channel.hpp"

#include <stdexcept>

#include "hermes/channels/api.hpp"
#include "hermes/channels/email.hpp"
#include "hermes/channels/slack.hpp"
#include "hermes/channels/webchat.hpp"
#include "hermes/channels/webhook.hpp"
#include "hermes/channels/whatsapp.hpp"

namespace hermes::channels {

boost::asio::awaitable<void> Channel::run() { co_return; }

boost::asio::awaitable<void> Channel::resume(InboundMessage) { co_return; }

std::shared_ptr<AnswerPreview> Channel::preview(const InboundMessage&) { return nullptr; }

boost::asio::awaitable<Delivery> Channel::deliver(OutboxEntry) {
  co_return Delivery{DeliveryResult::failed, {}, "channel_does_not_deliver", {}};
}

boost::asio::awaitable<std::optional<std::string>> Channel::find_delivered(OutboxEntry) { co_return std::nullopt; }

std::vector<std::string> Channel::split_for_delivery(std::string text) const { return {std::move(text)}; }

void ChannelFactories::add(const std::string& type, ChannelFactory factory) {
  if (!factories_.emplace(type, std::move(factory)).second) {
    throw std::logic_error("channel factory '" + type + "' registered twice");
  }
}

std::shared_ptr<Channel> ChannelFactories::create(const config::ChannelSpec& spec, ChannelContext& context) const {
  auto it = factories_.find(spec.type);
  if (it == factories_.end()) {
    throw std::logic_error("no channel factory for type '" + spec.type + "'");
  }
  return it->second(spec, context);
}

void register_builtin(config::Registries& registries, ChannelFactories& factories) {
  api::register_type(registries, factories);
  webhook::register_type(registries, factories);
  slack::register_type(registries, factories);
  webchat::register_type(registries, factories);
  whatsapp::register_type(registries, factories);
  email::register_type(registries, factories);
}

}  // namespace hermes::channels
