// What Qwen3Guard-Gen concluded about a conversation: a severity, the unsafe-content categories it
// named and, for response moderation, whether the response is a refusal.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qguard/export.h"

namespace qguard {

enum class Severity { kSafe, kControversial, kUnsafe };

// The categories in the order the model's prompt lists them. Jailbreak is offered only in prompt
// moderation.
enum class Category {
  kViolent,
  kNonViolentIllegalActs,
  kSexualContentOrSexualActs,
  kPii,
  kSuicideAndSelfHarm,
  kUnethicalActs,
  kPoliticallySensitiveTopics,
  kCopyrightViolation,
  kJailbreak,
};

inline constexpr std::size_t kCategoryCount = 9;

inline constexpr std::array<Category, kCategoryCount> kAllCategories = {
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

// How strictly a verdict is read: kStrict treats Controversial as unsafe, kLoose only Unsafe.
enum class Policy { kStrict, kLoose };

// A set of categories (a bitset; iteration order is the Category order).
class CategorySet {
 public:
  constexpr CategorySet() = default;

  constexpr void insert(Category category) { bits_ |= bit(category); }
  constexpr void erase(Category category) { bits_ &= static_cast<std::uint16_t>(~bit(category)); }
  constexpr bool contains(Category category) const { return (bits_ & bit(category)) != 0; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr std::size_t size() const {
    std::size_t count = 0;
    for (Category category : kAllCategories) count += contains(category) ? 1 : 0;
    return count;
  }

  std::vector<Category> to_vector() const {
    std::vector<Category> members;
    for (Category category : kAllCategories) {
      if (contains(category)) members.push_back(category);
    }
    return members;
  }

  friend constexpr bool operator==(CategorySet a, CategorySet b) { return a.bits_ == b.bits_; }
  friend constexpr bool operator!=(CategorySet a, CategorySet b) { return a.bits_ != b.bits_; }

 private:
  static constexpr std::uint16_t bit(Category category) {
    return static_cast<std::uint16_t>(1u << static_cast<unsigned>(category));
  }
  std::uint16_t bits_ = 0;
};

struct QGUARD_API Verdict {
  Severity severity = Severity::kSafe;
  // The categories the model named, exactly as it named them: usually empty for Safe and non-empty
  // otherwise, but the model may contradict itself and the verdict does not hide that.
  CategorySet categories;
  // Response moderation only: whether the assistant's response is a refusal. nullopt for prompts.
  std::optional<bool> refusal;
  // Probability of each severity, indexed by Severity (Safe, Controversial, Unsafe). All zero when
  // not measured, e.g. for a verdict parsed from text alone.
  std::array<float, 3> probabilities{};
  // Probability of each category (indexed by Category) being the first one the model names, given
  // the severity it chose: the softmax over what may follow "Categories:" (None and the
  // categories offered; Jailbreak only for prompts, so 0 for responses). 1 minus their sum is the
  // probability of None. All zero when not measured: label-only, or parsed from text alone.
  std::array<float, kCategoryCount> category_probabilities{};
  // The model's answer as text.
  std::string raw;

  // Whether the verdict counts as unsafe under `policy`. Decided by the severity alone.
  bool is_unsafe(Policy policy = Policy::kStrict) const;
};

// Exact spellings of the model's output: "Safe", "Controversial", "Unsafe"; "Violent",
// "Non-violent Illegal Acts", ..., "PII", ..., "Jailbreak".
QGUARD_API const char* to_string(Severity severity) noexcept;
QGUARD_API const char* to_string(Category category) noexcept;

// The value with exactly that spelling (case-sensitive), or nullopt.
QGUARD_API std::optional<Severity> severity_from_string(std::string_view text) noexcept;
QGUARD_API std::optional<Category> category_from_string(std::string_view text) noexcept;

// {"severity": "Unsafe", "categories": ["Violent"], "refusal": null,
//  "probabilities": {"Safe": 0.01, "Controversial": 0.02, "Unsafe": 0.97},
//  "category_probabilities": {"Violent": 0.93, "Non-violent Illegal Acts": 0.04, ...}, "raw": "..."}
// on one line. refusal is null for prompt moderation; a non-finite probability is written as null.
QGUARD_API std::string to_json(const Verdict& verdict);

}  // namespace qguard
