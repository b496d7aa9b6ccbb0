#include "qguard/verdict.hpp"

#include <cmath>
#include <limits>

#include <doctest/doctest.h>

#include "guard/prompt_spec_for_tests.hpp"

using qguard::Category;
using qguard::CategorySet;
using qguard::Policy;
using qguard::Severity;
using qguard::Verdict;

TEST_CASE("category spellings are the spec's, in the spec's order") {
  const auto& spec = qguard::guard::testing::prompt_spec();
  REQUIRE(spec.prompt.categories.size() == qguard::kCategoryCount);
  for (std::size_t i = 0; i < qguard::kCategoryCount; ++i) {
    CHECK(std::string(qguard::to_string(qguard::kAllCategories[i])) == spec.prompt.categories[i]);
    CHECK(qguard::category_from_string(spec.prompt.categories[i]) == qguard::kAllCategories[i]);
  }
  // Response moderation offers the same list without Jailbreak, which is last.
  REQUIRE(spec.response.categories.size() == qguard::kCategoryCount - 1);
  for (std::size_t i = 0; i + 1 < qguard::kCategoryCount; ++i) {
    CHECK(spec.response.categories[i] == spec.prompt.categories[i]);
  }
  CHECK(qguard::kAllCategories.back() == Category::kJailbreak);
}

TEST_CASE("severity spellings match the output grammar and parsing is exact") {
  CHECK(std::string(qguard::to_string(Severity::kSafe)) == "Safe");
  CHECK(std::string(qguard::to_string(Severity::kControversial)) == "Controversial");
  CHECK(std::string(qguard::to_string(Severity::kUnsafe)) == "Unsafe");
  CHECK(qguard::severity_from_string("Controversial") == Severity::kControversial);
  for (const char* wrong : {"safe", "UNSAFE", " Safe", "Safe ", "", "None"}) {
    CAPTURE(wrong);
    CHECK_FALSE(qguard::severity_from_string(wrong).has_value());
  }
  for (const char* wrong : {"Pii", "violent", "Suicide and Self-Harm", "Non-violent illegal acts", "None", ""}) {
    CAPTURE(wrong);
    CHECK_FALSE(qguard::category_from_string(wrong).has_value());
  }
}

TEST_CASE("CategorySet behaves as a set") {
  CategorySet set;
  CHECK(set.empty());
  CHECK(set.size() == 0);
  CHECK(set.to_vector().empty());
  set.insert(Category::kJailbreak);
  set.insert(Category::kViolent);
  set.insert(Category::kJailbreak);
  CHECK_FALSE(set.empty());
  CHECK(set.size() == 2);
  CHECK(set.contains(Category::kViolent));
  CHECK(set.contains(Category::kJailbreak));
  CHECK_FALSE(set.contains(Category::kPii));
  CHECK(set.to_vector() == std::vector<Category>{Category::kViolent, Category::kJailbreak});

  CategorySet other;
  other.insert(Category::kViolent);
  CHECK(set != other);
  other.insert(Category::kJailbreak);
  CHECK(set == other);
  set.erase(Category::kViolent);
  CHECK(set.to_vector() == std::vector<Category>{Category::kJailbreak});
  set.erase(Category::kPii);  // absent: no effect
  CHECK(set.size() == 1);

  CategorySet all;
  for (Category category : qguard::kAllCategories) all.insert(category);
  CHECK(all.size() == 9);
}

TEST_CASE("is_unsafe: strict counts Controversial, loose only Unsafe") {
  Verdict verdict;
  verdict.severity = Severity::kSafe;
  CHECK_FALSE(verdict.is_unsafe(Policy::kStrict));
  CHECK_FALSE(verdict.is_unsafe(Policy::kLoose));
  verdict.severity = Severity::kControversial;
  CHECK(verdict.is_unsafe(Policy::kStrict));
  CHECK_FALSE(verdict.is_unsafe(Policy::kLoose));
  CHECK(verdict.is_unsafe());  // strict by default
  verdict.severity = Severity::kUnsafe;
  CHECK(verdict.is_unsafe(Policy::kStrict));
  CHECK(verdict.is_unsafe(Policy::kLoose));
}

TEST_CASE("to_json writes the documented object") {
  Verdict verdict;
  verdict.severity = Severity::kUnsafe;
  verdict.categories.insert(Category::kPii);
  verdict.categories.insert(Category::kViolent);
  verdict.probabilities = {0.125f, 0.25f, 0.625f};
  verdict.category_probabilities[static_cast<int>(Category::kViolent)] = 0.5f;
  verdict.category_probabilities[static_cast<int>(Category::kPii)] = 0.375f;
  verdict.raw = "Safety: Unsafe\nCategories: Violent, PII";
  CHECK(qguard::to_json(verdict) ==
        "{\"severity\": \"Unsafe\", \"categories\": [\"Violent\", \"PII\"], \"refusal\": null, "
        "\"probabilities\": {\"Safe\": 0.125, \"Controversial\": 0.25, \"Unsafe\": 0.625}, "
        "\"category_probabilities\": {\"Violent\": 0.5, \"Non-violent Illegal Acts\": 0, "
        "\"Sexual Content or Sexual Acts\": 0, \"PII\": 0.375, \"Suicide & Self-Harm\": 0, \"Unethical Acts\": 0, "
        "\"Politically Sensitive Topics\": 0, \"Copyright Violation\": 0, \"Jailbreak\": 0}, "
        "\"raw\": \"Safety: Unsafe\\nCategories: Violent, PII\"}");

  Verdict response;
  response.refusal = true;
  response.raw = "Safety: Safe\nCategories: None\nRefusal: Yes";
  CHECK(qguard::to_json(response) ==
        "{\"severity\": \"Safe\", \"categories\": [], \"refusal\": true, "
        "\"probabilities\": {\"Safe\": 0, \"Controversial\": 0, \"Unsafe\": 0}, "
        "\"category_probabilities\": {\"Violent\": 0, \"Non-violent Illegal Acts\": 0, "
        "\"Sexual Content or Sexual Acts\": 0, \"PII\": 0, \"Suicide & Self-Harm\": 0, \"Unethical Acts\": 0, "
        "\"Politically Sensitive Topics\": 0, \"Copyright Violation\": 0, \"Jailbreak\": 0}, "
        "\"raw\": \"Safety: Safe\\nCategories: None\\nRefusal: Yes\"}");
  response.refusal = false;
  CHECK(qguard::to_json(response).find("\"refusal\": false,") != std::string::npos);
}

TEST_CASE("to_json round-trips probabilities through a JSON parser and stays valid for any float") {
  Verdict verdict;
  verdict.severity = Severity::kControversial;
  verdict.probabilities = {0.1f, 1e-7f, 0.8999999f};
  verdict.raw = "quote \" backslash \\ tab \t";
  simdjson::dom::parser parser;
  const simdjson::dom::element root = qguard::util::parse_json(parser, qguard::to_json(verdict), "to_json");
  CHECK(std::string(root["severity"].get_string().value()) == "Controversial");
  CHECK(root["refusal"].is_null());
  CHECK(std::string(root["raw"].get_string().value()) == verdict.raw);
  const char* names[] = {"Safe", "Controversial", "Unsafe"};
  for (std::size_t i = 0; i < 3; ++i) {
    CAPTURE(names[i]);
    CHECK(static_cast<float>(root["probabilities"][names[i]].get_double().value()) == verdict.probabilities[i]);
  }

  verdict.probabilities = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), 1.0f};
  const simdjson::dom::element odd = qguard::util::parse_json(parser, qguard::to_json(verdict), "to_json");
  CHECK(odd["probabilities"]["Safe"].is_null());
  CHECK(odd["probabilities"]["Controversial"].is_null());
  CHECK(odd["probabilities"]["Unsafe"].get_double().value() == 1.0);
}
