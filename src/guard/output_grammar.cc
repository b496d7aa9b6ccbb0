#include "guard/output_grammar.hpp"

#include <algorithm>
#include <set>
#include <string>

#include "qguard/error.hpp"

namespace qguard::guard {

OutputGrammar OutputGrammar::build(const Tokenizer& tokenizer) {
  auto tokens = [&](const std::string& text) { return tokenizer.encode(text, SpecialTokens::kPlain); };
  OutputGrammar g;
  g.safety_prefix = tokens("Safety:");
  for (Severity s : {Severity::kSafe, Severity::kControversial, Severity::kUnsafe}) {
    g.severities[static_cast<int>(s)] = tokens(std::string(" ") + to_string(s));
  }
  g.categories_prefix = tokens("\nCategories:");
  g.none = tokens(" None");
  for (Category c : kAllCategories) g.categories[static_cast<int>(c)] = tokens(std::string(" ") + to_string(c));
  g.separator = tokens(",");
  g.refusal_prefix = tokens("\nRefusal:");
  g.refusals = {tokens(" Yes"), tokens(" No")};

  const auto im_end = tokenizer.token_to_id("<|im_end|>");
  const auto end_of_text = tokenizer.token_to_id("<|endoftext|>");
  if (!im_end || !end_of_text) {
    throw Error(ErrorCode::kUnsupportedModel, "the tokenizer has no <|im_end|> or <|endoftext|> token; "
                                              "is this a Qwen3Guard-Gen tokenizer.json?");
  }
  g.end_of_output = *im_end;
  g.end_of_text = *end_of_text;
  std::set<std::int32_t> firsts;
  for (const Tokens& s : g.severities) firsts.insert(s.front());
  if (firsts.size() != 3) {
    throw Error(ErrorCode::kUnsupportedModel, "the tokenizer encodes the three severities with a shared first "
                                              "token; qguard's Fast mode needs them distinct");
  }
  // Constrained decoding tells alternatives apart token by token: none may be a prefix of another.
  std::vector<const Tokens*> labels{&g.none};
  for (const Tokens& c : g.categories) labels.push_back(&c);
  for (const Tokens* a : labels) {
    for (const Tokens* b : labels) {
      if (a != b && a->size() <= b->size() && std::equal(a->begin(), a->end(), b->begin())) {
        throw Error(ErrorCode::kUnsupportedModel, "the tokenizer encodes one category name as a prefix of another");
      }
    }
  }
  return g;
}

}  // namespace qguard::guard
