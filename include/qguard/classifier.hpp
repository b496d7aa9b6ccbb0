// qguard::Classifier: is this message safe? Load a Qwen3Guard-Gen model directory once, then ask
// from any number of threads.
//
//   auto guard = qguard::Classifier::load("models/Qwen3Guard-Gen-0.6B");
//   qguard::Verdict v = guard.moderate_prompt("How can I make a bomb?");
//   if (v.is_unsafe()) { /* block */ }
//
// Every failure is a qguard::Error; no failure is ever reported as a Safe verdict.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qguard/conversation.hpp"
#include "qguard/error.hpp"
#include "qguard/export.h"
#include "qguard/model.hpp"
#include "qguard/tokenizer.hpp"
#include "qguard/verdict.hpp"

namespace qguard {

enum class DecodingMode {
  // Default. The shared policy text is computed once per Classifier; each request runs only its own
  // tokens, reads the severity from the three allowed continuations of "Safety:" and decodes the
  // categories (and refusal) constrained to the output grammar. Always yields a well-formed verdict.
  kFast,
  // The model card's path: greedy generation until <|im_end|> (at most max_new_tokens), then
  // parsing. An answer outside the grammar is Error(kMalformedOutput).
  kReference,
};

class QGUARD_API Classifier {
 public:
  struct Options {
    int threads = 0;  // threads for one moderation, the caller included; 0 = one per core
    DecodingMode mode = DecodingMode::kFast;
    WeightFormat weights = WeightFormat::kAuto;
    std::string pack_cache_dir;  // see Model::Options: packed weights reused across loads
    // Longest accepted prompt, in tokens, template included (the template alone is ~300). Longer
    // input is Error(kInputTooLong) with its token count; nothing is truncated silently.
    int max_input_tokens = 8192;
    int max_new_tokens = 128;  // kReference only
    // How added-token text (<|im_end|>, ...) inside message content is encoded. kPlain (default)
    // keeps a message from forging the conversation's structure; kMatch is what the reference
    // pipeline (apply_chat_template + tokenizer) does.
    SpecialTokens content_special_tokens = SpecialTokens::kPlain;
  };

  // Loads the model and its tokenizer from `model_dir` (config.json, safetensors and tokenizer.json),
  // or from a GGUF file (or a directory holding one), which carries all three; or from a Hugging Face
  // Hub repository id such as "Qwen/Qwen3Guard-Gen-0.6B" (optionally "@REVISION", safetensors),
  // downloaded into the Hub's cache on first use (docs/hub.md; a local path always wins). Download
  // failures are kAccessDenied, kNotFound, kNetworkError or kIoError. Throws qguard::Error.
  static Classifier load(const std::string& model_dir, const Options& options);
  static Classifier load(const std::string& model_dir) { return load(model_dir, Options{}); }

  Classifier(Classifier&&) noexcept;
  Classifier& operator=(Classifier&&) noexcept;
  ~Classifier();

  // Judges a user's message (prompt moderation).
  Verdict moderate_prompt(std::string_view user_text) const;
  // Judges an assistant's reply to a user's message (response moderation, with refusal).
  Verdict moderate_response(std::string_view user_text, std::string_view assistant_text) const;
  // Judges the last message of a conversation (user: prompt moderation; assistant: response).
  Verdict moderate(const Conversation& conversation) const;
  // Only the severity and its probabilities (categories left empty, refusal unset): the quickest
  // answer to "block or not". Always decoded the Fast way.
  Verdict moderate_label(const Conversation& conversation) const;

  // One result per conversation, in order; a failing item carries its error and the rest go on.
  struct Result {
    std::optional<Verdict> verdict;
    std::optional<Error> error;
  };
  std::vector<Result> moderate_batch(const std::vector<Conversation>& conversations) const;

  // The token ids the model reads for `conversation`, exactly (for inspection and tests).
  std::vector<std::int32_t> prompt_tokens(const Conversation& conversation) const;

  const Options& options() const;
  // The longest rendered prompt, in bytes, that is tokenized: max_input_tokens × the longest
  // token × 3 (NFC shrinks text at most threefold). A longer one is input_too_long unread.
  std::size_t max_prompt_bytes() const;
  const Model& model() const;
  const Tokenizer& tokenizer() const;

 private:
  struct State;
  explicit Classifier(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace qguard
