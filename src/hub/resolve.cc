// hub::resolve: a repository id to a snapshot directory, from the cache when the Hub cannot help.
#include <filesystem>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "hub/download.hpp"
#include "hub/hub.hpp"
#include "qguard/error.hpp"
#include "util/json.hpp"

namespace qguard::hub {
namespace fs = std::filesystem;
namespace {

constexpr const char* kIndex = "model.safetensors.index.json";
constexpr const char* kSingleFile = "model.safetensors";
constexpr std::size_t kMaxShards = 1000;

bool is_present(const fs::path& path) {
  std::error_code error;
  return fs::exists(path, error);  // follows the snapshot's symlink to its blob
}

// The shard files an index names: plain file names in the same directory, each listed once.
std::vector<std::string> shards_of(const fs::path& index) {
  simdjson::dom::parser parser;
  const simdjson::dom::element root = util::parse_json_file(parser, index);
  simdjson::dom::object weight_map;
  if (root["weight_map"].get(weight_map)) {
    throw Error(ErrorCode::kMalformedJson, fmt::format("'{}': no \"weight_map\" object", index.string()));
  }
  std::set<std::string> shards;
  for (const auto field : weight_map) {
    std::string_view shard;
    if (field.value.get(shard)) {
      throw Error(ErrorCode::kMalformedJson, fmt::format("'{}': a weight_map value is not a string", index.string()));
    }
    if (shard.find('/') != std::string_view::npos || shard.starts_with(".") || !shard.ends_with(".safetensors")) {
      throw Error(ErrorCode::kCorruptFile,
                  fmt::format("'{}' names the shard '{}', not a .safetensors file beside it", index.string(), shard));
    }
    shards.emplace(shard);
    if (shards.size() > kMaxShards) {
      throw Error(ErrorCode::kCorruptFile, fmt::format("'{}' names more than {} shards", index.string(), kMaxShards));
    }
  }
  return {shards.begin(), shards.end()};
}

// The files `need` lacks in a snapshot directory (in the order they are needed); the weights' shards
// are known only once the index is there.
std::vector<std::string> missing_files(const fs::path& dir, Need need) {
  std::vector<std::string> missing;
  const auto require = [&](const std::string& file) {
    if (!is_present(dir / file)) missing.push_back(file);
  };
  require("tokenizer.json");
  if (need == Need::kTokenizer) return missing;
  require("config.json");
  if (!is_present(dir / kIndex)) {
    require(kSingleFile);
  } else {
    for (const std::string& shard : shards_of(dir / kIndex)) require(shard);
  }
  return missing;
}

// The cached snapshot of `revision` if it holds every needed file.
std::optional<fs::path> cached_snapshot(const RepoCache& cache, const std::string& revision, Need need) {
  const std::optional<std::string> commit = cache.commit_of(revision);
  if (!commit) return std::nullopt;
  const fs::path dir = cache.snapshot(*commit);
  if (!is_present(dir) || !missing_files(dir, need).empty()) return std::nullopt;
  return dir;
}

// Downloads what the snapshot of `ref.revision` lacks; returns its directory.
fs::path download(const Downloader& downloader, const RepoRef& ref, Need need) {
  const RepoCache& cache = downloader.cache();
  // The first file's answer names the commit the revision points to now; the rest come from that
  // commit, so one snapshot never mixes two.
  const std::string first = need == Need::kModel ? "config.json" : "tokenizer.json";
  const FileMetadata head = *downloader.metadata(ref.revision, first, false);
  const std::string& commit = head.commit;
  cache.write_ref(ref.revision, commit);
  const fs::path dir = cache.snapshot(commit);
  downloader.fetch(first, head);

  // Fetches `file` at the commit unless the snapshot has it (or the Hub said it has none); false if
  // the repository has no such file.
  const auto fetch = [&](const std::string& file, bool optional) {
    if (is_present(dir / file)) return true;
    if (optional && cache.known_missing(commit, file)) return false;
    const std::optional<FileMetadata> m = downloader.metadata(commit, file, optional);
    if (!m) {
      cache.mark_missing(commit, file);
      return false;
    }
    downloader.fetch(file, *m);
    return true;
  };
  fetch("tokenizer.json", false);
  fetch("tokenizer_config.json", true);
  if (need == Need::kModel) {
    fetch("config.json", false);
    if (fetch(kIndex, true)) {
      for (const std::string& shard : shards_of(dir / kIndex)) fetch(shard, false);
    } else {
      fetch(kSingleFile, false);
    }
  }
  return dir;
}

[[noreturn]] void throw_not_cached(const RepoCache& cache, const RepoRef& ref, Need need, const std::string& why) {
  std::string detail = "it is not in the cache " + cache.folder().string();
  if (const std::optional<std::string> commit = cache.commit_of(ref.revision)) {
    const fs::path dir = cache.snapshot(*commit);
    if (is_present(dir)) {
      const std::vector<std::string> missing = missing_files(dir, need);
      detail = fmt::format("its cached snapshot {} lacks {}", dir.string(), fmt::join(missing, ", "));
    }
  }
  throw Error(ErrorCode::kNotFound, fmt::format("{}@{}: {}, and {}", ref.id, ref.revision, why, detail));
}

}  // namespace

std::string resolve(const std::string& name_or_path, Need need) {
  std::error_code error;
  if (fs::exists(name_or_path, error)) return name_or_path;
  const std::optional<RepoRef> ref = parse_repo_ref(name_or_path);
  if (!ref) return name_or_path;

  const Settings settings = settings_from_environment();
  const Downloader downloader(settings, *ref);
  const RepoCache& cache = downloader.cache();
  if (settings.offline) {
    if (const auto dir = cached_snapshot(cache, ref->revision, need)) return dir->string();
    throw_not_cached(cache, *ref, need,
                     "HF_HUB_OFFLINE is set, so nothing is downloaded (unset it, or download once with network)");
  }
  // A commit hash names immutable files: a complete snapshot needs no network at all.
  if (is_commit_hash(ref->revision)) {
    if (const auto dir = cached_snapshot(cache, ref->revision, need)) return dir->string();
  }
  try {
    return download(downloader, *ref, need).string();
  } catch (const Error& e) {
    // As huggingface_hub does: when the Hub cannot be reached, what the cache holds for the revision serves.
    if (e.code() != ErrorCode::kNetworkError) throw;
    if (const auto dir = cached_snapshot(cache, ref->revision, need)) return dir->string();
    throw Error(ErrorCode::kNetworkError, fmt::format("{} (and the cache {} holds no complete copy of {}@{})", e.what(),
                                                      cache.folder().string(), ref->id, ref->revision));
  }
}

}  // namespace qguard::hub
