// The moderation commands: `qguard render` prints the exact prompt for a conversation;
// `qguard classify` moderates conversations.
// Conversations arrive on stdin as JSON arrays of messages (json_input.hpp).
#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <simdjson.h>

#include "commands.hpp"
#include "json_input.hpp"
#include "read_line.hpp"
#include "qguard/classifier.hpp"
#include "qguard/conversation.hpp"
#include "qguard/error.hpp"

namespace qguard::cli {
namespace {

std::string read_stdin() {
  std::string input;
  char buffer[1 << 16];
  std::size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, stdin)) > 0) input.append(buffer, got);
  if (std::ferror(stdin)) throw std::runtime_error(fmt::format("cannot read stdin: {}", std::strerror(errno)));
  return input;
}

void write_stdout(std::string_view bytes) {
  if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size() || std::fflush(stdout) != 0) {
    throw std::runtime_error(fmt::format("cannot write stdout: {}", std::strerror(errno)));
  }
}

void run_render() {
  simdjson::dom::parser parser;
  write_stdout(render_prompt(conversation_from_json(parse_json(parser, read_stdin(), "stdin"), "stdin")));
}

// The verdict's JSON with the time it took, or {"error": ...}; never throws a qguard::Error.
std::string classify_line(const Classifier& classifier, const std::function<Conversation()>& conversation) {
  try {
    const auto start = std::chrono::steady_clock::now();
    const std::string verdict = to_json(classifier.moderate(conversation()));
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return fmt::format("{}, \"ms\": {:.3f}}}", std::string_view(verdict).substr(0, verdict.size() - 1), ms);
  } catch (const Error& e) {
    return "{\"error\": " + to_json(e) + "}";
  }
}

// A JSON string spends at most 6 bytes on one byte of text (\u0000), so a request line longer than
// this many times the classifier's prompt byte bound cannot hold a prompt it would accept.
constexpr std::size_t kJsonMostBytesPerTextByte = 6;

struct ClassifyArgs {
  std::string model;
  std::string mode = "fast";
  std::optional<std::string> text;
  Classifier::Options options;
  bool match_special = false;
};

void run_classify(const ClassifyArgs& args) {
  Classifier::Options options = args.options;
  options.mode = args.mode == "reference" ? DecodingMode::kReference : DecodingMode::kFast;
  options.content_special_tokens = args.match_special ? SpecialTokens::kMatch : SpecialTokens::kPlain;
  const Classifier classifier = Classifier::load(args.model, options);
  if (args.text) {
    write_stdout(classify_line(classifier, [&] { return Conversation{{Role::kUser, *args.text}}; }) + "\n");
    return;
  }
  const std::size_t max_line_bytes = kJsonMostBytesPerTextByte * classifier.max_prompt_bytes();
  const Error line_too_long(
      ErrorCode::kInputTooLong,
      fmt::format("the input line is longer than {} bytes, more than a conversation within --max-input-tokens {} can "
                  "take as JSON; it was skipped unread. Send a shorter conversation, or raise --max-input-tokens",
                  max_line_bytes, options.max_input_tokens));
  simdjson::dom::parser parser;
  std::string line;
  for (bool too_long = false; read_line(stdin, max_line_bytes, line, too_long);) {
    if (!too_long && line.find_first_not_of(" \t\r\n") == std::string::npos) continue;  // blank lines carry no request
    auto conversation = [&] {
      if (too_long) throw line_too_long;
      return conversation_from_line(parser, line);
    };
    write_stdout(classify_line(classifier, conversation) + "\n");
  }
}

}  // namespace

void add_guard_commands(CLI::App& app) {
  CLI::App* render = app.add_subcommand(
      "render", "Print the exact Qwen3Guard-Gen prompt for a conversation given as JSON messages on stdin");
  render->callback(run_render);

  auto args = std::make_shared<ClassifyArgs>();
  CLI::App* classify = app.add_subcommand(
      "classify", "Moderate JSON lines from stdin ({\"prompt\"}, {\"prompt\", \"response\"} or {\"messages\"}), "
                  "one JSON verdict or error per line");
  classify->add_option("--model", args->model,
                       "Model directory or GGUF file, or Hugging Face repo id ORG/NAME[@REV] (docs/hub.md)")->required();
  classify->add_option("--mode", args->mode, "fast (default) or reference (the model card's greedy generation)")
      ->check(CLI::IsMember({"fast", "reference"}));
  classify->add_option("--text", args->text, "Moderate this one user message instead of reading stdin");
  classify->add_option("--threads", args->options.threads, "Threads, the caller included (0 = one per core)")
      ->check(CLI::NonNegativeNumber);
  add_weight_options(*classify, args->options.weights, args->options.pack_cache_dir);
  classify->add_option("--max-input-tokens", args->options.max_input_tokens, "Longest accepted prompt in tokens")
      ->check(CLI::PositiveNumber);
  classify->add_flag("--match-special-in-content", args->match_special,
                     "Match <|im_end|> etc. inside messages, as the reference pipeline does (unsafe for untrusted text)");
  classify->callback([args] { run_classify(*args); });
}

}  // namespace qguard::cli
