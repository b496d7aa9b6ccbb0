#include "guard/output_grammar.hpp"

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
  // The first category's probabilities are read at one step, so None and the categories must
  // differ in their first token (which also keeps any one from being a prefix of another).
  std::set<std::int32_t> category_firsts{g.none.front()};
  for (const Tokens& c : g.categories) category_firsts.insert(c.front());
  if (category_firsts.size() != kCategoryCount + 1) {
    throw Error(ErrorCode::kUnsupportedModel, "the tokenizer encodes two category names (or None) with a shared "
                                              "first token; qguard's decoding needs them distinct");
  }
  return g;
}

}  // namespace qguard::guard
