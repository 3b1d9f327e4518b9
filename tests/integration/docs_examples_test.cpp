// The examples in README.md and docs/ that are marked as such run here, against a
// hermesd started with the demo configuration (config/hermes.yaml), and their output
// must match what the page shows, so the docs cannot drift from the code.
//
// Marking, in the Markdown source (invisible on the rendered page):
//   <!-- example -->           before a fenced block of `$ command` lines, each followed by
//                              its output. Commands run in order in one work directory
//                              that looks like a checkout: config/hermes.yaml (the demo,
//                              on a free port), ./build/default/bin/hermesctl and
//                              `hermesctl` on PATH; 127.0.0.1:8080 and localhost:8080
//                              mean the running hermesd. Each block gets a fresh hermesd.
//   <!-- example-file: NAME --> before a fenced block: its text is written to NAME in the
//                              work directory, for the next example to use.
// In the shown output, `…` (and the spaces around it) stands for any text, and the
// values that change from run to run are not compared: hex ids and hashes (12+ hex
// digits), ISO 8601 timestamps and Unix times.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>

#include "harness.hpp"

namespace hermes::test {
namespace {

struct Step {
  std::string command;
  std::vector<std::string> expected;
};

struct Example {
  std::string where;  // FILE:LINE of the block
  std::vector<std::pair<std::string, std::string>> files;  // written before it runs
  std::vector<Step> steps;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  while (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The fenced block starting after line `i` (the marker): its lines, and `i` moved past it.
std::vector<std::string> fenced_block(const std::vector<std::string>& lines, std::size_t& i) {
  std::vector<std::string> block;
  if (i + 1 >= lines.size() || lines[i + 1].rfind("```", 0) != 0) return block;
  for (i += 2; i < lines.size() && lines[i].rfind("```", 0) != 0; ++i) block.push_back(lines[i]);
  return block;
}

std::vector<Step> parse_steps(const std::vector<std::string>& block) {
  std::vector<Step> steps;
  for (std::size_t i = 0; i < block.size(); ++i) {
    if (block[i].rfind("$ ", 0) == 0) {
      Step s;
      s.command = block[i].substr(2);
      while (!s.command.empty() && s.command.back() == '\\' && i + 1 < block.size()) {
        s.command.pop_back();
        s.command += " " + block[++i];
      }
      steps.push_back(std::move(s));
    } else if (!steps.empty()) {
      steps.back().expected.push_back(block[i]);
    }
  }
  for (auto& s : steps) {
    while (!s.expected.empty() && s.expected.back().empty()) s.expected.pop_back();
  }
  return steps;
}

std::vector<Example> examples_in(const std::filesystem::path& file, const std::string& shown_as) {
  static const std::regex file_marker(R"(<!-- example-file: (\S+) -->)");
  std::vector<Example> out;
  auto lines = lines_of(read_text(file));
  std::vector<std::pair<std::string, std::string>> files;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::smatch m;
    if (std::regex_match(lines[i], m, file_marker)) {
      std::string name = m[1];
      std::string text;
      for (const auto& l : fenced_block(lines, i)) text += l + "\n";
      files.emplace_back(name, text);
    } else if (lines[i] == "<!-- example -->") {
      Example e;
      e.where = shown_as + ":" + std::to_string(i + 2);
      e.files = std::exchange(files, {});
      e.steps = parse_steps(fenced_block(lines, i));
      out.push_back(std::move(e));
    }
  }
  return out;
}

// The shown line as a pattern: `…` and the values that change between runs match anything.
std::regex pattern_of(const std::string& shown) {
  static const std::regex volatile_parts(
      R"( ?… ?|[0-9a-f]{12,}|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z|"created":\d{9,})");
  static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
  std::string out;
  auto escape = [&](const std::string& text) { out += std::regex_replace(text, special, R"(\$&)"); };
  std::size_t at = 0;
  for (auto it = std::sregex_iterator(shown.begin(), shown.end(), volatile_parts); it != std::sregex_iterator();
       ++it) {
    escape(shown.substr(at, static_cast<std::size_t>(it->position()) - at));
    std::string part = it->str();
    if (part.find("…") != std::string::npos) out += ".*";
    else if (part.rfind("\"created\"", 0) == 0) out += "\"created\":[0-9]+";
    else if (part.find('T') != std::string::npos) out += R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z)";
    else out += "[0-9a-f]{12,}";
    at = static_cast<std::size_t>(it->position() + it->length());
  }
  escape(shown.substr(at));
  return std::regex(out);
}

struct Ran {
  int exit_code = -1;
  std::string output;
};

Ran run_in(const std::filesystem::path& dir, const std::string& command, int previous_exit) {
  // One shell per step; `$?` is the previous step's exit code, as in a terminal.
  std::string script = "cd '" + dir.string() + "' && unset HERMES_ADMIN_KEY STATE_DIRECTORY CREDENTIALS_DIRECTORY" +
                       " && export PATH='" + (dir / "build/default/bin").string() + "':\"$PATH\" && (exit " +
                       std::to_string(previous_exit) + "); " + command;
  std::string quoted;
  for (char c : script) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  Ran r;
  FILE* p = ::popen(("bash -c '" + quoted + "' 2>&1").c_str(), "r");
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) r.output += buf.data();
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

void substitute(std::string& text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

// A work directory that looks like a checkout, for the commands as the page shows them.
std::filesystem::path work_dir(const Daemon& daemon) {
  auto dir = daemon.dir().path() / "work";
  std::filesystem::create_directories(dir / "config");
  std::filesystem::create_directories(dir / "build/default/bin");
  std::filesystem::copy_file(daemon.config_path(), dir / "config/hermes.yaml");
  std::filesystem::create_symlink(HERMESCTL_PATH, dir / "build/default/bin/hermesctl");
  std::filesystem::create_directory_symlink(daemon.dir().path() / "data", dir / "build/data");
  return dir;
}

std::string demo_config() {
  auto text = read_text(std::filesystem::path(HERMES_SOURCE_DIR) / "config/hermes.yaml");
  auto at = text.find("port: 8080");
  if (at == std::string::npos) throw std::runtime_error("config/hermes.yaml no longer listens on port 8080");
  text.replace(at, 10, "port: ${PORT0}");
  return text;
}

void check(const Example& example) {
  SCOPED_TRACE(example.where);
  ASSERT_FALSE(example.steps.empty()) << "no `$ command` lines in the marked block";
  Daemon daemon(demo_config());
  ASSERT_TRUE(daemon.start()) << daemon.log();
  auto dir = work_dir(daemon);
  for (const auto& [name, text] : example.files) {
    std::ofstream(dir / name) << text;
  }
  int exit_code = 0;
  for (const auto& step : example.steps) {
    auto command = step.command;
    auto port = std::to_string(daemon.port());
    substitute(command, "127.0.0.1:8080", "127.0.0.1:" + port);
    substitute(command, "localhost:8080", "localhost:" + port);
    auto ran = run_in(dir, command, exit_code);
    exit_code = ran.exit_code;
    auto got = lines_of(ran.output);
    std::string context = "$ " + step.command + "\n--- the page shows:\n";
    for (const auto& l : step.expected) context += l + "\n";
    context += "--- it printed:\n" + ran.output;
    if (got.size() != step.expected.size()) {
      ADD_FAILURE() << "it printed " << got.size() << " line(s), the page shows " << step.expected.size() << "\n"
                    << context;
      continue;
    }
    for (std::size_t i = 0; i < got.size(); ++i) {
      if (!std::regex_match(got[i], pattern_of(step.expected[i]))) {
        ADD_FAILURE() << "line " << i + 1 << " differs:\n  shown: " << step.expected[i] << "\n  got:   " << got[i]
                      << "\n"
                      << context;
        break;
      }
    }
  }
}

std::vector<Example> all_examples() {
  std::filesystem::path source(HERMES_SOURCE_DIR);
  std::vector<Example> out;
  std::vector<std::filesystem::path> pages{source / "README.md"};
  for (const auto& entry : std::filesystem::recursive_directory_iterator(source / "docs")) {
    if (entry.path().extension() == ".md") pages.push_back(entry.path());
  }
  for (const auto& page : pages) {
    for (auto& e : examples_in(page, std::filesystem::relative(page, source).string())) out.push_back(std::move(e));
  }
  return out;
}

TEST(DocsExamples, ShownOutputMatchesWhatTheCommandsPrint) {
  auto examples = all_examples();
  // The pages mark at least these; fewer means a marker was lost in an edit.
  ASSERT_GE(examples.size(), 12u);
  for (const auto& e : examples) check(e);
}

TEST(DocsExamples, PatternsIgnoreOnlyTheValuesThatChange) {
  EXPECT_TRUE(std::regex_match(R"({"created":1795560598,"id":"chatcmpl-e37f506c99ed66f01117820cf85e0e05"})",
                               pattern_of(R"({"created":1795000000,"id":"chatcmpl-0123456789abcdef0123456789abcdef"})")));
  EXPECT_FALSE(std::regex_match(R"({"created":1795560598,"model":"general"})",
                                pattern_of(R"({"created":1795560598,"model":"billing"})")));
  EXPECT_TRUE(std::regex_match("a 2026-12-05T12:48:01.661Z b", pattern_of("a 2026-01-01T00:00:00.000Z b")));
  EXPECT_TRUE(std::regex_match(R"(x "content":"hi" y)", pattern_of(R"(… "content":"hi" …)")));
  EXPECT_FALSE(std::regex_match(R"(x "content":"ho" y)", pattern_of(R"(… "content":"hi" …)")));
  EXPECT_TRUE(std::regex_match("(a) [b] {c} *d+ ?|^$\\", pattern_of("(a) [b] {c} *d+ ?|^$\\")));
}

}  // namespace
}  // namespace hermes::test
