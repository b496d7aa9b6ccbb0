// The moderation commands: `qguard render` prints the exact prompt for a conversation.
// Conversations arrive on stdin as a JSON array of {"role": "system"|"user"|"assistant",
// "content": "..."} objects, the shape chat APIs use.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <simdjson.h>

#include "commands.hpp"
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

std::string_view string_field(simdjson::dom::object message, std::string_view key, std::size_t index) {
  simdjson::dom::element value;
  if (message.at_key(key).get(value) != simdjson::SUCCESS) {
    throw Error(ErrorCode::kMalformedJson, fmt::format("message {} has no \"{}\"", index, key));
  }
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) {
    throw Error(ErrorCode::kMalformedJson, fmt::format("message {}: \"{}\" must be a string", index, key));
  }
  return text;
}

// Parses the messages array; other keys in a message (e.g. "name") are ignored.
Conversation parse_conversation(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(json).get(root)) {
    throw Error(ErrorCode::kMalformedJson, fmt::format("stdin is not valid JSON: {}", simdjson::error_message(error)));
  }
  simdjson::dom::array messages;
  if (root.get_array().get(messages) != simdjson::SUCCESS) {
    throw Error(ErrorCode::kMalformedJson,
                "stdin must be a JSON array of messages, e.g. [{\"role\": \"user\", \"content\": \"Hi\"}]");
  }
  Conversation conversation;
  std::size_t index = 0;
  for (simdjson::dom::element element : messages) {
    simdjson::dom::object message;
    if (element.get_object().get(message) != simdjson::SUCCESS) {
      throw Error(ErrorCode::kMalformedJson, fmt::format("message {} is not a JSON object", index));
    }
    const std::string_view role_name = string_field(message, "role", index);
    const std::optional<Role> role = role_from_string(role_name);
    if (!role) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("message {} has role \"{}\"; expected \"system\", \"user\" or \"assistant\"", index,
                              role_name));
    }
    conversation.push_back({*role, std::string(string_field(message, "content", index))});
    ++index;
  }
  return conversation;
}

void run_render() { write_stdout(render_prompt(parse_conversation(read_stdin()))); }

}  // namespace

void add_guard_commands(CLI::App& app) {
  CLI::App* render = app.add_subcommand(
      "render", "Print the exact Qwen3Guard-Gen prompt for a conversation given as JSON messages on stdin");
  render->callback(run_render);
}

}  // namespace qguard::cli
