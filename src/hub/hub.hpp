// Models by name: a Hugging Face Hub repository id ("Qwen/Qwen3Guard-Gen-0.6B", optionally
// "@REVISION") becomes a local snapshot directory in huggingface_hub's own cache, downloading only
// the files qguard reads (docs/hub.md). The loaders call this; nothing else needs the Hub.
#pragma once

#include <string>

namespace qguard::hub {

// Which files the caller will read from the directory.
enum class Need {
  kTokenizer,  // tokenizer.json (and tokenizer_config.json when the repository has one)
  kModel,      // the tokenizer's files, config.json and the safetensors weights (single or sharded)
};

// `name_or_path` unchanged when it names an existing file or directory, or when it is not shaped
// like a repository id (the loader then reports the missing path). Otherwise the snapshot directory
// holding the needed files of that repository, downloaded if the cache lacks them. Settings come
// from the environment, as for huggingface_hub: HF_ENDPOINT, HF_TOKEN (or the token file),
// HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE. Throws qguard::Error.
std::string resolve(const std::string& name_or_path, Need need);

}  // namespace qguard::hub
