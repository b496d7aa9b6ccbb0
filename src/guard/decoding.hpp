// The two ways qguard reads the model's answer, written against an abstract source of next-token
// logits so that tests can drive them with scripted logits as well as with a real model.
//
//  - Reference: the model card's path. Greedy generation over the whole vocabulary until
//    <|im_end|> (at most max_new_tokens), then the text is parsed.
//  - Fast: constrained to the output grammar. "Safety:" is forced, the severity is the best of the
//    three allowed continuations, then categories (and refusal) are chosen among the tokens the
//    grammar allows at each step, and tokens the grammar fixes are forced without asking the model.
//
// Both report the model's probabilities at the two steps where it decides: the severity after
// "Safety:", and the first category after "Categories:" (None or a category; the grammar gives
// each a distinct first token, so one step's softmax over those tokens is the whole distribution).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "guard/output_grammar.hpp"
#include "qguard/conversation.hpp"

namespace qguard::guard {

// A token sequence that grows, and the model's view of what comes next.
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // Appends tokens to the sequence (a model may defer the work until logits are asked for).
  virtual void append(std::span<const std::int32_t> tokens) = 0;
  // Logits of `candidates` for the token after the current sequence.
  virtual std::vector<float> next_logits(std::span<const std::int32_t> candidates) = 0;
  // Logits of every token of the vocabulary for the token after the current sequence.
  virtual std::vector<float> next_logits_all() = 0;
  // A hint before the next logits are asked for: what follows the choice they serve is likely one of
  // `branches` (each of at least one token), after which logits are asked for again. A model may
  // compute them in the same pass (ModelSession); the answers must not change.
  virtual void speculate(std::vector<Tokens> /*branches*/) {}
};

// One constrained choice, for tests: after `context_length` tokens the allowed next tokens were
// `allowed` and `chosen` was taken.
struct DecodeStep {
  std::size_t context_length;
  std::vector<std::int32_t> allowed;
  std::int32_t chosen;
};

struct DecodeResult {
  Tokens output;                         // the answer's tokens, without the end token
  std::array<float, 3> severity_probabilities{};  // softmax over the three severities' first tokens
  // Softmax over the first tokens allowed after "Categories:" (None and the categories the kind
  // offers), as the probability of each category (Category order) being named first. All zero if
  // decoding never stood there (label-only, or a Reference answer off the grammar).
  std::array<float, kCategoryCount> category_probabilities{};
  bool ended = false;                    // an end token was produced (Reference) / reached (Fast)
};

// `context_length` is the number of tokens the source holds before decoding starts (for traces).
// With `label_only`, Fast stops after the severity.
DecodeResult decode_fast(TokenSource& source, const OutputGrammar& grammar, ModerationKind kind,
                         std::size_t context_length, bool label_only = false,
                         std::vector<DecodeStep>* trace = nullptr);

DecodeResult decode_reference(TokenSource& source, const OutputGrammar& grammar, ModerationKind kind,
                              int max_new_tokens);

}  // namespace qguard::guard
