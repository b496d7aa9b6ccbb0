// `qguard tokenize` and `qguard detokenize`: the tokenizer over JSON lines, one output line per
// non-blank input line, in order, so other implementations can be checked against it.
//   {"text": "..."}  ->  {"ids": [...]}        (tokenize)
//   {"ids": [...]}   ->  {"text": "..."}       (detokenize)
// A line that cannot be handled gets {"error": {"code": ..., "message": ...}} in its place.
#include <cstdio>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "commands.hpp"
#include "read_line.hpp"
#include "qguard/error.hpp"
#include "qguard/json.hpp"
#include "qguard/tokenizer.hpp"

namespace qguard::cli {
namespace {

struct TextArgs {
  std::string tokenizer;
  bool no_special = false;
};

void add_tokenizer_option(CLI::App& cmd, TextArgs& args) {
  cmd.add_option("--tokenizer", args.tokenizer,
                 "tokenizer.json, a model directory holding one, or a Hugging Face repo id")->required();
}

simdjson::dom::element field(simdjson::dom::element line, const char* key) {
  simdjson::dom::element value;
  if (line.at_key(key).get(value) != simdjson::SUCCESS) {
    throw Error(ErrorCode::kMalformedJson, fmt::format("the line has no \"{}\" field", key));
  }
  return value;
}

std::string tokenize_line(const Tokenizer& tokenizer, SpecialTokens special, simdjson::dom::element line) {
  std::string_view text;
  if (field(line, "text").get(text) != simdjson::SUCCESS) {
    throw Error(ErrorCode::kMalformedJson, "\"text\" must be a string");
  }
  return fmt::format("{{\"ids\": [{}]}}", fmt::join(tokenizer.encode(text, special), ", "));
}


std::string detokenize_line(const Tokenizer& tokenizer, simdjson::dom::element line) {
  simdjson::dom::array array;
  if (field(line, "ids").get(array) != simdjson::SUCCESS) throw Error(ErrorCode::kMalformedJson, "\"ids\" must be an array");
  std::vector<std::int32_t> ids;
  for (const auto id : array) {
    std::int64_t value = 0;
    if (id.get(value) != simdjson::SUCCESS || value < INT32_MIN || value > INT32_MAX) {
      throw Error(ErrorCode::kMalformedJson, "\"ids\" must hold integer token ids");
    }
    ids.push_back(static_cast<std::int32_t>(value));
  }
  std::string out = "{\"text\": ";
  out += to_json_string(tokenizer.decode(ids));
  return out + "}";
}

// The longest input line read: 64 MiB of JSON is far more text than any model context holds, and
// bounds what one line can make the command allocate.
constexpr std::size_t kMaxLineBytes = std::size_t{64} << 20;

// Answers each non-blank line of stdin with one line on stdout, flushed, so the command also
// works as a co-process. Errors of one line become that line's answer.
void answer_lines(const std::function<std::string(simdjson::dom::element)>& answer) {
  simdjson::dom::parser parser;
  std::string line;
  for (bool too_long = false; read_line(stdin, kMaxLineBytes, line, too_long);) {
    if (!too_long && line.find_first_not_of(" \t\r\n") == std::string::npos) continue;
    std::string reply;
    try {
      if (too_long) {
        throw Error(ErrorCode::kInputTooLong, fmt::format("the input line is longer than {} bytes; it was skipped unread. "
                                                          "Split the text over several lines",
                                                          kMaxLineBytes));
      }
      simdjson::dom::element root;
      if (const auto error = parser.parse(line).get(root)) {
        throw Error(ErrorCode::kMalformedJson, fmt::format("the line is not valid JSON: {}", simdjson::error_message(error)));
      }
      reply = answer(root);
    } catch (const Error& e) {
      reply = "{\"error\": " + to_json(e) + "}";
    }
    reply += '\n';
    std::fwrite(reply.data(), 1, reply.size(), stdout);
    std::fflush(stdout);
  }
}

}  // namespace

void add_text_commands(CLI::App& app) {
  auto tokenize_args = std::make_shared<TextArgs>();
  CLI::App* tokenize =
      app.add_subcommand("tokenize", "Token ids of JSON lines {\"text\": ...} from stdin, as {\"ids\": [...]} lines");
  add_tokenizer_option(*tokenize, *tokenize_args);
  tokenize->add_flag("--no-special", tokenize_args->no_special,
                     "Encode added-token text such as <|im_end|> as plain text instead of its single id");
  tokenize->callback([tokenize_args] {
    const Tokenizer tokenizer = Tokenizer::load(tokenize_args->tokenizer);
    const SpecialTokens special = tokenize_args->no_special ? SpecialTokens::kPlain : SpecialTokens::kMatch;
    answer_lines([&](simdjson::dom::element line) { return tokenize_line(tokenizer, special, line); });
  });

  auto detokenize_args = std::make_shared<TextArgs>();
  CLI::App* detokenize =
      app.add_subcommand("detokenize", "Text of JSON lines {\"ids\": [...]} from stdin, as {\"text\": ...} lines");
  add_tokenizer_option(*detokenize, *detokenize_args);
  detokenize->callback([detokenize_args] {
    const Tokenizer tokenizer = Tokenizer::load(detokenize_args->tokenizer);
    answer_lines([&](simdjson::dom::element line) { return detokenize_line(tokenizer, line); });
  });
}

}  // namespace qguard::cli
