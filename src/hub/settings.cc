#include "hub/settings.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace qguard::hub {
namespace {

std::string trimmed(std::string text) {
  const auto is_space = [](unsigned char c) { return std::isspace(c) != 0; };
  text.erase(text.begin(), std::find_if_not(text.begin(), text.end(), is_space));
  text.erase(std::find_if_not(text.rbegin(), text.rend(), is_space).base(), text.end());
  return text;
}

// huggingface_hub's notion of a true flag.
bool is_true(const std::optional<std::string>& value) {
  if (!value) return false;
  std::string upper = trimmed(*value);
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  return upper == "1" || upper == "ON" || upper == "YES" || upper == "TRUE";
}

// A set, non-empty variable's value.
std::optional<std::string> non_empty(const Environment& lookup, const char* name) {
  std::optional<std::string> value = lookup(name);
  if (value && value->empty()) return std::nullopt;
  return value;
}

std::filesystem::path expand_home(const std::string& path, const Environment& lookup) {
  if (path == "~" || path.starts_with("~/")) return non_empty(lookup, "HOME").value_or("/") + path.substr(1);
  return path;
}

std::string token_file_contents(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::ostringstream text;
  text << in.rdbuf();
  return trimmed(text.str());
}

}  // namespace

Settings settings_from(const Environment& lookup) {
  Settings s;
  s.endpoint = non_empty(lookup, "HF_ENDPOINT").value_or("https://huggingface.co");
  while (s.endpoint.ends_with('/')) s.endpoint.pop_back();

  const std::string xdg_cache = non_empty(lookup, "XDG_CACHE_HOME").value_or("~/.cache");
  const std::filesystem::path home =
      expand_home(non_empty(lookup, "HF_HOME").value_or(xdg_cache + "/huggingface"), lookup);
  const std::optional<std::string> cache = non_empty(lookup, "HF_HUB_CACHE");
  s.cache = cache ? expand_home(*cache, lookup) : home / "hub";

  if (const auto token = non_empty(lookup, "HF_TOKEN"); token && !trimmed(*token).empty()) {
    s.token = trimmed(*token);
  } else {
    const std::optional<std::string> token_path = non_empty(lookup, "HF_TOKEN_PATH");
    s.token = token_file_contents(token_path ? expand_home(*token_path, lookup) : home / "token");
  }
  s.offline = is_true(lookup("HF_HUB_OFFLINE")) || is_true(lookup("TRANSFORMERS_OFFLINE"));
  s.progress = !is_true(lookup("HF_HUB_DISABLE_PROGRESS_BARS"));
  return s;
}

Settings settings_from_environment() {
  return settings_from([](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  });
}

}  // namespace qguard::hub
