// JsonWriter: commas, nesting, numbers, and string escaping identical to nlohmann's dump().
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "hermes/core/json_writer.hpp"

namespace hermes {
namespace {

std::string encoded(std::string_view s, Utf8Errors errors = Utf8Errors::replace) {
  std::string out;
  append_json_string(out, s, errors);
  return out;
}

TEST(JsonWriter, PlacesCommasAcrossNestedContainers) {
  std::string out;
  JsonWriter w(out);
  w.begin_object().key("a").value(1).key("b").begin_array().value("x").null().boolean(false);
  w.begin_object().end_object().begin_array().end_array().end_array();
  w.key("c").begin_object().key("d").value(-2).end_object().key("e").raw(R"({"pre":true})").end_object();
  EXPECT_EQ(out, R"({"a":1,"b":["x",null,false,{},[]],"c":{"d":-2},"e":{"pre":true}})");
  EXPECT_TRUE(nlohmann::json::accept(out));
}

TEST(JsonWriter, DoublesRoundTripAndNonFiniteIsNull) {
  std::string out;
  JsonWriter w(out);
  w.begin_array().value(0.7).value(1.0).value(-2.5e-9).value(std::nan("")).value(HUGE_VAL).end_array();
  auto parsed = nlohmann::json::parse(out);
  EXPECT_EQ(parsed[0].get<double>(), 0.7);
  EXPECT_EQ(parsed[1].get<double>(), 1.0);
  EXPECT_EQ(parsed[2].get<double>(), -2.5e-9);
  EXPECT_TRUE(parsed[3].is_null());
  EXPECT_TRUE(parsed[4].is_null());
}

TEST(JsonWriter, EscapesExactlyAsNlohmannDumps) {
  std::vector<std::string> samples = {"", "plain", "quote \" backslash \\ slash /", "\b\f\n\r\t",
                                      std::string("nul \0 inside", 12), "\x01\x1f\x7f",
                                      "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"};
  for (const auto& s : samples) EXPECT_EQ(encoded(s), nlohmann::json(s).dump()) << s;
}

TEST(JsonWriter, EveryAsciiByteAndRandomValidTextEscapeAsNlohmannDumps) {
  for (int c = 0; c < 0x80; ++c) {
    std::string one(1, static_cast<char>(c));
    std::string framed = "ab" + one + "cd" + one;
    EXPECT_EQ(encoded(one), nlohmann::json(one).dump()) << c;
    EXPECT_EQ(encoded(framed), nlohmann::json(framed).dump()) << c;
  }
  const std::vector<std::string> pieces = {"a", "Z", " ", "\"", "\\", "/", "\n", "\t", std::string(1, '\0'), "\x1f",
                                           "\x7f", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "long run of text"};
  std::uint32_t seed = 12345;
  for (int n = 0; n < 2000; ++n) {
    std::string s;
    seed = seed * 1664525u + 1013904223u;
    for (std::uint32_t k = seed % 12; k > 0; --k) {
      seed = seed * 1664525u + 1013904223u;
      s += pieces[(seed >> 8) % pieces.size()];
    }
    ASSERT_EQ(encoded(s), nlohmann::json(s).dump()) << n;
  }
}

TEST(JsonWriter, InvalidUtf8IsReplacedOrRejected) {
  EXPECT_EQ(encoded("a\xFF" "b"), "\"a\xEF\xBF\xBD" "b\"");
  EXPECT_EQ(encoded("\xC0\xAF"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");          // overlong
  EXPECT_EQ(encoded("x\xE2\x82"), "\"x\xEF\xBF\xBD\xEF\xBF\xBD\"");       // truncated at the end
  EXPECT_THROW(encoded("a\xFF", Utf8Errors::reject), InvalidUtf8);
  EXPECT_THROW(encoded("\xED\xA0\x80", Utf8Errors::reject), InvalidUtf8);  // a surrogate
  // What replace produces is what nlohmann's replace handler produces.
  std::string bad = "a\xFF" "b\xC3";
  EXPECT_EQ(encoded(bad), nlohmann::json(bad).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace
}  // namespace hermes
