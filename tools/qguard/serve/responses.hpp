// The JSON bodies `qguard serve` answers with, in OpenAI's shapes (chat.completion,
// chat.completion.chunk events, moderation, model list).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qguard/verdict.hpp"

namespace qguard::serve {

// What one chat completion reports, computed before anything is written.
struct ChatAnswer {
  std::string id;  // chatcmpl-...
  std::int64_t created = 0;
  std::string model;
  std::string content;        // the model's answer text
  std::string finish_reason;  // "stop", or "length" when max_tokens cut the answer
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  // The non-standard "qguard" field: {"verdict": to_json(verdict), "timings": {...}}.
  std::string extension;
};

std::string chat_completion(const ChatAnswer& answer);
// The server-sent events of a streamed answer, ending with "data: [DONE]": a role delta, the content
// line by line, a final delta with finish_reason and the extension, and a usage chunk if asked for.
std::string chat_completion_events(const ChatAnswer& answer, bool include_usage);

// {"verdict": ..., "timings": {"queue_ms": ..., "moderation_ms": ...}}
std::string extension(const Verdict& verdict, double queue_ms, double moderation_ms);

// One moderation result per verdict, in order. category_scores: docs/server.md.
std::string moderation(const std::string& id, const std::string& model, const std::vector<Verdict>& verdicts,
                       Policy policy);

std::string model_list(const std::vector<std::string>& names, std::int64_t created);

}  // namespace qguard::serve
