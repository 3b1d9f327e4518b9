// parse_json (simdjson's DOM) accepts exactly what nlohmann::json::parse accepts, and
// reads the same values: checked on hand-picked cases and on random documents.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <initializer_list>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "hermes/core/json_dom.hpp"

namespace hermes {
namespace {

// The same document as nlohmann builds it (a duplicate key: the last one wins).
nlohmann::json to_nlohmann(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::ARRAY: {
      auto out = nlohmann::json::array();
      for (auto item : simdjson::dom::array(e)) {
        out.push_back(to_nlohmann(item));
      }
      return out;
    }
    case simdjson::dom::element_type::OBJECT: {
      auto out = nlohmann::json::object();
      for (auto field : simdjson::dom::object(e)) {
        out[std::string(field.key)] = to_nlohmann(field.value);
      }
      return out;
    }
    case simdjson::dom::element_type::INT64:
      return std::int64_t(e);
    case simdjson::dom::element_type::UINT64:
      return std::uint64_t(e);
    case simdjson::dom::element_type::DOUBLE:
      return double(e);
    case simdjson::dom::element_type::STRING:
      return std::string(std::string_view(e));
    case simdjson::dom::element_type::BOOL:
      return bool(e);
    case simdjson::dom::element_type::NULL_VALUE:
      return nullptr;
  }
  return nullptr;
}

// nlohmann's verdict and value (dump() tells 1 from 1.0), or "refused".
std::string nlohmann_reads(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  return j.is_discarded() ? "refused" : j.dump();
}

std::string simdjson_reads(const std::string& text) {
  simdjson::dom::element root;
  return parse_json(text, root) ? to_nlohmann(root).dump() : "refused";
}

TEST(JsonDom, WidensOnlyIntegersPast64Bits) {
  EXPECT_FALSE(widen_big_integers(R"([0,-0,1.5,18446744073709551615,-9223372036854775808,1e400])"));
  EXPECT_EQ(widen_big_integers(R"([18446744073709551616,-9223372036854775809,99999999999999999999999])"),
            R"([18446744073709551616.0,-9223372036854775809.0,99999999999999999999999.0])");
  // Not in strings (escaped quotes included), not in a float's fraction or exponent.
  EXPECT_EQ(widen_big_integers(R"({"99999999999999999999\"99999999999999999999":99999999999999999999})"),
            R"({"99999999999999999999\"99999999999999999999":99999999999999999999.0})");
  EXPECT_FALSE(widen_big_integers("[1.99999999999999999999,1e99999999999999999999,1E-99999999999999999999]"));
  EXPECT_EQ(widen_big_integers("99999999999999999999"), "99999999999999999999.0");
  EXPECT_FALSE(widen_big_integers("\"99999999999999999999"));
}

TEST(JsonDom, ReadsWhatNlohmannReads) {
  const std::initializer_list<std::string> good{
      R"({"a":[1,-1,0,-0,1.0,1e2,-1.5E-3,2.5e-324,1e-400]})",
      R"([18446744073709551615,18446744073709551616,-9223372036854775808,-9223372036854775809])",
      R"([123456789012345678901234567890,-123456789012345678901234567890.5])",
      R"({"k":"\u00e9\ud83d\ude00\"\\\/\b\f\n\r\t\u0000","k":"last","\u006b2":[]})",
      "\xEF\xBB\xBF [true,false,null] ", std::string("[1]\0garbage\xff", 12), "\t\r\n\"s\"", "0", "-1e308",
      std::string(3000, '[') + std::string(3000, ']')};
  for (const std::string& text : good) {
    EXPECT_EQ(simdjson_reads(text), nlohmann_reads(text)) << text;
    EXPECT_NE(simdjson_reads(text), "refused") << text;
  }
  const std::initializer_list<std::string> bad{
      "", " ", "[1,]", "[01]", "[1e400]", "[-1e99999]", "[1e99999999999999999999]", "[\"\xff\"]", "[\"\xc0\xaf\"]",
      "[\"\xed\xa0\x80\"]", "[\"\x1f\"]", R"(["\ud800"])", R"(["\udc00"])", R"(["\ud800\ud800"])", R"(["\u12"])",
      std::string("[\"\0\"]", 5), std::string("[1\0]", 4), " \xEF\xBB\xBF[]", "\xEF\xBB[]", "[] []", "[/**/]",
      "{\"a\":1 \"b\":2}", "[99999999999999999999", std::string(3000, '[') + std::string(2999, ']')};
  for (const std::string& text : bad) {
    EXPECT_EQ(simdjson_reads(text), "refused") << text;
    EXPECT_EQ(nlohmann_reads(text), "refused") << text;
  }
}

TEST(JsonDom, LargeDocumentsAndTheKeptParser) {
  for (std::size_t size : {std::size_t{1000}, kKeptJsonCapacity - 10, kKeptJsonCapacity + 10, std::size_t{5'000'000},
                           std::size_t{100}}) {
    std::string text = "[\"" + std::string(size, 'z') + "\",99999999999999999999]";
    simdjson::dom::element root;
    ASSERT_TRUE(parse_json(text, root)) << size;
    EXPECT_EQ(std::string_view(root.at(0)).size(), size);
    EXPECT_EQ(double(root.at(1)), 1e20);
    text.pop_back();
    EXPECT_FALSE(parse_json(text, root)) << size;
  }
  // Deep and large: the one-off parser gets the depth too.
  std::string deep = "[\"" + std::string(kKeptJsonCapacity, 'z') + "\"," + std::string(5000, '[') +
                     std::string(5000, ']') + "]";
  EXPECT_EQ(simdjson_reads(deep), nlohmann_reads(deep));
}

TEST(JsonDom, AThreadsFirstDocumentMayBeEmpty) {
  bool empty_refused = false;
  bool then_read = false;
  std::thread([&] {
    simdjson::dom::element root;
    empty_refused = !parse_json("", root);
    then_read = parse_json("[1]", root) && root.is_array();
  }).join();
  EXPECT_TRUE(empty_refused);
  EXPECT_TRUE(then_read);
}

TEST(JsonDom, EachThreadHasItsOwnParser) {
  std::vector<std::thread> threads;
  std::vector<int> good(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &good] {
      for (int i = 0; i < 500; ++i) {
        std::string text = R"({"t":)" + std::to_string(t) + R"(,"i":)" + std::to_string(i) + "}";
        simdjson::dom::element root;
        if (parse_json(text, root) && std::int64_t(root["t"]) == t && std::int64_t(root["i"]) == i) {
          ++good[static_cast<std::size_t>(t)];
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(good, std::vector<int>(4, 500));
}

// Random documents, most of them then damaged a little: simdjson must refuse exactly
// what nlohmann refuses and read the rest to the same values.
class RandomJson {
 public:
  explicit RandomJson(std::uint32_t seed) : rng_(seed) {}

  std::string document() {
    std::string out;
    if (pick(10) == 0) out += "\xEF\xBB\xBF";
    if (pick(4) == 0) out += " \n";
    value(out, 0);
    if (pick(4) == 0) out += "\t";
    int damage = static_cast<int>(pick(3));
    for (int i = 0; i < damage && !out.empty(); ++i) {
      damage_once(out);
    }
    return out;
  }

 private:
  std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }

  template <class T, std::size_t N>
  const T& one_of(const T (&items)[N]) {
    return items[pick(N)];
  }

  void value(std::string& out, int depth) {
    switch (pick(depth > 4 ? 4 : 7)) {
      case 0:
        out += one_of({"null", "true", "false"});
        break;
      case 1:
        number(out);
        break;
      case 2:
      case 3:
        string(out);
        break;
      case 4:
      case 5: {
        out += '[';
        for (std::size_t i = 0, n = pick(4); i < n; ++i) {
          if (i > 0) out += ',';
          value(out, depth + 1);
        }
        out += ']';
        break;
      }
      default: {
        out += '{';
        for (std::size_t i = 0, n = pick(4); i < n; ++i) {
          if (i > 0) out += ',';
          out += one_of({"\"a\"", "\"b\"", "\"a\"", "\"\\u0061\""});
          out += pick(3) == 0 ? " : " : ":";
          value(out, depth + 1);
        }
        out += '}';
      }
    }
  }

  void number(std::string& out) {
    if (pick(2) == 0) {
      out += one_of({"0", "-0", "1", "-1", "0.5", "-0.0", "1e2", "1E+2", "1e-7", "2.5e-324", "1e-400", "1e400",
                     "-1e400", "1.7976931348623158e308", "1.7976931348623159e308", "9223372036854775807",
                     "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "18446744073709551615",
                     "18446744073709551616", "0e99999999999999999999", "123456789012345678901234567890"});
      return;
    }
    if (pick(3) == 0) out += '-';
    std::size_t digits = 1 + pick(25);
    out += static_cast<char>('1' + pick(9));
    for (std::size_t i = 1; i < digits; ++i) out += static_cast<char>('0' + pick(10));
    if (pick(3) == 0) {
      out += '.';
      out += static_cast<char>('0' + pick(10));
    }
    if (pick(4) == 0) {
      out += one_of({"e", "E", "e+", "e-"});
      out += std::to_string(pick(400));
    }
  }

  void string(std::string& out) {
    out += '"';
    for (std::size_t i = 0, n = pick(6); i < n; ++i) {
      out += one_of({"a", "text", " ", "\\\"", "\\\\", "\\/", "\\b\\f\\n\\r\\t", "\\u00e9", "\\u0000",
                     "\\ud83d\\ude00", "\\ud800", "\\udc00", "\\ud800\\u0041", "\xC3\xA9", "\xF0\x9F\x98\x80",
                     "\x7f", "\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x01", "\\x", "\\u12g4"});
    }
    out += '"';
  }

  void damage_once(std::string& out) {
    static constexpr std::string_view kBytes("{}[],:\"\\0123456789-+.eEtfnul \n\0\xff\xc3\xa9", 34);
    std::size_t at = pick(out.size());
    switch (pick(4)) {
      case 0:
        out.erase(at, 1);
        break;
      case 1:
        out.insert(at, 1, kBytes[pick(kBytes.size())]);
        break;
      case 2:
        out[at] = kBytes[pick(kBytes.size())];
        break;
      default:
        out.resize(at);
    }
  }

  std::mt19937 rng_;
};

TEST(JsonDom, RefusesAndReadsLikeNlohmannOnRandomDocuments) {
  RandomJson random(20240611);
  int accepted = 0;
  for (int i = 0; i < 30000; ++i) {
    std::string text = random.document();
    std::string expected = nlohmann_reads(text);
    ASSERT_EQ(simdjson_reads(text), expected) << "document #" << i << ": " << text;
    accepted += expected != "refused";
  }
  // Both kinds are well represented.
  EXPECT_GT(accepted, 5000);
  EXPECT_LT(accepted, 25000);
}

}  // namespace
}  // namespace hermes
