#include "responses.hpp"

#include <algorithm>
#include <string_view>

#include <fmt/format.h>

#include "qguard/json.hpp"

namespace qguard::serve {
namespace {

std::string usage(const ChatAnswer& a) {
  return fmt::format("{{\"prompt_tokens\": {}, \"completion_tokens\": {}, \"total_tokens\": {}}}", a.prompt_tokens,
                     a.completion_tokens, a.prompt_tokens + a.completion_tokens);
}

// One chat.completion.chunk; `choice` is the inside of choices[0] or empty for the usage-only chunk.
std::string chunk(const ChatAnswer& a, const std::string& choice, const std::string& tail) {
  return fmt::format("data: {{\"id\": {}, \"object\": \"chat.completion.chunk\", \"created\": {}, \"model\": {}, "
                     "\"choices\": [{}]{}}}\n\n",
                     to_json_string(a.id), a.created, to_json_string(a.model), choice, tail);
}

std::string delta_choice(const std::string& delta, const std::string& finish_reason) {
  return fmt::format("{{\"index\": 0, \"delta\": {}, \"logprobs\": null, \"finish_reason\": {}}}", delta,
                     finish_reason.empty() ? "null" : to_json_string(finish_reason));
}

std::string moderation_result(const Verdict& verdict, Policy policy) {
  std::string categories, scores;
  for (Category category : kAllCategories) {
    const bool named = verdict.categories.contains(category);
    const std::string name = to_json_string(to_string(category));
    const char* separator = categories.empty() ? "" : ", ";
    categories += fmt::format("{}{}: {}", separator, name, named);
    // The model's probability of naming the category first (docs/moderation.md); the decoder
    // refuses non-finite logits, so these are finite.
    scores += fmt::format("{}{}: {}", separator, name, verdict.category_probabilities[static_cast<int>(category)]);
  }
  return fmt::format("{{\"flagged\": {}, \"categories\": {{{}}}, \"category_scores\": {{{}}}, \"severity\": \"{}\", "
                     "\"qguard\": {}}}",
                     verdict.is_unsafe(policy), categories, scores, to_string(verdict.severity), to_json(verdict));
}

}  // namespace

std::string chat_completion(const ChatAnswer& a) {
  return fmt::format("{{\"id\": {}, \"object\": \"chat.completion\", \"created\": {}, \"model\": {}, \"choices\": "
                     "[{{\"index\": 0, \"message\": {{\"role\": \"assistant\", \"content\": {}}}, \"logprobs\": null, "
                     "\"finish_reason\": {}}}], \"usage\": {}, \"qguard\": {}}}",
                     to_json_string(a.id), a.created, to_json_string(a.model), to_json_string(a.content),
                     to_json_string(a.finish_reason), usage(a), a.extension);
}

std::string chat_completion_events(const ChatAnswer& a, bool include_usage) {
  const std::string no_usage = include_usage ? ", \"usage\": null" : "";
  std::string events = chunk(a, delta_choice("{\"role\": \"assistant\", \"content\": \"\"}", ""), no_usage);
  // One delta per line of the answer, the newline leading the next line's delta.
  const std::string_view content = a.content;
  for (std::size_t start = 0; start < content.size();) {
    const std::size_t end = std::min(content.find('\n', start + 1), content.size());
    const std::string piece = to_json_string(content.substr(start, end - start));
    events += chunk(a, delta_choice(fmt::format("{{\"content\": {}}}", piece), ""), no_usage);
    start = end;
  }
  events += chunk(a, delta_choice("{}", a.finish_reason), no_usage + ", \"qguard\": " + a.extension);
  if (include_usage) events += chunk(a, "", ", \"usage\": " + usage(a));
  return events + "data: [DONE]\n\n";
}

std::string extension(const Verdict& verdict, double queue_ms, double moderation_ms) {
  return fmt::format("{{\"verdict\": {}, \"timings\": {{\"queue_ms\": {:.3f}, \"moderation_ms\": {:.3f}}}}}",
                     to_json(verdict), queue_ms, moderation_ms);
}

std::string moderation(const std::string& id, const std::string& model, const std::vector<Verdict>& verdicts,
                       Policy policy) {
  std::string results;
  for (const Verdict& verdict : verdicts) results += (results.empty() ? "" : ", ") + moderation_result(verdict, policy);
  return fmt::format("{{\"id\": {}, \"model\": {}, \"results\": [{}]}}", to_json_string(id), to_json_string(model),
                     results);
}

std::string model_list(const std::vector<std::string>& names, std::int64_t created) {
  std::string data;
  for (const std::string& name : names) {
    data += fmt::format("{}{{\"id\": {}, \"object\": \"model\", \"created\": {}, \"owned_by\": \"qguard\"}}",
                        data.empty() ? "" : ", ", to_json_string(name), created);
  }
  return fmt::format("{{\"object\": \"list\", \"data\": [{}]}}", data);
}

}  // namespace qguard::serve
