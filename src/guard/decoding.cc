#include "guard/decoding.hpp"

#include <algorithm>
#include <cmath>

#include "qguard/error.hpp"

namespace qguard::guard {
namespace {

// NaN or infinite scores (damaged weights, an overflow) have no argmax; the first candidate must not
// win by default, because the first severity is "Safe".
std::vector<float> finite(std::vector<float> logits) {
  if (!std::all_of(logits.begin(), logits.end(), [](float l) { return std::isfinite(l); })) {
    throw Error(ErrorCode::kMalformedOutput,
                "the model produced a non-finite score (NaN or infinity), so it gave no answer; its weights may be damaged");
  }
  return logits;
}

// Softmax of `logits` (restricted to the candidates they belong to).
std::vector<float> restricted_softmax(std::vector<float> logits) {
  const float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float& l : logits) sum += (l = std::exp(l - max));
  for (float& l : logits) l = static_cast<float>(l / sum);
  return logits;
}

// Reference mode's view of a constrained step: the softmax over the first tokens of
// `alternatives` (distinct, as OutputGrammar::build guarantees) taken from the whole vocabulary's
// logits, indexed like `alternatives`.
std::vector<float> first_token_softmax(const std::vector<float>& logits, const std::vector<const Tokens*>& alternatives) {
  std::vector<float> firsts;
  for (const Tokens* alternative : alternatives) firsts.push_back(logits[alternative->front()]);
  return restricted_softmax(std::move(firsts));
}

// The categories `kind` offers, in Category order: Jailbreak is a prompt-only category.
std::vector<Category> offered_categories(ModerationKind kind) {
  std::vector<Category> offered(kAllCategories.begin(), kAllCategories.end());
  if (kind == ModerationKind::kResponse) std::erase(offered, Category::kJailbreak);
  return offered;
}

// What may follow "Categories:": None, then the offered categories.
std::vector<const Tokens*> first_category_alternatives(const OutputGrammar& g, const std::vector<Category>& offered) {
  std::vector<const Tokens*> alternatives{&g.none};
  for (Category c : offered) alternatives.push_back(&g.categories[static_cast<int>(c)]);
  return alternatives;
}

// `p` is indexed like first_category_alternatives(g, offered): None first.
void store_category_probabilities(const std::vector<float>& p, const std::vector<Category>& offered,
                                  DecodeResult& result) {
  for (std::size_t i = 0; i < offered.size(); ++i) {
    result.category_probabilities[static_cast<int>(offered[i])] = p[i + 1];
  }
}

std::vector<const Tokens*> severity_alternatives(const OutputGrammar& g) {
  return {&g.severities[0], &g.severities[1], &g.severities[2]};
}

// Grammar-constrained decoding state: the tokens produced so far and the optional trace.
class Constrained {
 public:
  Constrained(TokenSource& source, std::size_t context_length, std::vector<DecodeStep>* trace)
      : source_(source), context_length_(context_length), trace_(trace) {}

  void force(const Tokens& tokens) {
    source_.append(tokens);
    output_.insert(output_.end(), tokens.begin(), tokens.end());
  }

  // Before a choice among `alternatives` when the next choice comes right after the chosen one and
  // `then`: a model can run every such continuation with the pass that makes this choice.
  void speculate(const std::vector<const Tokens*>& alternatives, const Tokens& then = {}) {
    std::vector<Tokens> branches;
    for (const Tokens* alternative : alternatives) {
      branches.push_back(*alternative);
      branches.back().insert(branches.back().end(), then.begin(), then.end());
    }
    source_.speculate(std::move(branches));
  }

  // Picks one of `alternatives` (none a prefix of another) token by token: where they branch, the
  // allowed token with the highest logit wins (the first on ties); where one remains, its tokens are
  // forced. Returns the index of the chosen alternative. `first_branch` receives the restricted
  // softmax at the first branching step, indexed like `alternatives`.
  std::size_t choose(const std::vector<const Tokens*>& alternatives, std::vector<float>* first_branch = nullptr) {
    std::vector<std::size_t> live(alternatives.size());
    for (std::size_t i = 0; i < live.size(); ++i) live[i] = i;
    std::size_t depth = 0;
    while (live.size() > 1) {
      std::vector<std::int32_t> allowed;
      for (std::size_t i : live) {
        const std::int32_t t = (*alternatives[i])[depth];
        if (std::find(allowed.begin(), allowed.end(), t) == allowed.end()) allowed.push_back(t);
      }
      std::int32_t chosen = allowed.front();
      if (allowed.size() > 1) {
        const std::vector<float> logits = finite(source_.next_logits(allowed));
        chosen = allowed[std::max_element(logits.begin(), logits.end()) - logits.begin()];
        if (trace_) trace_->push_back({context_length_ + output_.size(), allowed, chosen});
        if (first_branch && first_branch->empty()) {
          const std::vector<float> p = restricted_softmax(logits);
          for (const Tokens* alt : alternatives) {
            first_branch->push_back(p[std::find(allowed.begin(), allowed.end(), (*alt)[depth]) - allowed.begin()]);
          }
        }
      }
      force({chosen});
      std::erase_if(live, [&](std::size_t i) { return (*alternatives[i])[depth] != chosen; });
      ++depth;
    }
    const Tokens& rest = *alternatives[live.front()];
    force(Tokens(rest.begin() + static_cast<std::ptrdiff_t>(depth), rest.end()));
    return live.front();
  }

  Tokens& output() { return output_; }

 private:
  TokenSource& source_;
  std::size_t context_length_;
  std::vector<DecodeStep>* trace_;
  Tokens output_;
};

}  // namespace

DecodeResult decode_fast(TokenSource& source, const OutputGrammar& g, ModerationKind kind,
                         std::size_t context_length, bool label_only, std::vector<DecodeStep>* trace) {
  Constrained d(source, context_length, trace);
  DecodeResult result;
  d.force(g.safety_prefix);
  if (!label_only) d.speculate(severity_alternatives(g), g.categories_prefix);
  std::vector<float> severity_p;
  d.choose(severity_alternatives(g), &severity_p);
  std::copy(severity_p.begin(), severity_p.end(), result.severity_probabilities.begin());
  if (label_only) {
    result.output = std::move(d.output());
    return result;
  }

  // Categories: " None", or distinct categories separated by ",".
  const bool response = kind == ModerationKind::kResponse;
  const Tokens end{g.end_of_output};
  Tokens section_end = response ? g.refusal_prefix : end;
  d.force(g.categories_prefix);
  std::vector<Category> remaining = offered_categories(kind);
  std::vector<float> first_p;
  std::size_t pick = d.choose(first_category_alternatives(g, remaining), &first_p);
  store_category_probabilities(first_p, remaining, result);
  if (pick != 0) {
    remaining.erase(remaining.begin() + static_cast<std::ptrdiff_t>(pick - 1));
    // After a separator the next category is chosen; after the refusal prefix, the refusal.
    const std::vector<const Tokens*> next_choices =
        response ? std::vector<const Tokens*>{&g.separator, &section_end} : std::vector<const Tokens*>{&g.separator};
    while (!remaining.empty()) {
      d.speculate(next_choices);
      if (d.choose({&g.separator, &section_end}) != 0) break;
      std::vector<const Tokens*> next;
      for (Category c : remaining) next.push_back(&g.categories[static_cast<int>(c)]);
      remaining.erase(remaining.begin() + static_cast<std::ptrdiff_t>(d.choose(next)));
    }
    if (remaining.empty()) d.force(section_end);
  } else {
    d.force(section_end);
  }
  // The section end (refusal prefix or end token) has been forced by now.
  if (response) {
    d.choose({&g.refusals[0], &g.refusals[1]});
    d.force(end);
  }
  d.output().pop_back();  // the end token is not part of the answer's text
  result.output = std::move(d.output());
  result.ended = true;
  return result;
}

DecodeResult decode_reference(TokenSource& source, const OutputGrammar& g, ModerationKind kind, int max_new_tokens) {
  DecodeResult result;
  // Where the model names its first category: "Safety:", one of the severities, "\nCategories:".
  std::vector<Tokens> before_categories;
  for (const Tokens& severity : g.severities) {
    Tokens prefix = g.safety_prefix;
    prefix.insert(prefix.end(), severity.begin(), severity.end());
    prefix.insert(prefix.end(), g.categories_prefix.begin(), g.categories_prefix.end());
    before_categories.push_back(std::move(prefix));
  }
  const std::vector<Category> offered = offered_categories(kind);
  for (int step = 0; step < max_new_tokens; ++step) {
    const std::vector<float> logits = finite(source.next_logits_all());
    // Where the model stands where Fast mode reads its probabilities, report the same ones.
    if (result.output == g.safety_prefix) {
      const std::vector<float> p = first_token_softmax(logits, severity_alternatives(g));
      std::copy(p.begin(), p.end(), result.severity_probabilities.begin());
    }
    if (std::find(before_categories.begin(), before_categories.end(), result.output) != before_categories.end()) {
      store_category_probabilities(first_token_softmax(logits, first_category_alternatives(g, offered)), offered,
                                   result);
    }
    const auto next = static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    if (next == g.end_of_output || next == g.end_of_text) {
      result.ended = true;
      break;
    }
    result.output.push_back(next);
    source.append(std::span(&result.output.back(), 1));
  }
  return result;
}

}  // namespace qguard::guard
