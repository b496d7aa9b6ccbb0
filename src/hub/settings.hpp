// Where the Hub is and where its cache lives, read from the environment variables huggingface_hub
// reads, with its defaults, so both tools share one cache and one login.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace qguard::hub {

struct Settings {
  std::string endpoint;         // HF_ENDPOINT, default https://huggingface.co (no trailing slash)
  std::filesystem::path cache;  // HF_HUB_CACHE, default $HF_HOME/hub
  std::string token;            // HF_TOKEN, else the token file ($HF_TOKEN_PATH, default $HF_HOME/token); may be ""
  bool offline = false;         // HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is 1/ON/YES/TRUE
  bool progress = true;         // HF_HUB_DISABLE_PROGRESS_BARS is not set true
};

// `lookup` returns an environment variable's value, or nothing when it is unset.
using Environment = std::function<std::optional<std::string>(const char* name)>;
Settings settings_from(const Environment& lookup);
Settings settings_from_environment();

}  // namespace qguard::hub
