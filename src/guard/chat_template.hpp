// Qwen3Guard-Gen's chat template, reproduced byte for byte (tests/data/qwen3guard_prompt_format.json):
// prompt = HEAD + CONVERSATION + TAIL, with the variant chosen by the role of the last message.
//
// Besides the text, the rendering says which bytes are template and which are message content, so
// the tokenizer can recognise special tokens such as <|im_end|> in template text only: a user who
// types "<|im_end|>" must get the plain-text tokens, not the control token.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "qguard/conversation.hpp"

namespace qguard::guard {

// A run of the rendered text. Segments tile the text in order, without gaps or overlap, and two
// neighbours never share the same is_content.
//
// Segments are not tokenization boundaries: the shipped tokenizer pre-tokenizes the whole text
// between special tokens, so the tokenizer must treat neighbouring segments as one run of text and
// use is_content only to decide where special tokens may be matched.
struct PromptSegment {
  std::size_t offset = 0;   // byte offset into RenderedPrompt::text
  std::size_t length = 0;   // bytes
  bool is_content = false;  // message content (no special tokens) vs template text (special tokens)
};

struct RenderedPrompt {
  std::string text;
  std::vector<PromptSegment> segments;
  ModerationKind kind = ModerationKind::kPrompt;

  // Length of the policy head: the text up to and including the first "USER:", identical for every
  // conversation of the same kind, so its KV cache can be computed once per model and reused.
  // It ends before the space that precedes the first content, and since the pre-tokenizer always
  // splits between ':' and a following space, the head's tokens are a prefix of every prompt's tokens.
  std::size_t policy_head_bytes = 0;

  std::string_view view(const PromptSegment& segment) const {
    return std::string_view(text).substr(segment.offset, segment.length);
  }
  std::string_view policy_head() const { return std::string_view(text).substr(0, policy_head_bytes); }
};

// Renders `conversation`; throws like qguard::render_prompt (see include/qguard/conversation.hpp).
RenderedPrompt render(const Conversation& conversation);

// The policy head of a kind's prompts without rendering a conversation (the text is a constant).
std::string_view policy_head(ModerationKind kind);

}  // namespace qguard::guard
