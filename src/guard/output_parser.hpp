// Reads Qwen3Guard-Gen's answer into a Verdict. The grammar is
//   prompt moderation:   "Safety: (Safe|Unsafe|Controversial)\nCategories: (None|CAT(, CAT)*)"
//   response moderation: the same plus "\nRefusal: (Yes|No)"
// The parser forgives layout (spacing, blank lines, \r\n, line order, category order, repeated
// categories, a final <|im_end|>) and nothing that changes the meaning; docs/moderation.md lists
// every rule.
#pragma once

#include <string_view>

#include "qguard/conversation.hpp"
#include "qguard/verdict.hpp"

namespace qguard::guard {

// The verdict `text` states for a moderation of `kind`; probabilities are left at zero and raw is
// `text`. Throws Error(kMalformedOutput), quoting the offending text, when `text` is not a complete
// answer of that kind.
Verdict parse_output(std::string_view text, ModerationKind kind);

}  // namespace qguard::guard
