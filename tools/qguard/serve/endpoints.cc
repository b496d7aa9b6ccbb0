#include "endpoints.hpp"

#include <chrono>
#include <cstdint>
#include <ctime>
#include <random>

#include <fmt/format.h>

#include "api_error.hpp"
#include "requests.hpp"
#include "responses.hpp"

namespace qguard::serve {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string random_id(std::string_view prefix) {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return fmt::format("{}{:016x}", prefix, random());
}

// The model a request names must be one we serve; a request naming none gets the first.
std::string resolve_model(const ServeOptions& options, const std::string& requested) {
  const std::vector<std::string> names = options.names();
  if (requested.empty()) return names.front();
  for (const std::string& name : names) {
    if (name == requested) return name;
  }
  throw ApiError(404, "invalid_request_error", "model_not_found",
                 fmt::format("The model `{}` does not exist; this server serves `{}`", requested, names.front()),
                 "model");
}

// Runs `work` holding a moderation slot; the slot is freed before the answer is written.
template <typename Work>
auto with_slot(const Endpoints& e, Work&& work) {
  std::optional<Clock::time_point> deadline;
  if (e.options.request_timeout_seconds > 0) {
    deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(e.options.request_timeout_seconds));
  }
  std::optional<Admission::Slot> slot;
  switch (e.admission.enter(deadline, slot)) {
    case Admission::Outcome::kQueueFull:
      throw ApiError(429, "rate_limit_error", "queue_full",
                     fmt::format("The server is busy: {} requests are already waiting (--max-queue); retry later",
                                 e.options.max_queue));
    case Admission::Outcome::kDeadline:
      throw ApiError(503, "server_error", "timeout",
                     fmt::format("No moderation slot became free within {} s (--request-timeout)",
                                 e.options.request_timeout_seconds));
    case Admission::Outcome::kAdmitted: break;
  }
  return work();
}

// The request was checked before it was queued, so only its length (counted by the Classifier) can
// still be the client's fault; any other failure is the server's (500), e.g. a model answer outside
// the grammar. Either way no verdict is made up.
template <typename Result, typename Call>
Result classifier_call(Call&& call, const std::string& param) {
  try {
    return call();
  } catch (const Error& error) {
    if (error.code() == ErrorCode::kInputTooLong) throw api_error_from(error, param);
    throw ApiError(500, "server_error", to_string(error.code()), error.what());
  }
}

}  // namespace

Endpoints::Reply Endpoints::chat_completions(std::string_view body) const {
  const ChatRequest request = parse_chat_request(body);
  ChatAnswer answer;
  answer.id = random_id("chatcmpl-");
  answer.created = std::time(nullptr);
  answer.model = resolve_model(options, request.model);
  const auto arrived = Clock::now();
  double queue_ms = 0;
  const Verdict verdict = with_slot(*this, [&] {
    queue_ms = ms_since(arrived);
    return classifier_call<Verdict>([&] { return classifier.moderate(request.conversation); }, "messages");
  });
  const double moderation_ms = ms_since(arrived) - queue_ms;

  // Usage as an OpenAI-compatible server counts it: the prompt's tokens, and the answer's tokens plus
  // the end-of-answer token <|im_end|> that a generating server also produces.
  const Tokenizer& tokenizer = classifier.tokenizer();
  answer.prompt_tokens = static_cast<std::int64_t>(classifier.prompt_tokens(request.conversation).size());
  const std::vector<std::int32_t> answer_ids = tokenizer.encode(verdict.raw, SpecialTokens::kPlain);
  answer.content = verdict.raw;
  answer.finish_reason = "stop";
  answer.completion_tokens = static_cast<std::int64_t>(answer_ids.size()) + 1;
  if (request.max_tokens && *request.max_tokens < answer.completion_tokens) {
    // Cut as a generating server would: the first max_tokens tokens, finish_reason "length".
    const auto kept = std::min<std::int64_t>(*request.max_tokens, static_cast<std::int64_t>(answer_ids.size()));
    answer.content = tokenizer.decode({answer_ids.begin(), answer_ids.begin() + kept});
    answer.completion_tokens = *request.max_tokens;
    answer.finish_reason = "length";
  }
  answer.extension = extension(verdict, queue_ms, moderation_ms);
  metrics.add_tokens(answer.prompt_tokens, answer.completion_tokens);
  if (request.stream) return {chat_completion_events(answer, request.include_usage), "text/event-stream"};
  return {chat_completion(answer), "application/json"};
}

Endpoints::Reply Endpoints::moderations(std::string_view body) const {
  const ModerationRequest request = parse_moderation_request(body, options.max_moderation_inputs);
  const std::string model = resolve_model(options, request.model);
  const std::vector<Verdict> verdicts = with_slot(*this, [&] {
    std::vector<Verdict> results;
    for (std::size_t i = 0; i < request.inputs.size(); ++i) {
      results.push_back(classifier_call<Verdict>([&] { return classifier.moderate(request.inputs[i]); },
                                                 fmt::format("{}[{}]", request.field, i)));
    }
    return results;
  });
  std::int64_t prompt_tokens = 0;
  for (const Conversation& input : request.inputs) {
    prompt_tokens += static_cast<std::int64_t>(classifier.prompt_tokens(input).size());
  }
  metrics.add_tokens(prompt_tokens, 0);
  return {moderation(random_id("modr-"), model, verdicts, options.policy), "application/json"};
}

}  // namespace qguard::serve
