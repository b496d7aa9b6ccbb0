#include "requests.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include "../json_input.hpp"
#include "api_error.hpp"

namespace qguard::serve {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

// One parser per connection thread: it keeps its buffers between requests.
object parse_object(std::string_view body) {
  thread_local simdjson::dom::parser parser;
  try {
    object root;
    if (cli::parse_json(parser, body, "the request body").get_object().get(root) != simdjson::SUCCESS) {
      throw ApiError::invalid("the request body must be a JSON object");
    }
    return root;
  } catch (const Error& e) {
    throw api_error_from(e, "");
  }
}

// The field, or nullopt when it is absent or null (OpenAI treats both as "not given").
std::optional<element> optional_field(object root, std::string_view key) {
  element value;
  if (root.at_key(key).get(value) != simdjson::SUCCESS || value.is_null()) return std::nullopt;
  return value;
}

std::string model_name(object root) {
  const std::optional<element> model = optional_field(root, "model");
  if (!model) return {};
  std::string_view name;
  if (model->get_string().get(name) != simdjson::SUCCESS) throw ApiError::invalid("\"model\" must be a string", "model");
  return std::string(name);
}

// Checked by the Classifier's own rules (roles, order, UTF-8) before any work is queued.
Conversation checked(Conversation conversation, const std::string& param) {
  try {
    render_prompt(conversation);
    return conversation;
  } catch (const Error& e) {
    throw api_error_from(e, param);
  }
}

Conversation conversation_from(element messages, const std::string& param) {
  try {
    return checked(cli::conversation_from_json(messages, param), param);
  } catch (const Error& e) {
    throw api_error_from(e, param);
  }
}

void check_number(object root, std::string_view key, double low, double high) {
  const std::optional<element> value = optional_field(root, key);
  double number;
  if (value && (!value->is_number() || value->get_double().get(number) != simdjson::SUCCESS || number < low ||
                number > high)) {
    throw ApiError::invalid(fmt::format("\"{}\" must be a number in [{}, {}]", key, low, high), std::string(key));
  }
}

std::optional<std::int64_t> integer(object root, std::string_view key, std::int64_t low) {
  const std::optional<element> value = optional_field(root, key);
  if (!value) return std::nullopt;
  std::int64_t number;
  if (value->get_int64().get(number) != simdjson::SUCCESS || number < low) {
    throw ApiError::invalid(fmt::format("\"{}\" must be an integer of at least {}", key, low), std::string(key));
  }
  return number;
}

bool boolean(object root, std::string_view key) {
  const std::optional<element> value = optional_field(root, key);
  bool flag = false;
  if (value && value->get_bool().get(flag) != simdjson::SUCCESS) {
    throw ApiError::invalid(fmt::format("\"{}\" must be true or false", key), std::string(key));
  }
  return flag;
}

void check_sampling_fields(object root) {
  check_number(root, "temperature", 0, 2);
  check_number(root, "top_p", 0, 1);
  check_number(root, "presence_penalty", -2, 2);
  check_number(root, "frequency_penalty", -2, 2);
  integer(root, "seed", INT64_MIN);
  if (integer(root, "n", 1).value_or(1) != 1) throw ApiError::invalid("only \"n\": 1 is supported", "n");
  if (boolean(root, "logprobs")) throw ApiError::invalid("\"logprobs\" is not supported", "logprobs");
}

}  // namespace

ChatRequest parse_chat_request(std::string_view body) {
  const object root = parse_object(body);
  ChatRequest request;
  request.model = model_name(root);
  check_sampling_fields(root);
  request.max_tokens = integer(root, "max_completion_tokens", 1);
  if (!request.max_tokens) request.max_tokens = integer(root, "max_tokens", 1);
  request.stream = boolean(root, "stream");
  if (const std::optional<element> options = optional_field(root, "stream_options")) {
    object stream_options;
    if (options->get_object().get(stream_options) != simdjson::SUCCESS) {
      throw ApiError::invalid("\"stream_options\" must be an object", "stream_options");
    }
    request.include_usage = boolean(stream_options, "include_usage");
  }
  const std::optional<element> messages = optional_field(root, "messages");
  if (!messages) throw ApiError::invalid("\"messages\" is required", "messages");
  request.conversation = conversation_from(*messages, "messages");
  return request;
}

ModerationRequest parse_moderation_request(std::string_view body, std::size_t max_inputs) {
  const object root = parse_object(body);
  ModerationRequest request;
  request.model = model_name(root);
  const std::optional<element> input = optional_field(root, "input");
  const std::optional<element> messages = optional_field(root, "messages");
  const std::string param = input ? "input" : "messages";
  request.field = param;
  if (input.has_value() == messages.has_value()) {
    throw ApiError::invalid("give either \"input\" (a string or an array of strings) or \"messages\" (a "
                            "conversation or an array of conversations)", param);
  }
  // One element per input: "input" is one string or an array of them; "messages" is one conversation
  // (an array of message objects) or an array of conversations (an array of arrays).
  std::vector<element> items;
  simdjson::dom::array array;
  const element value = input ? *input : *messages;
  element first;
  const bool batch = value.get_array().get(array) == simdjson::SUCCESS &&
                     (input || (array.at(0).get(first) == simdjson::SUCCESS && first.is_array()));
  if (batch) {
    for (element item : array) items.push_back(item);
  } else {
    items.push_back(value);
  }
  if (items.empty() || items.size() > max_inputs) {
    throw ApiError::invalid(fmt::format("a moderation request takes 1 to {} inputs", max_inputs), param);
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string where = batch ? fmt::format("{}[{}]", param, i) : param;
    std::string_view text;
    if (messages) {
      request.inputs.push_back(conversation_from(items[i], where));
    } else if (items[i].get_string().get(text) == simdjson::SUCCESS) {
      request.inputs.push_back(checked({{Role::kUser, std::string(text)}}, where));
    } else {
      throw ApiError::invalid("\"input\" must be a string or an array of strings", where);
    }
  }
  return request;
}

}  // namespace qguard::serve
