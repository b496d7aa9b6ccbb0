// The Hub room's pure parts: repository ids, settings from the environment, header values, the
// cache's refs, and the blob writer's failures. Downloads are tested end to end against a mock Hub
// (tests/hub/).
#include <unistd.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "hub/cache.hpp"
#include "hub/download.hpp"
#include "hub/http.hpp"
#include "hub/repo.hpp"
#include "hub/settings.hpp"
#include "qguard/error.hpp"

namespace fs = std::filesystem;
using qguard::ErrorCode;
using namespace qguard::hub;

namespace {

Settings settings_with(std::map<std::string, std::string> variables) {
  return settings_from([&](const char* name) -> std::optional<std::string> {
    const auto found = variables.find(name);
    if (found == variables.end()) return std::nullopt;
    return found->second;
  });
}

fs::path scratch_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("qguard_hub_test_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

}  // namespace

TEST_CASE("repository ids: ORG/NAME[@REVISION], nothing path-like") {
  const auto plain = parse_repo_ref("Qwen/Qwen3Guard-Gen-0.6B");
  REQUIRE(plain);
  CHECK(plain->id == "Qwen/Qwen3Guard-Gen-0.6B");
  CHECK(plain->revision == "main");
  const auto pinned = parse_repo_ref("Qwen/Qwen3Guard-Gen-4B@refs/pr/1");
  REQUIRE(pinned);
  CHECK(pinned->id == "Qwen/Qwen3Guard-Gen-4B");
  CHECK(pinned->revision == "refs/pr/1");
  for (const char* not_an_id : {"model", "./Qwen/x", "/abs/path", "a/b/c", "Qwen/", "/Qwen", "a--b/c", "a/b..c", "-a/b",
                                "a/b.", "a/b@", "a/b@../x", "a/b@x/../../y", "a/b@/x", "a b/c", "a/b@x y"}) {
    CAPTURE(not_an_id);
    CHECK_FALSE(parse_repo_ref(not_an_id));
  }
  CHECK_FALSE(parse_repo_ref(std::string(60, 'a') + "/" + std::string(40, 'b')));
}

TEST_CASE("header values: etags, commit hashes, sha256, percent-encoding, origins") {
  CHECK(normalize_etag("\"abc\"") == "abc");
  CHECK(normalize_etag("W/\"abc\"") == "abc");
  CHECK(normalize_etag("abc") == "abc");
  CHECK(is_commit_hash(std::string(40, 'a')));
  CHECK_FALSE(is_commit_hash(std::string(40, 'A')));
  CHECK_FALSE(is_commit_hash("main"));
  CHECK(is_sha256(std::string(64, '0')));
  CHECK_FALSE(is_sha256(std::string(40, '0')));
  CHECK(percent_encode("refs/pr/1") == "refs%2Fpr%2F1");
  CHECK(percent_encode("v1.0_a-b~") == "v1.0_a-b~");
  CHECK(origin_of("https://huggingface.co/Qwen/x/resolve/main/config.json") == "https://huggingface.co");
  CHECK(origin_of("http://127.0.0.1:8080") == "http://127.0.0.1:8080");
  CHECK(origin_of("/relative") == "");
}

TEST_CASE("settings: huggingface_hub's variables and defaults") {
  const Settings defaults = settings_with({{"HOME", "/home/u"}});
  CHECK(defaults.endpoint == "https://huggingface.co");
  CHECK(defaults.cache == fs::path("/home/u/.cache/huggingface/hub"));
  CHECK_FALSE(defaults.offline);
  CHECK(defaults.progress);

  CHECK(settings_with({{"HOME", "/h"}, {"XDG_CACHE_HOME", "/x"}}).cache == fs::path("/x/huggingface/hub"));
  CHECK(settings_with({{"HF_HOME", "/hf"}}).cache == fs::path("/hf/hub"));
  CHECK(settings_with({{"HF_HOME", "/hf"}, {"HF_HUB_CACHE", "/c"}}).cache == fs::path("/c"));
  CHECK(settings_with({{"HF_HOME", "~/hf"}, {"HOME", "/h"}}).cache == fs::path("/h/hf/hub"));
  CHECK(settings_with({{"HF_ENDPOINT", "http://127.0.0.1:9/"}}).endpoint == "http://127.0.0.1:9");
  for (const char* yes : {"1", "ON", "yes", "True"}) CHECK(settings_with({{"HF_HUB_OFFLINE", yes}}).offline);
  for (const char* no : {"0", "", "off", "no"}) CHECK_FALSE(settings_with({{"HF_HUB_OFFLINE", no}}).offline);
  CHECK(settings_with({{"TRANSFORMERS_OFFLINE", "1"}}).offline);
  CHECK_FALSE(settings_with({{"HF_HUB_DISABLE_PROGRESS_BARS", "1"}}).progress);

  // HF_TOKEN first, else the token file under HF_HOME (or HF_TOKEN_PATH), trimmed.
  const fs::path home = scratch_dir("token");
  std::ofstream(home / "token") << "  hf_from_file\n";
  CHECK(settings_with({{"HF_HOME", home.string()}}).token == "hf_from_file");
  CHECK(settings_with({{"HF_HOME", home.string()}, {"HF_TOKEN", "hf_env "}}).token == "hf_env");
  std::ofstream(home / "other") << "hf_other";
  CHECK(settings_with({{"HF_HOME", home.string()}, {"HF_TOKEN_PATH", (home / "other").string()}}).token == "hf_other");
  CHECK(settings_with({{"HF_HOME", (home / "none").string()}}).token.empty());
  fs::remove_all(home);
}

TEST_CASE("cache layout: folder names, refs, snapshot links, missing-file markers") {
  const fs::path root = scratch_dir("cache");
  const RepoCache cache(root, "Qwen/Qwen3Guard-Gen-0.6B");
  CHECK(cache.folder() == root / "models--Qwen--Qwen3Guard-Gen-0.6B");
  CHECK(cache.lock_file("e") == root / ".locks" / "models--Qwen--Qwen3Guard-Gen-0.6B" / "e.lock");
  const std::string commit(40, 'c');
  CHECK(cache.commit_of(commit) == commit);
  CHECK_FALSE(cache.commit_of("main"));
  cache.write_ref("main", commit);
  CHECK(cache.commit_of("main") == commit);
  std::ifstream ref(cache.folder() / "refs" / "main");
  CHECK(std::string(std::istreambuf_iterator<char>(ref), {}) == commit);  // no newline, as huggingface_hub writes

  fs::create_directories(cache.folder() / "blobs");
  std::ofstream(cache.blob("etag1")) << "{}";
  cache.link(commit, "config.json", "etag1");
  const fs::path pointer = cache.snapshot(commit) / "config.json";
  CHECK(fs::is_symlink(pointer));
  CHECK(fs::read_symlink(pointer) == fs::path("../../blobs/etag1"));
  CHECK(fs::file_size(pointer) == 2);

  CHECK_FALSE(cache.known_missing(commit, "tokenizer_config.json"));
  cache.mark_missing(commit, "tokenizer_config.json");
  CHECK(cache.known_missing(commit, "tokenizer_config.json"));
  fs::remove_all(root);
}

TEST_CASE("blob writer: resumes a partial file's hash; a full disk is kIoError saying so") {
  const fs::path dir = scratch_dir("writer");
  const fs::path part = dir / "blob.incomplete";
  {
    BlobWriter first(part, true);
    first.append("ab", 2);
  }
  BlobWriter resumed(part, true);
  CHECK(resumed.size() == 2);
  resumed.append("c", 1);
  // SHA-256("abc"), FIPS 180-2 appendix B.1.
  CHECK(resumed.sha256_hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  fs::remove_all(dir);

  if (fs::exists("/dev/full")) {
    BlobWriter full("/dev/full", false);
    try {
      full.append("x", 1);
      FAIL("a write to /dev/full succeeded");
    } catch (const qguard::Error& e) {
      CHECK(e.code() == ErrorCode::kIoError);
      CHECK(std::string(e.what()).find("disk is full") != std::string::npos);
    }
  }
}
