// The request bodies `qguard serve` accepts, parsed and checked before any work is queued.
// Malformed bodies are ApiError 400 naming the offending field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qguard/conversation.hpp"

namespace qguard::serve {

// POST /v1/chat/completions. The sampling fields are checked for type and range and then ignored:
// the verdict is the greedy answer whatever they say.
struct ChatRequest {
  std::string model;  // empty when the request names none
  Conversation conversation;
  bool stream = false;
  bool include_usage = false;                // stream_options.include_usage
  std::optional<std::int64_t> max_tokens;    // max_tokens or max_completion_tokens
};

// POST /v1/moderations: "input" (a string or an array of strings: user prompts) or, as an extension
// for response moderation, "messages" (one conversation, or an array of conversations).
struct ModerationRequest {
  std::string model;
  std::vector<Conversation> inputs;
  std::string field;  // "input" or "messages", to name a failing input
};

ChatRequest parse_chat_request(std::string_view body);
// At most `max_inputs` inputs per request: each one costs a full moderation.
ModerationRequest parse_moderation_request(std::string_view body, std::size_t max_inputs);

}  // namespace qguard::serve
