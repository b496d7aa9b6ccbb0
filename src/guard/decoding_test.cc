// Fast and Reference decoding driven by scripted logits over a synthetic grammar (small made-up
// token ids), so every case is chosen by the test rather than found by chance in a model.
#include "guard/decoding.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include <doctest/doctest.h>

#include "qguard/error.hpp"

using namespace qguard;
using namespace qguard::guard;

namespace {

constexpr int kVocab = 64;

// Ids chosen so that some alternatives run past their first token (one severity and several
// categories have two tokens, forced once the first is chosen); first tokens are distinct, as
// OutputGrammar::build requires.
OutputGrammar synthetic_grammar() {
  OutputGrammar g;
  g.safety_prefix = {1, 2};
  g.severities = {Tokens{3}, Tokens{4, 5}, Tokens{6}};
  g.categories_prefix = {7, 8, 9};
  g.none = {10};
  g.categories = {Tokens{11}, Tokens{20, 12}, Tokens{23, 13}, Tokens{14}, Tokens{15, 16},
                  Tokens{17}, Tokens{18}, Tokens{19}, Tokens{21, 22}};
  g.separator = {30};
  g.refusal_prefix = {7, 31, 9};
  g.refusals = {Tokens{32}, Tokens{33}};
  g.end_of_output = 40;
  g.end_of_text = 41;
  return g;
}

// Logits as a pure function of the sequence: noise in [0, 1) from a hash, plus a large bonus for
// the token a script wants next (when a script is set and has not run out).
class ScriptedSource final : public TokenSource {
 public:
  ScriptedSource(std::size_t context, Tokens script, unsigned seed)
      : sequence_(context, 0), context_(context), script_(std::move(script)), seed_(seed) {}

  void append(std::span<const std::int32_t> tokens) override { sequence_.insert(sequence_.end(), tokens.begin(), tokens.end()); }
  std::vector<float> next_logits(std::span<const std::int32_t> candidates) override {
    const auto all = logits_after(sequence_);
    std::vector<float> out;
    for (auto c : candidates) out.push_back(all[c]);
    return out;
  }
  std::vector<float> next_logits_all() override { return logits_after(sequence_); }

  std::vector<float> logits_after(const Tokens& sequence) const {
    std::vector<float> logits(kVocab);
    std::seed_seq seq{seed_, static_cast<unsigned>(sequence.size()), static_cast<unsigned>(sequence.back())};
    std::mt19937 rng(seq);
    for (float& l : logits) l = std::uniform_real_distribution<float>(0.f, 1.f)(rng);
    const std::size_t produced = sequence.size() - context_;
    if (produced < script_.size()) logits[script_[produced]] += 10.f;
    return logits;
  }
  const Tokens& sequence() const { return sequence_; }

 private:
  Tokens sequence_;
  std::size_t context_;
  Tokens script_;
  unsigned seed_;
};

Tokens concat(std::initializer_list<Tokens> parts) {
  Tokens out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace

TEST_CASE("Fast and Reference agree whenever the greedy answer follows the grammar") {
  const OutputGrammar g = synthetic_grammar();
  const auto& cat = g.categories;
  struct Case {
    ModerationKind kind;
    Tokens answer;  // without the end token
  };
  const std::vector<Case> cases{
      {ModerationKind::kPrompt, concat({g.safety_prefix, g.severities[0], g.categories_prefix, g.none})},
      {ModerationKind::kPrompt, concat({g.safety_prefix, g.severities[2], g.categories_prefix, cat[0]})},
      {ModerationKind::kPrompt, concat({g.safety_prefix, g.severities[1], g.categories_prefix, cat[2], g.separator,
                                        cat[1], g.separator, cat[8]})},
      {ModerationKind::kResponse, concat({g.safety_prefix, g.severities[2], g.categories_prefix, cat[4],
                                          g.separator, cat[3], g.refusal_prefix, g.refusals[1]})},
      {ModerationKind::kResponse, concat({g.safety_prefix, g.severities[0], g.categories_prefix, g.none,
                                          g.refusal_prefix, g.refusals[0]})},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    CAPTURE(i);
    const Tokens script = concat({cases[i].answer, Tokens{g.end_of_output}});
    ScriptedSource for_reference(100, script, 7 + i), for_fast(100, script, 7 + i);
    const DecodeResult reference = decode_reference(for_reference, g, cases[i].kind, 128);
    const DecodeResult fast = decode_fast(for_fast, g, cases[i].kind, 100);
    CHECK(reference.ended);
    CHECK(reference.output == cases[i].answer);
    CHECK(fast.output == cases[i].answer);
    CHECK(fast.severity_probabilities == reference.severity_probabilities);
    CHECK(fast.category_probabilities == reference.category_probabilities);
    float sum = 0;
    for (float p : fast.severity_probabilities) sum += p;
    CHECK(sum == doctest::Approx(1.0));
  }
}

TEST_CASE("the category probabilities are the softmax over None and the offered categories after \"Categories:\"") {
  const OutputGrammar g = synthetic_grammar();
  for (const ModerationKind kind : {ModerationKind::kPrompt, ModerationKind::kResponse}) {
    CAPTURE(static_cast<int>(kind));
    for (unsigned seed = 0; seed < 20; ++seed) {
      ScriptedSource source(30, {}, seed);
      const DecodeResult fast = decode_fast(source, g, kind, 30);
      // The logits the model gave where it stood after "Categories:", read from the source itself.
      const Tokens& out = fast.output;
      const auto prefix = std::search(out.begin(), out.end(), g.categories_prefix.begin(), g.categories_prefix.end());
      REQUIRE(prefix != out.end());
      const Tokens before(source.sequence().begin(),
                          source.sequence().begin() + 30 + (prefix - out.begin()) +
                              static_cast<std::ptrdiff_t>(g.categories_prefix.size()));
      const std::vector<float> logits = source.logits_after(before);
      std::vector<Category> offered(kAllCategories.begin(), kAllCategories.end());
      if (kind == ModerationKind::kResponse) offered.pop_back();  // Jailbreak, the last, is prompt-only
      double total = std::exp(double(logits[g.none.front()]));
      for (Category c : offered) total += std::exp(double(logits[g.categories[static_cast<int>(c)].front()]));
      double sum = 0;
      for (Category c : kAllCategories) {
        CAPTURE(static_cast<int>(c));
        const bool is_offered = std::find(offered.begin(), offered.end(), c) != offered.end();
        const double expected =
            is_offered ? std::exp(double(logits[g.categories[static_cast<int>(c)].front()])) / total : 0.0;
        CHECK(fast.category_probabilities[static_cast<int>(c)] == doctest::Approx(expected).epsilon(1e-6));
        sum += fast.category_probabilities[static_cast<int>(c)];
      }
      CHECK(1 - sum == doctest::Approx(std::exp(double(logits[g.none.front()])) / total).epsilon(1e-5));
    }
  }
}

TEST_CASE("every constrained choice is the argmax over the allowed tokens, and answers stay in the grammar") {
  const OutputGrammar g = synthetic_grammar();
  for (unsigned seed = 0; seed < 200; ++seed) {
    const auto kind = seed % 2 ? ModerationKind::kResponse : ModerationKind::kPrompt;
    ScriptedSource source(50, {}, seed);  // no script: the choices follow the noise
    std::vector<DecodeStep> trace;
    const DecodeResult fast = decode_fast(source, g, kind, 50, false, &trace);
    REQUIRE(!trace.empty());
    for (const DecodeStep& step : trace) {
      const Tokens before(source.sequence().begin(), source.sequence().begin() + static_cast<std::ptrdiff_t>(step.context_length));
      const auto logits = source.logits_after(before);
      const auto best = *std::max_element(step.allowed.begin(), step.allowed.end(),
                                          [&](auto a, auto b) { return logits[a] < logits[b]; });
      CHECK(step.chosen == best);
      CHECK(source.sequence()[step.context_length] == step.chosen);
    }
    // The answer is: prefix, a severity, categories prefix, then None or distinct categories, then
    // (response) the refusal section.
    const Tokens& out = fast.output;
    REQUIRE(std::equal(g.safety_prefix.begin(), g.safety_prefix.end(), out.begin()));
    CHECK(std::find(out.begin(), out.end(), g.end_of_output) == out.end());
    const auto tail_is = [&](const Tokens& t) {
      return out.size() >= t.size() && std::equal(t.rbegin(), t.rend(), out.rbegin());
    };
    if (kind == ModerationKind::kResponse) {
      CHECK((tail_is(concat({g.refusal_prefix, g.refusals[0]})) || tail_is(concat({g.refusal_prefix, g.refusals[1]}))));
      CHECK(std::find(out.begin(), out.end(), 21) == out.end());  // Jailbreak is prompt-only
    }
    // No category twice.
    for (const Tokens& c : g.categories) {
      const auto first = std::search(out.begin(), out.end(), c.begin(), c.end());
      if (first != out.end()) CHECK(std::search(first + 1, out.end(), c.begin(), c.end()) == out.end());
    }
  }
}

TEST_CASE("label-only stops after the severity, and Reference stops at max_new_tokens without an end") {
  const OutputGrammar g = synthetic_grammar();
  ScriptedSource source(10, concat({g.safety_prefix, g.severities[1]}), 3);
  const DecodeResult label = decode_fast(source, g, ModerationKind::kPrompt, 10, true);
  CHECK(label.output == concat({g.safety_prefix, g.severities[1]}));
  CHECK(label.severity_probabilities[1] > 0.99f);
  CHECK(label.category_probabilities == std::array<float, kCategoryCount>{});  // no category step

  ScriptedSource looping(10, Tokens(200, 50), 3);
  const DecodeResult reference = decode_reference(looping, g, ModerationKind::kPrompt, 16);
  CHECK_FALSE(reference.ended);
  CHECK(reference.output == Tokens(16, 50));
  CHECK(reference.severity_probabilities == std::array<float, 3>{});  // never stood after "Safety:"
  CHECK(reference.category_probabilities == std::array<float, kCategoryCount>{});
}

TEST_CASE("a non-finite score is an error, never a verdict") {
  const OutputGrammar g = synthetic_grammar();
  // Scripted logits with one poisoned token: NaN, +inf or -inf.
  class Poisoned final : public TokenSource {
   public:
    Poisoned(std::int32_t token, float value) : inner_(10, {}, 5), token_(token), value_(value) {}
    void append(std::span<const std::int32_t> tokens) override { inner_.append(tokens); }
    std::vector<float> next_logits(std::span<const std::int32_t> candidates) override {
      std::vector<float> out = inner_.next_logits(candidates);
      for (std::size_t i = 0; i < candidates.size(); ++i) {
        if (candidates[i] == token_) out[i] = value_;
      }
      return out;
    }
    std::vector<float> next_logits_all() override {
      std::vector<float> all = inner_.next_logits_all();
      all[token_] = value_;
      return all;
    }

   private:
    ScriptedSource inner_;
    std::int32_t token_;
    float value_;
  };
  for (float value : {NAN, INFINITY, -INFINITY}) {
    CAPTURE(value);
    // Poison the Controversial token: with NaN, a plain argmax would fall back to the first, "Safe".
    Poisoned fast(g.severities[1].front(), value);
    CHECK_THROWS_WITH_AS(decode_fast(fast, g, ModerationKind::kPrompt, 10, true), doctest::Contains("non-finite"),
                         Error);
    Poisoned reference(50, value);
    CHECK_THROWS_WITH_AS(decode_reference(reference, g, ModerationKind::kPrompt, 4), doctest::Contains("non-finite"), Error);
  }
}
