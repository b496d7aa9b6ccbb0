// Reading conversations from JSON, shared by `qguard classify` and `qguard serve`: a JSON array of
// {"role": "system"|"user"|"assistant", "content": ...} objects, the shape chat APIs use.
#pragma once

#include <string_view>

#include <simdjson.h>

#include "qguard/conversation.hpp"

namespace qguard::cli {

// Parses `json`; throws Error(kMalformedJson) naming `where` when it is not valid JSON.
simdjson::dom::element parse_json(simdjson::dom::parser& parser, std::string_view json, std::string_view where);

// The messages of a JSON array. "content" is a string or an array of {"type": "text", "text": ...}
// parts (OpenAI's form), joined with "\n"; other keys of a message (e.g. "name") are ignored.
// Throws Error(kMalformedJson) for a wrong shape and Error(kInvalidArgument) for an unknown role.
// The conversation's structure is checked later, by the Classifier's own rules.
Conversation conversation_from_json(simdjson::dom::element root, std::string_view where);

// One input line of `qguard classify`: {"prompt": ...}, {"prompt": ..., "response": ...} or
// {"messages": [...]}. Throws like conversation_from_json.
Conversation conversation_from_line(simdjson::dom::parser& parser, std::string_view line);

}  // namespace qguard::cli
