// Qwen3Guard-Gen's answer grammar (tests/data/qwen3guard_prompt_format.json, output_grammar) as
// token sequences of the model's own tokenizer. Every piece below starts at a pre-tokenizer split
// point, so the tokens of a whole answer are the concatenation of its pieces' tokens.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "qguard/tokenizer.hpp"
#include "qguard/verdict.hpp"

namespace qguard::guard {

using Tokens = std::vector<std::int32_t>;

struct OutputGrammar {
  Tokens safety_prefix;                            // "Safety:"
  std::array<Tokens, 3> severities;                // " Safe", " Controversial", " Unsafe" (Severity order)
  Tokens categories_prefix;                        // "\nCategories:"
  Tokens none;                                     // " None"
  std::array<Tokens, kCategoryCount> categories;   // " Violent", ... (Category order)
  Tokens separator;                                // ","
  Tokens refusal_prefix;                           // "\nRefusal:"
  std::array<Tokens, 2> refusals;                  // " Yes", " No"
  std::int32_t end_of_output = -1;                 // <|im_end|>
  std::int32_t end_of_text = -1;                   // <|endoftext|>, which also ends generation

  // Throws Error(kUnsupportedModel) if the tokenizer lacks <|im_end|>, or the three severities, or
  // None and the categories, do not differ in their first token (decoding reads their
  // probabilities at one step each).
  static OutputGrammar build(const Tokenizer& tokenizer);
};

}  // namespace qguard::guard
