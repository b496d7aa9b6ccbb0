#include "guard/output_parser.hpp"

#include <doctest/doctest.h>

#include "guard/prompt_spec_for_tests.hpp"
#include "qguard/error.hpp"

namespace {

using qguard::Category;
using qguard::CategorySet;
using qguard::ModerationKind;
using qguard::Severity;
using qguard::Verdict;
using qguard::guard::parse_output;

CategorySet set_of(std::initializer_list<Category> categories) {
  CategorySet set;
  for (Category category : categories) set.insert(category);
  return set;
}

// The nine categories in the order the spec lists them, written out by hand.
const std::vector<Category> kSpecOrder = {
    Category::kViolent,
    Category::kNonViolentIllegalActs,
    Category::kSexualContentOrSexualActs,
    Category::kPii,
    Category::kSuicideAndSelfHarm,
    Category::kUnethicalActs,
    Category::kPoliticallySensitiveTopics,
    Category::kCopyrightViolation,
    Category::kJailbreak,
};

}  // namespace

TEST_CASE("prompt-moderation answers of each severity parse") {
  Verdict safe = parse_output("Safety: Safe\nCategories: None", ModerationKind::kPrompt);
  CHECK(safe.severity == Severity::kSafe);
  CHECK(safe.categories.empty());
  CHECK_FALSE(safe.refusal.has_value());
  CHECK(safe.raw == "Safety: Safe\nCategories: None");
  CHECK(safe.probabilities == std::array<float, 3>{0, 0, 0});

  Verdict unsafe = parse_output("Safety: Unsafe\nCategories: Violent", ModerationKind::kPrompt);
  CHECK(unsafe.severity == Severity::kUnsafe);
  CHECK(unsafe.categories == set_of({Category::kViolent}));

  Verdict controversial = parse_output("Safety: Controversial\nCategories: Politically Sensitive Topics, Jailbreak",
                                       ModerationKind::kPrompt);
  CHECK(controversial.severity == Severity::kControversial);
  CHECK(controversial.categories == set_of({Category::kPoliticallySensitiveTopics, Category::kJailbreak}));
}

TEST_CASE("every category the spec lists parses in prompt moderation, PII included") {
  const auto& names = qguard::guard::testing::prompt_spec().prompt.categories;
  REQUIRE(names.size() == kSpecOrder.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    CAPTURE(names[i]);
    const Verdict verdict = parse_output("Safety: Unsafe\nCategories: " + names[i], ModerationKind::kPrompt);
    CHECK(verdict.categories == set_of({kSpecOrder[i]}));
  }
  std::string all = "Safety: Unsafe\nCategories: ";
  for (std::size_t i = 0; i < names.size(); ++i) all += (i ? ", " : "") + names[i];
  CHECK(parse_output(all, ModerationKind::kPrompt).categories.size() == 9);
  CHECK(parse_output("Safety: Unsafe\nCategories: PII", ModerationKind::kPrompt).categories ==
        set_of({Category::kPii}));
}

TEST_CASE("response-moderation answers carry the refusal") {
  Verdict refused = parse_output("Safety: Safe\nCategories: None\nRefusal: Yes", ModerationKind::kResponse);
  CHECK(refused.severity == Severity::kSafe);
  CHECK(refused.categories.empty());
  CHECK(refused.refusal == std::optional<bool>(true));

  Verdict complied = parse_output("Safety: Unsafe\nCategories: Violent, Non-violent Illegal Acts\nRefusal: No",
                                  ModerationKind::kResponse);
  CHECK(complied.severity == Severity::kUnsafe);
  CHECK(complied.categories == set_of({Category::kViolent, Category::kNonViolentIllegalActs}));
  CHECK(complied.refusal == std::optional<bool>(false));

  const auto& names = qguard::guard::testing::prompt_spec().response.categories;
  REQUIRE(names.size() == 8);
  for (std::size_t i = 0; i < names.size(); ++i) {
    CAPTURE(names[i]);
    const Verdict verdict =
        parse_output("Safety: Controversial\nCategories: " + names[i] + "\nRefusal: No", ModerationKind::kResponse);
    CHECK(verdict.categories == set_of({kSpecOrder[i]}));
  }
}

TEST_CASE("harmless layout variations parse to the same verdict") {
  const CategorySet expected = set_of({Category::kViolent, Category::kPii});
  const std::vector<std::string> variants = {
      "Safety: Unsafe\nCategories: Violent, PII",
      "Safety: Unsafe\r\nCategories: Violent, PII\r\n",
      "Safety:Unsafe\nCategories:Violent,PII",
      "Safety :   Unsafe  \nCategories:  Violent ,\tPII  ",
      "\n\n  Safety: Unsafe\n\n\nCategories: Violent, PII\n\n",
      "Categories: Violent, PII\nSafety: Unsafe",
      "Safety: Unsafe\nCategories: PII, Violent",
      "Safety: Unsafe\nCategories: Violent, PII, Violent, PII",
      "Safety: Unsafe\nCategories: Violent, PII<|im_end|>",
      "Safety: Unsafe\nCategories: Violent, PII\n<|im_end|>\n",
  };
  for (const std::string& text : variants) {
    CAPTURE(text);
    const Verdict verdict = parse_output(text, ModerationKind::kPrompt);
    CHECK(verdict.severity == Severity::kUnsafe);
    CHECK(verdict.categories == expected);
    CHECK(verdict.raw == text);
  }
  const Verdict reordered = parse_output("Refusal: No\r\nCategories: None\r\nSafety: Safe\r\n", ModerationKind::kResponse);
  CHECK(reordered.severity == Severity::kSafe);
  CHECK(reordered.refusal == std::optional<bool>(false));
}

TEST_CASE("a severity and categories that disagree are reported as stated, not corrected") {
  const Verdict safe_with_category = parse_output("Safety: Safe\nCategories: Violent", ModerationKind::kPrompt);
  CHECK(safe_with_category.severity == Severity::kSafe);
  CHECK(safe_with_category.categories == set_of({Category::kViolent}));
  CHECK_FALSE(safe_with_category.is_unsafe(qguard::Policy::kStrict));

  const Verdict unsafe_without_category = parse_output("Safety: Unsafe\nCategories: None", ModerationKind::kPrompt);
  CHECK(unsafe_without_category.severity == Severity::kUnsafe);
  CHECK(unsafe_without_category.categories.empty());
  CHECK(unsafe_without_category.is_unsafe(qguard::Policy::kLoose));
}

TEST_CASE("garbage is kMalformedOutput, never a verdict") {
  const std::vector<std::string> prompt_garbage = {
      "",
      " \n\r\n\t",
      "<|im_end|>",
      "Safety: Safe",
      "Categories: None",
      "Safety: safe\nCategories: None",
      "safety: Safe\nCategories: None",
      "Safety: SAFE\nCategories: None",
      "Safety: Unknown\nCategories: None",
      "Safety: Safe.\nCategories: None",
      "Safety:\nCategories: None",
      "Safety: Unsafe Violent\nCategories: Violent",
      "Safety: Safe Categories: None",
      "Safety: Safe\nCategories: none",
      "Safety: Safe\nCategories:",
      "Safety: Safe\nCategories: None, Violent",
      "Safety: Unsafe\nCategories: Violent, None",
      "Safety: Safe\nCategories: None, None",
      "Safety: Unsafe\nCategories: Violence",
      "Safety: Unsafe\nCategories: Pii",
      "Safety: Unsafe\nCategories: Non-violent  Illegal Acts",
      "Safety: Unsafe\nCategories: Violent,",
      "Safety: Unsafe\nCategories: Violent,,PII",
      "Safety: Unsafe\nCategories: Violent; PII",
      "Safety: Unsafe\nCategories: Violent.",
      "Safety: Unsafe\nSafety: Safe\nCategories: None",
      "Safety: Safe\nSafety: Safe\nCategories: None",
      "Safety: Unsafe\nCategories: Violent\nCategories: PII",
      "Safety: Safe\nCategories: None\nRefusal: No",
      "Safety: Unsafe\nCategories: Violent\nReasoning: it is about weapons",
      "Safety: Unsafe\nCategories: Violent\nThe user asks for weapons.",
      "The content is safe.",
      "Safe",
      "<think>\n\n</think>\n\nSafety: Safe\nCategories: None",
      "Safety: Safe\nCategories: None<|im_end|>trailing",
      "Safety: Safe\nCategories: None<|im_end|><|im_end|>",
      "Safety: Safe\nCategories: None\n<|im_start|>assistant",
      "Safety: Saf",
      std::string("Safety: Safe\nCategories: None") + '\0',
  };
  for (const std::string& text : prompt_garbage) {
    CAPTURE(text);
    try {
      parse_output(text, ModerationKind::kPrompt);
      FAIL("accepted garbage");
    } catch (const qguard::Error& e) {
      CHECK(e.code() == qguard::ErrorCode::kMalformedOutput);
    }
  }

  const std::vector<std::string> response_garbage = {
      "Safety: Safe\nCategories: None",
      "Safety: Safe\nCategories: None\nRefusal:",
      "Safety: Safe\nCategories: None\nRefusal: Maybe",
      "Safety: Safe\nCategories: None\nRefusal: yes",
      "Safety: Safe\nCategories: None\nRefusal: Yes\nRefusal: No",
      "Safety: Unsafe\nCategories: Jailbreak\nRefusal: No",
      "Safety: Unsafe\nCategories: Violent, Jailbreak\nRefusal: No",
      "Refusal: Yes",
      "Categories: None\nRefusal: Yes",
  };
  for (const std::string& text : response_garbage) {
    CAPTURE(text);
    try {
      parse_output(text, ModerationKind::kResponse);
      FAIL("accepted garbage");
    } catch (const qguard::Error& e) {
      CHECK(e.code() == qguard::ErrorCode::kMalformedOutput);
    }
  }
}

TEST_CASE("malformed-output messages quote the offending text, truncated") {
  try {
    parse_output("Safety: Unsafe\nCategories: Violence", ModerationKind::kPrompt);
    FAIL("expected an error");
  } catch (const qguard::Error& e) {
    const std::string message = e.what();
    CHECK(message.find("unknown category \"Violence\"") != std::string::npos);
    CHECK(message.find("\"Categories: Violence\"") != std::string::npos);
    CHECK(message.find("\"Safety: Unsafe\\nCategories: Violence\"") != std::string::npos);
  }

  const std::string long_garbage = std::string(5000, 'x') + "\xC3\xA9";
  try {
    parse_output(long_garbage, ModerationKind::kPrompt);
    FAIL("expected an error");
  } catch (const qguard::Error& e) {
    const std::string message = e.what();
    CHECK(message.size() < 400);
    CHECK(message.find("xxxx\"...") != std::string::npos);
  }

  // A cut that would fall inside a multi-byte character backs up to the character's start.
  const std::string accented = std::string(119, 'a') + "\xC3\xA9" + "tail";
  try {
    parse_output(accented, ModerationKind::kPrompt);
    FAIL("expected an error");
  } catch (const qguard::Error& e) {
    const std::string message = e.what();
    CHECK(message.find(std::string(119, 'a') + "\"...") != std::string::npos);
    CHECK(message.find("\xC3\"") == std::string::npos);
  }
}
