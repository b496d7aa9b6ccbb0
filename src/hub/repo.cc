#include "hub/repo.hpp"

#include <algorithm>

namespace qguard::hub {
namespace {

bool is_hex(std::string_view text, std::size_t length) {
  return text.size() == length &&
         std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

bool is_name(std::string_view part) {
  return !part.empty() && std::all_of(part.begin(), part.end(), is_name_char) && part.front() != '-' &&
         part.front() != '.' && part.back() != '-' && part.back() != '.';
}

// Branches and tags may hold '/', as in "refs/pr/1"; no part may climb out of refs/.
bool is_revision(std::string_view revision) {
  if (revision.empty() || revision.size() > 255 || revision.front() == '/' || revision.back() == '/') return false;
  std::size_t start = 0;
  while (start <= revision.size()) {
    const std::size_t end = std::min(revision.find('/', start), revision.size());
    const std::string_view part = revision.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." || !std::all_of(part.begin(), part.end(), is_name_char)) {
      return false;
    }
    start = end + 1;
  }
  return true;
}

}  // namespace

std::optional<RepoRef> parse_repo_ref(std::string_view text) {
  RepoRef ref{std::string(text), "main"};
  if (const std::size_t at = text.find('@'); at != std::string_view::npos) {
    ref.id = std::string(text.substr(0, at));
    ref.revision = std::string(text.substr(at + 1));
    if (!is_revision(ref.revision)) return std::nullopt;
  }
  const std::size_t slash = ref.id.find('/');
  if (slash == std::string::npos || ref.id.size() > 96 || ref.id.find("--") != std::string::npos ||
      ref.id.find("..") != std::string::npos) {
    return std::nullopt;
  }
  const std::string_view id = ref.id;
  if (!is_name(id.substr(0, slash)) || !is_name(id.substr(slash + 1))) return std::nullopt;
  return ref;
}

bool is_commit_hash(std::string_view text) { return is_hex(text, 40); }
bool is_sha256(std::string_view text) { return is_hex(text, 64); }

std::string normalize_etag(std::string_view header) {
  if (header.starts_with("W/")) header.remove_prefix(2);
  if (header.size() >= 2 && header.front() == '"' && header.back() == '"') header = header.substr(1, header.size() - 2);
  return std::string(header);
}

}  // namespace qguard::hub
