// The built-in backends' YAML blocks and the backend factory registry.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "hermes/backends/echo.hpp"
#include "hermes/backends/openai.hpp"
#include "hermes/backends/registry.hpp"
#include "hermes/backends/webhook.hpp"
#include "hermes/config/loader.hpp"
#include "hermes/net/client.hpp"

namespace hermes::backends {
namespace {

struct Loaded {
  config::LoadResult result;
  const config::ModelSpec* model(std::size_t i) const { return result.config->models.at(i).get(); }
};

class BackendConfig : public ::testing::Test {
 protected:
  BackendConfig() { register_builtin(registries_, factories_); }

  Loaded load(const std::string& models_yaml) {
    config::SecretEnvironment env;
    env.getenv = [](const std::string& name) -> std::optional<std::string> {
      if (name == "OPENAI_KEY") return std::string("sk-from-env");
      return std::nullopt;
    };
    env.base_dir = "/nonexistent";
    // Two lines of listener first: a model block's line numbers start at 4.
    std::string text = "listeners:\n  - {name: lan, bind: loopback, port: 8080}\nmodels:\n" + models_yaml;
    return {config::load_string(text, "hermes.yaml", env, &registries_)};
  }

  config::Registries registries_;
  BackendFactories factories_;
};

std::string errors_of(const config::LoadResult& r) { return config::format_errors(r.errors); }

TEST_F(BackendConfig, EchoDefaultsAndOptions) {
  auto loaded = load("  - {name: demo, type: echo}\n  - {name: slow, type: echo, chunks: 2, delay: 50ms}\n");
  ASSERT_TRUE(loaded.result.ok()) << errors_of(loaded.result);
  const auto* demo = dynamic_cast<const echo::Spec*>(loaded.model(0));
  const auto* slow = dynamic_cast<const echo::Spec*>(loaded.model(1));
  ASSERT_TRUE(demo && slow);
  EXPECT_EQ(demo->chunks, 4u);
  EXPECT_EQ(demo->delay.count(), 0);
  EXPECT_EQ(slow->chunks, 2u);
  EXPECT_EQ(slow->delay.count(), 50);
}

TEST_F(BackendConfig, EchoRejectsZeroChunksAndUnknownKeys) {
  auto loaded = load("  - {name: demo, type: echo, chunks: 0, colour: red}\n");
  ASSERT_FALSE(loaded.result.ok());
  auto text = errors_of(loaded.result);
  EXPECT_NE(text.find("models[0].chunks"), std::string::npos) << text;
  EXPECT_NE(text.find("models[0].colour"), std::string::npos) << text;
}

TEST_F(BackendConfig, OpenAiFull) {
  auto loaded = load(
      "  - name: gpt\n"
      "    type: openai\n"
      "    base_url: https://api.example.com/v1/\n"
      "    model: gpt-4o-mini\n"
      "    api_key: ${env:OPENAI_KEY}\n"
      "    timeout: 20s\n"
      "    connect_timeout: 2s\n"
      "    first_byte_timeout: 10s\n");
  ASSERT_TRUE(loaded.result.ok()) << errors_of(loaded.result);
  const auto* spec = dynamic_cast<const openai::Spec*>(loaded.model(0));
  ASSERT_NE(spec, nullptr);
  EXPECT_EQ(spec->base_url, "https://api.example.com/v1");  // trailing '/' dropped
  EXPECT_EQ(spec->model, "gpt-4o-mini");
  EXPECT_EQ(spec->api_key.reveal(), "sk-from-env");
  EXPECT_EQ(spec->api_key.source(), "env:OPENAI_KEY");
  EXPECT_EQ(spec->timeout.count(), 20'000);
  EXPECT_EQ(spec->connect_timeout.count(), 2'000);
  EXPECT_EQ(spec->first_byte_timeout.count(), 10'000);
}

TEST_F(BackendConfig, OpenAiDefaultsAndOptionalKey) {
  auto loaded = load("  - {name: local, type: openai, base_url: \"http://127.0.0.1:11434/v1\", model: llama3}\n");
  ASSERT_TRUE(loaded.result.ok()) << errors_of(loaded.result);
  const auto* spec = dynamic_cast<const openai::Spec*>(loaded.model(0));
  ASSERT_NE(spec, nullptr);
  EXPECT_TRUE(spec->api_key.empty());
  EXPECT_EQ(spec->timeout.count(), 60'000);
  EXPECT_EQ(spec->connect_timeout.count(), 5'000);
  EXPECT_EQ(spec->first_byte_timeout.count(), 30'000);
}

TEST_F(BackendConfig, OpenAiBaseUrlErrorsPointAtTheValue) {
  auto loaded = load(
      "  - name: bad\n"
      "    type: openai\n"
      "    base_url: ftp://example.com/v1\n"
      "    model: m\n"
      "  - {name: bad2, type: openai, base_url: \"not a url\", model: m}\n"
      "  - {name: bad3, type: openai, base_url: \"https://x.example/v1?key=secret\", model: m}\n"
      "  - {name: bad4, type: openai, model: m, timeout: 0s}\n");
  ASSERT_FALSE(loaded.result.ok());
  const auto& errors = loaded.result.errors;
  auto find = [&](const std::string& path) -> const config::ConfigError* {
    for (const auto& e : errors) {
      if (e.path == path) return &e;
    }
    return nullptr;
  };
  const auto* scheme = find("models[0].base_url");
  ASSERT_NE(scheme, nullptr) << errors_of(loaded.result);
  EXPECT_EQ(scheme->line, 6);
  EXPECT_EQ(scheme->column, 15);
  EXPECT_NE(scheme->message.find("http or https"), std::string::npos) << scheme->message;
  ASSERT_NE(find("models[1].base_url"), nullptr) << errors_of(loaded.result);
  ASSERT_NE(find("models[2].base_url"), nullptr) << errors_of(loaded.result);
  EXPECT_EQ(find("models[2].base_url")->message.find("secret"), std::string::npos);
  ASSERT_NE(find("models[3].base_url"), nullptr) << errors_of(loaded.result);  // required
  ASSERT_NE(find("models[3].timeout"), nullptr) << errors_of(loaded.result);
}

TEST_F(BackendConfig, WebhookSignatureSchemes) {
  auto loaded = load("  - {name: a, type: webhook, url: \"http://127.0.0.1:9/\", secret: s, signature: standard}\n"
                     "  - {name: b, type: webhook, url: \"http://127.0.0.1:9/\", secret: s}\n");
  ASSERT_TRUE(loaded.result.ok()) << errors_of(loaded.result);
  EXPECT_EQ(dynamic_cast<const webhook::Spec&>(*loaded.model(0)).signature, standard_webhooks::Scheme::standard);
  EXPECT_EQ(dynamic_cast<const webhook::Spec&>(*loaded.model(1)).signature, standard_webhooks::Scheme::hermes_v1);
  auto bad = load("  - {name: a, type: webhook, url: \"http://127.0.0.1:9/\", secret: s, signature: hmac}\n");
  EXPECT_NE(errors_of(bad.result).find("models[0].signature: invalid value 'hmac' (expected hermes-v1 | standard)"),
            std::string::npos)
      << errors_of(bad.result);
}

TEST_F(BackendConfig, FactoriesBuildEveryBuiltinType) {
  auto loaded = load("  - {name: demo, type: echo}\n  - {name: gpt, type: openai, base_url: \"http://h/v1\", model: m}\n");
  ASSERT_TRUE(loaded.result.ok()) << errors_of(loaded.result);
  boost::asio::io_context io;
  net::HttpClient http(io);
  BackendDeps deps{io, http};
  EXPECT_NE(factories_.create(*loaded.model(0), deps), nullptr);
  EXPECT_NE(factories_.create(*loaded.model(1), deps), nullptr);
  EXPECT_EQ(factories_.type_names(), "anthropic, echo, openai, webhook");
}

TEST(BackendFactories, DuplicateAndUnknownTypesAreLogicErrors) {
  BackendFactories factories;
  factories.add("fake", [](const config::ModelSpec&, BackendDeps&) { return std::unique_ptr<ModelBackend>(); });
  EXPECT_THROW(factories.add("fake", nullptr), std::logic_error);
  config::Registries registries;
  register_builtin(registries, factories);
  EXPECT_THROW(register_builtin(registries, factories), std::logic_error);

  echo::Spec spec;
  spec.name = "x";
  spec.type = "nope";
  boost::asio::io_context io;
  net::HttpClient http(io);
  BackendDeps deps{io, http};
  try {
    factories.create(spec, deps);
    FAIL() << "expected a logic_error";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("echo, fake, openai"), std::string::npos) << e.what();
  }
}

TEST(ParseHttpUrl, Parts) {
  std::string error;
  auto u = net::parse_http_url("https://api.example.com/v1/chat?x=1", error);
  ASSERT_TRUE(u) << error;
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "api.example.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->authority, "api.example.com");
  EXPECT_EQ(u->target, "/v1/chat?x=1");
  EXPECT_EQ(u->path, "/v1/chat");
  EXPECT_EQ(u->origin, "https://api.example.com:443");

  auto v6 = net::parse_http_url("http://[::1]:8080", error);
  ASSERT_TRUE(v6) << error;
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->authority, "[::1]:8080");
  EXPECT_EQ(v6->target, "/");

  EXPECT_FALSE(net::parse_http_url("ftp://x/", error));
  EXPECT_FALSE(net::parse_http_url("http:///path", error));
  EXPECT_FALSE(net::parse_http_url("https://user:pw@x/", error));
  EXPECT_FALSE(net::parse_http_url("/relative", error));
  EXPECT_FALSE(net::parse_http_url("http://x:0/", error));
}

}  // namespace
}  // namespace hermes::backends
