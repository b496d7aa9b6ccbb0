// Repository ids, revisions and the values the Hub's headers carry, as huggingface_hub reads them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace qguard::hub {

struct RepoRef {
  std::string id;        // "ORG/NAME"
  std::string revision;  // a branch, tag or commit hash; "main" when the text names none
};

// "ORG/NAME" or "ORG/NAME@REVISION", with huggingface_hub's rules for names (letters, digits, '-',
// '_', '.'; no "--" or ".."; at most 96 characters). Anything else (a path such as "./x" or "/a/b",
// a revision with "..") is not a repository id.
std::optional<RepoRef> parse_repo_ref(std::string_view text);

bool is_commit_hash(std::string_view text);  // 40 lowercase hex digits
bool is_sha256(std::string_view text);       // 64 lowercase hex digits: an LFS file's etag

// An ETag header's value without a weak marker or quotes: W/"abc" -> abc.
std::string normalize_etag(std::string_view header);

}  // namespace qguard::hub
