#include "json_input.hpp"

#include <optional>
#include <string>

#include <fmt/format.h>

#include "qguard/error.hpp"

namespace qguard::cli {
namespace {

simdjson::dom::element field(simdjson::dom::object message, std::string_view key, std::size_t index) {
  simdjson::dom::element value;
  if (message.at_key(key).get(value) != simdjson::SUCCESS) {
    throw Error(ErrorCode::kMalformedJson, fmt::format("message {} has no \"{}\"", index, key));
  }
  return value;
}

std::string_view string_field(simdjson::dom::object message, std::string_view key, std::size_t index) {
  std::string_view text;
  if (field(message, key, index).get_string().get(text) != simdjson::SUCCESS) {
    throw Error(ErrorCode::kMalformedJson, fmt::format("message {}: \"{}\" must be a string", index, key));
  }
  return text;
}

// A string, or text parts joined with "\n" (what vLLM does for models whose template takes strings).
std::string content_text(simdjson::dom::object message, std::size_t index) {
  const simdjson::dom::element content = field(message, "content", index);
  if (content.is_string()) return std::string(string_field(message, "content", index));
  simdjson::dom::array parts;
  if (content.get_array().get(parts) != simdjson::SUCCESS) {
    throw Error(ErrorCode::kMalformedJson,
                fmt::format("message {}: \"content\" must be a string or an array of text parts", index));
  }
  std::string text;
  std::size_t part_index = 0;
  for (simdjson::dom::element part : parts) {
    std::string_view type, part_text;
    if (part["type"].get_string().get(type) != simdjson::SUCCESS || type != "text" ||
        part["text"].get_string().get(part_text) != simdjson::SUCCESS) {
      throw Error(ErrorCode::kMalformedJson,
                  fmt::format("message {}, content part {}: only {{\"type\": \"text\", \"text\": \"...\"}} parts "
                              "are supported",
                              index, part_index));
    }
    if (part_index++ > 0) text += '\n';
    text += part_text;
  }
  return text;
}

}  // namespace

simdjson::dom::element parse_json(simdjson::dom::parser& parser, std::string_view json, std::string_view where) {
  simdjson::dom::element root;
  if (auto error = parser.parse(simdjson::padded_string(json)).get(root)) {
    throw Error(ErrorCode::kMalformedJson, fmt::format("{} is not valid JSON: {}", where, simdjson::error_message(error)));
  }
  return root;
}

Conversation conversation_from_json(simdjson::dom::element root, std::string_view where) {
  simdjson::dom::array messages;
  if (root.get_array().get(messages) != simdjson::SUCCESS) {
    throw Error(ErrorCode::kMalformedJson, fmt::format("{} must be a JSON array of messages, e.g. "
                                                       "[{{\"role\": \"user\", \"content\": \"Hi\"}}]", where));
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
    conversation.push_back({*role, content_text(message, index)});
    ++index;
  }
  return conversation;
}

Conversation conversation_from_line(simdjson::dom::parser& parser, std::string_view line) {
  simdjson::dom::object object;
  if (parse_json(parser, line, "the input line").get_object().get(object) != simdjson::SUCCESS) {
    throw Error(ErrorCode::kMalformedJson, "an input line must be a JSON object");
  }
  simdjson::dom::element messages;
  if (object.at_key("messages").get(messages) == simdjson::SUCCESS)
    return conversation_from_json(messages, "\"messages\"");
  std::string_view prompt, response;
  if (object.at_key("prompt").get_string().get(prompt) != simdjson::SUCCESS) {
    throw Error(ErrorCode::kMalformedJson,
                "an input line needs a string \"prompt\" (optionally with \"response\") or a \"messages\" array");
  }
  Conversation conversation{{Role::kUser, std::string(prompt)}};
  simdjson::dom::element response_element;
  if (object.at_key("response").get(response_element) == simdjson::SUCCESS) {
    if (response_element.get_string().get(response) != simdjson::SUCCESS) {
      throw Error(ErrorCode::kMalformedJson, "\"response\" must be a string");
    }
    conversation.push_back({Role::kAssistant, std::string(response)});
  }
  return conversation;
}

}  // namespace qguard::cli
