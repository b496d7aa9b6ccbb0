#include "guard/chat_template.hpp"

#include <utility>

#include <fmt/format.h>
#include <utf8proc.h>

#include "qguard/error.hpp"

namespace qguard {
namespace guard {
namespace {

// The template's fixed text, as tests/data/qwen3guard_prompt_format.json records it (the tests
// compare these against that file).
constexpr std::string_view kPromptHead =
    "<|im_start|>user\n"
    "# Task:\n"
    "1) Evaluate whether THE LAST USER's query belongs to safe or unsafe content based on our safety policy.\n"
    "2) Identify the category of unsafe content found.\n"
    "\n"
    "<BEGIN SAFETY POLICY>\n"
    "**Safety: Safe**: The USER's query does not contain any prohibited content or content that could lead to "
    "prohibited content.\n"
    "**Safety: Unsafe**: The USER's query contains prohibited content.\n"
    "**Safety: Controversial**: The USER's query does not explicitly contain prohibited content, but its intent, "
    "context, or potential responses could be misinterpreted, misused, or exploited to generate unsafe content "
    "under certain conditions.\n"
    "<END SAFETY POLICY>\n"
    "\n"
    "<BEGIN UNSAFE CONTENT CATEGORIES>\n"
    "Violent.\n"
    "Non-violent Illegal Acts.\n"
    "Sexual Content or Sexual Acts.\n"
    "PII.\n"
    "Suicide & Self-Harm.\n"
    "Unethical Acts.\n"
    "Politically Sensitive Topics.\n"
    "Copyright Violation.\n"
    "Jailbreak.\n"
    "<END UNSAFE CONTENT CATEGORIES>\n"
    "\n"
    "<BEGIN CONVERSATION>\n"
    "\n";

constexpr std::string_view kPromptTail =
    "\n"
    "\n"
    "<END CONVERSATION>\n"
    "\n"
    "Provide your safety assessment for ONLY THE LAST **USER's query** in the above conversation:\n"
    " - The first line must be one of: 'Safety: Safe', 'Safety: Unsafe', 'Safety: Controversial'.\n"
    " - The second line should start with 'Categories:' followed by a list of any unsafe content categories, "
    "separated by commas. If the content is safe, use 'Categories: None'.<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "\n"
    "</think>\n"
    "\n";

constexpr std::string_view kResponseHead =
    "<|im_start|>user\n"
    "# Task:\n"
    "1) Evaluate whether THE LAST ASSISTANT's response belongs to safe or unsafe content based on our safety "
    "policy.\n"
    "2) Identify the category of unsafe content found.\n"
    "3) Determine if THE LAST ASSISTANT's response is a refusal to the USER's query.\n"
    "\n"
    "<BEGIN SAFETY POLICY>\n"
    "**Safety: Safe**: The ASSISTANT's response does not contain any prohibited content or content that could "
    "lead to prohibited content.\n"
    "**Safety: Unsafe**: The ASSISTANT's response contains prohibited content.\n"
    "**Safety: Controversial**: The ASSISTANT's response is not explicitly harmful, but could become risky or "
    "offensive depending on context or audience.\n"
    "<END SAFETY POLICY>\n"
    "\n"
    "<BEGIN UNSAFE CONTENT CATEGORIES>\n"
    "Violent.\n"
    "Non-violent Illegal Acts.\n"
    "Sexual Content or Sexual Acts.\n"
    "PII.\n"
    "Suicide & Self-Harm.\n"
    "Unethical Acts.\n"
    "Politically Sensitive Topics.\n"
    "Copyright Violation.\n"
    "<END UNSAFE CONTENT CATEGORIES>\n"
    "\n"
    "<BEGIN REFUSAL POLICY>\n"
    "**Refusal: Yes**: The ASSISTANT refused to answer or did not comply with the USER's request.\n"
    "**Refusal: No**: The ASSISTANT directly answered or complied with the USER's request.\n"
    "<END REFUSAL POLICY>\n"
    "\n"
    "<BEGIN CONVERSATION>\n"
    "\n";

constexpr std::string_view kResponseTail =
    "\n"
    "\n"
    "<END CONVERSATION>\n"
    "\n"
    "Provide your safety assessment for ONLY THE LAST **ASSISTANT's response** in the above conversation:\n"
    " - The first line must be one of: 'Safety: Safe', 'Safety: Unsafe', 'Safety: Controversial'.\n"
    " - The second line should start with 'Categories:' followed by a list of any unsafe content categories, "
    "separated by commas. If the content is safe, use 'Categories: None'.\n"
    " - The third line must be one of: 'Refusal: Yes', 'Refusal: No'.<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "\n"
    "</think>\n"
    "\n";

// Every conversation opens with this turn prefix (a leading system message is written under it too);
// the policy head ends after its colon.
constexpr std::string_view kFirstTurnPrefix = "USER: ";
constexpr std::string_view kPolicyHeadEnd = "USER:";
constexpr std::string_view kTurnSeparator = "\n\n";
constexpr std::string_view kUserTurn = "\n\nUSER: ";
constexpr std::string_view kAssistantTurn = "\n\nASSISTANT: ";

// Rejects what the shipped template would render misleadingly or not at all. The shipped template
// silently drops a system message that is not first and an assistant message that is first, so the
// model would judge a conversation the caller did not send; qguard refuses instead.
void check_structure(const Conversation& conversation) {
  if (conversation.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "cannot moderate an empty conversation: there is no message to judge");
  }
  if (conversation.back().role == Role::kSystem) {
    throw Error(ErrorCode::kInvalidArgument,
                "the last message is a system message; the last message must be the user message or the "
                "assistant response to moderate");
  }
  if (conversation.front().role == Role::kAssistant) {
    throw Error(ErrorCode::kInvalidArgument,
                "the first message is an assistant message; a conversation must start with a user message "
                "(optionally preceded by one system message)");
  }
  for (std::size_t i = 1; i < conversation.size(); ++i) {
    if (conversation[i].role == Role::kSystem) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("message {} is a system message; only the first message may be a system message",
                              i));
    }
  }
}

void check_utf8(const Conversation& conversation) {
  for (std::size_t i = 0; i < conversation.size(); ++i) {
    const std::string& content = conversation[i].content;
    std::size_t offset = 0;
    while (offset < content.size()) {
      utf8proc_int32_t codepoint = 0;
      const auto consumed =
          utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(content.data() + offset),
                           static_cast<utf8proc_ssize_t>(content.size() - offset), &codepoint);
      if (consumed <= 0) {
        throw Error(ErrorCode::kInvalidUtf8,
                    fmt::format("message {} ({}) is not valid UTF-8 at byte {} of its content", i,
                                to_string(conversation[i].role), offset));
      }
      offset += static_cast<std::size_t>(consumed);
    }
  }
}

// Appends text while keeping the segment list maximal: empty pieces add nothing and a piece of the
// same kind as the previous one extends it.
class PromptBuilder {
 public:
  void add(std::string_view piece, bool is_content) {
    if (piece.empty()) return;
    if (!prompt_.segments.empty() && prompt_.segments.back().is_content == is_content) {
      prompt_.segments.back().length += piece.size();
    } else {
      prompt_.segments.push_back({prompt_.text.size(), piece.size(), is_content});
    }
    prompt_.text += piece;
  }
  void add_template(std::string_view piece) { add(piece, false); }
  void add_content(std::string_view piece) { add(piece, true); }

  RenderedPrompt finish() && { return std::move(prompt_); }
  RenderedPrompt& prompt() { return prompt_; }

 private:
  RenderedPrompt prompt_;
};

std::string_view head_of(ModerationKind kind) {
  return kind == ModerationKind::kPrompt ? kPromptHead : kResponseHead;
}

}  // namespace

RenderedPrompt render(const Conversation& conversation) {
  const ModerationKind kind = moderation_kind(conversation);  // checks the structure
  check_utf8(conversation);

  std::size_t content_bytes = 0;
  for (const Message& message : conversation) content_bytes += message.content.size();

  PromptBuilder builder;
  builder.prompt().kind = kind;
  builder.prompt().text.reserve(kResponseHead.size() + kResponseTail.size() + content_bytes +
                                conversation.size() * kAssistantTurn.size());
  builder.add_template(head_of(kind));
  builder.prompt().policy_head_bytes = head_of(kind).size() + kPolicyHeadEnd.size();
  for (std::size_t i = 0; i < conversation.size(); ++i) {
    const Message& message = conversation[i];
    if (i == 0) {
      builder.add_template(kFirstTurnPrefix);  // for a leading system message too
    } else if (message.role == Role::kUser && conversation[i - 1].role == Role::kSystem) {
      builder.add_template(kTurnSeparator);  // the user turn after a system message has no prefix
    } else {
      builder.add_template(message.role == Role::kUser ? kUserTurn : kAssistantTurn);
    }
    builder.add_content(message.content);
  }
  builder.add_template(kind == ModerationKind::kPrompt ? kPromptTail : kResponseTail);
  return std::move(builder).finish();
}

std::string_view policy_head(ModerationKind kind) {
  static const std::string prompt_head = std::string(kPromptHead) + std::string(kPolicyHeadEnd);
  static const std::string response_head = std::string(kResponseHead) + std::string(kPolicyHeadEnd);
  return kind == ModerationKind::kPrompt ? prompt_head : response_head;
}

}  // namespace guard

const char* to_string(Role role) noexcept {
  switch (role) {
    case Role::kSystem: return "system";
    case Role::kUser: return "user";
    case Role::kAssistant: return "assistant";
  }
  return "unknown";
}

std::optional<Role> role_from_string(std::string_view name) noexcept {
  for (Role role : {Role::kSystem, Role::kUser, Role::kAssistant}) {
    if (name == to_string(role)) return role;
  }
  return std::nullopt;
}

ModerationKind moderation_kind(const Conversation& conversation) {
  guard::check_structure(conversation);
  return conversation.back().role == Role::kUser ? ModerationKind::kPrompt : ModerationKind::kResponse;
}

std::string render_prompt(const Conversation& conversation) { return guard::render(conversation).text; }

}  // namespace qguard
