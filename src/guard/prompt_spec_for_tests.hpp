// Test helper: the prompt pieces from tests/data/qwen3guard_prompt_format.json (the spec), so
// expected prompts come from the spec file rather than from the renderer.
#pragma once

#include <string>
#include <vector>

#include "util/json.hpp"

namespace qguard::guard::testing {

struct PromptVariantSpec {
  std::string head;
  std::string tail;
  std::vector<std::string> categories;
};

struct PromptSpec {
  PromptVariantSpec prompt;
  PromptVariantSpec response;
  std::vector<std::string> conversation_rules;
};

inline const PromptSpec& prompt_spec() {
  static const PromptSpec spec = [] {
    simdjson::dom::parser parser;
    const simdjson::dom::element root = util::parse_json_file(parser, QGUARD_PROMPT_FORMAT_JSON);
    auto variant = [&](const char* name) {
      PromptVariantSpec out;
      out.head = std::string(root[name]["head"].get_string().value());
      out.tail = std::string(root[name]["tail"].get_string().value());
      // Arrays are held in a local: value() of a temporary result would dangle in a range-for.
      const simdjson::dom::array categories = root[name]["categories"].get_array().value();
      for (simdjson::dom::element category : categories) {
        out.categories.emplace_back(category.get_string().value());
      }
      return out;
    };
    PromptSpec loaded{variant("prompt_moderation"), variant("response_moderation"), {}};
    const simdjson::dom::array rules = root["conversation_rules"].get_array().value();
    for (simdjson::dom::element rule : rules) {
      loaded.conversation_rules.emplace_back(rule.get_string().value());
    }
    return loaded;
  }();
  return spec;
}

}  // namespace qguard::guard::testing
