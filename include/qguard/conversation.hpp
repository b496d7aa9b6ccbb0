// A conversation to moderate: the messages in order, each with its role. The role of the last
// message decides what Qwen3Guard-Gen judges (docs/moderation.md).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qguard/export.h"

namespace qguard {

enum class Role { kSystem, kUser, kAssistant };

struct Message {
  Role role;
  std::string content;  // UTF-8; inserted into the prompt verbatim
};

using Conversation = std::vector<Message>;

// What a conversation asks the model to judge: the last user message (prompt moderation) or the
// last assistant message (response moderation, which also reports whether it is a refusal).
enum class ModerationKind { kPrompt, kResponse };

// "system", "user", "assistant": the names chat APIs use in their JSON.
QGUARD_API const char* to_string(Role role) noexcept;

// The role with that exact (lower-case) name, or nullopt.
QGUARD_API std::optional<Role> role_from_string(std::string_view name) noexcept;

// Prompt moderation when the last message is a user message, response moderation when it is an
// assistant message. Throws Error(kInvalidArgument) for a conversation render_prompt rejects.
QGUARD_API ModerationKind moderation_kind(const Conversation& conversation);

// The exact text Qwen3Guard-Gen's chat template produces for `conversation`, ready to tokenize.
// Throws Error(kInvalidArgument) when the conversation is empty, ends with a system message, has a
// system message anywhere but first, or starts with an assistant message; Error(kInvalidUtf8) when
// a message's content is not valid UTF-8.
QGUARD_API std::string render_prompt(const Conversation& conversation);

}  // namespace qguard
