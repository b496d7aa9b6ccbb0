#include "qguard/verdict.hpp"

#include <cmath>
#include <iterator>

#include <fmt/format.h>

#include "util/json.hpp"

namespace qguard {

bool Verdict::is_unsafe(Policy policy) const {
  switch (policy) {
    case Policy::kStrict: return severity != Severity::kSafe;
    case Policy::kLoose: return severity == Severity::kUnsafe;
  }
  return true;  // an unknown policy value must not let content through
}

const char* to_string(Severity severity) noexcept {
  switch (severity) {
    case Severity::kSafe: return "Safe";
    case Severity::kControversial: return "Controversial";
    case Severity::kUnsafe: return "Unsafe";
  }
  return "unknown";
}

const char* to_string(Category category) noexcept {
  switch (category) {
    case Category::kViolent: return "Violent";
    case Category::kNonViolentIllegalActs: return "Non-violent Illegal Acts";
    case Category::kSexualContentOrSexualActs: return "Sexual Content or Sexual Acts";
    case Category::kPii: return "PII";
    case Category::kSuicideAndSelfHarm: return "Suicide & Self-Harm";
    case Category::kUnethicalActs: return "Unethical Acts";
    case Category::kPoliticallySensitiveTopics: return "Politically Sensitive Topics";
    case Category::kCopyrightViolation: return "Copyright Violation";
    case Category::kJailbreak: return "Jailbreak";
  }
  return "unknown";
}

std::optional<Severity> severity_from_string(std::string_view text) noexcept {
  for (Severity severity : {Severity::kSafe, Severity::kControversial, Severity::kUnsafe}) {
    if (text == to_string(severity)) return severity;
  }
  return std::nullopt;
}

std::optional<Category> category_from_string(std::string_view text) noexcept {
  for (Category category : kAllCategories) {
    if (text == to_string(category)) return category;
  }
  return std::nullopt;
}

namespace {

// Shortest text that reads back as the same float; JSON has no NaN or infinity.
void append_probability(std::string& out, float probability) {
  if (std::isfinite(probability)) {
    fmt::format_to(std::back_inserter(out), "{}", probability);
  } else {
    out += "null";
  }
}

// {"Name": probability, ...} with `keys` in order, each key's probability indexed by its value.
template <typename Key, std::size_t kKeys>
void append_probability_object(std::string& out, const std::array<Key, kKeys>& keys,
                               const std::array<float, kKeys>& probabilities) {
  out += '{';
  const char* separator = "";
  for (Key key : keys) {
    out += separator;
    util::append_json_string(out, to_string(key));
    out += ": ";
    append_probability(out, probabilities[static_cast<std::size_t>(key)]);
    separator = ", ";
  }
  out += '}';
}

}  // namespace

std::string to_json(const Verdict& verdict) {
  std::string out = "{\"severity\": ";
  util::append_json_string(out, to_string(verdict.severity));
  out += ", \"categories\": [";
  const char* separator = "";
  for (Category category : verdict.categories.to_vector()) {
    out += separator;
    util::append_json_string(out, to_string(category));
    separator = ", ";
  }
  out += "], \"refusal\": ";
  out += !verdict.refusal.has_value() ? "null" : (*verdict.refusal ? "true" : "false");
  out += ", \"probabilities\": ";
  constexpr std::array<Severity, 3> severities{Severity::kSafe, Severity::kControversial, Severity::kUnsafe};
  append_probability_object(out, severities, verdict.probabilities);
  out += ", \"category_probabilities\": ";
  append_probability_object(out, kAllCategories, verdict.category_probabilities);
  out += ", \"raw\": ";
  util::append_json_string(out, verdict.raw);
  out += '}';
  return out;
}

}  // namespace qguard
