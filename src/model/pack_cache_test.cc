// The pack cache: a file read back gives bitwise the logits of packing at load, and a damaged, stale
// or unwritable cache never breaks a load or feeds it wrong bytes.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "qguard/model.hpp"

using namespace qguard;
namespace fs = std::filesystem;

namespace {

fs::path testdata(const char* name) { return fs::path(QGUARD_BINARY_DIR) / "testdata" / name; }

// A fresh directory under the build tree, removed at the end of the test.
struct TempDir {
  fs::path path;
  explicit TempDir(const char* name) : path(fs::path(QGUARD_BINARY_DIR) / fmt::format("{}_{}", name, ::getpid())) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

const std::vector<std::int32_t> kIds{5, 17, 999, 0, 42, 7, 300};

std::shared_ptr<const Model> load(const fs::path& model, WeightFormat format, const fs::path& cache) {
  return Model::load(model.string(), {1, format, cache.string()});
}

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) files.push_back(entry.path());
  return files;
}

// Overwrites 8 bytes at `offset` of `file` with `value`.
void poke_u64(const fs::path& file, std::uint64_t offset, std::uint64_t value) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(reinterpret_cast<const char*>(&value), 8);
}

std::uint64_t read_u64(const fs::path& file, std::uint64_t offset) {
  std::ifstream f(file, std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  std::uint64_t value = 0;
  f.read(reinterpret_cast<char*>(&value), 8);
  return value;
}

}  // namespace

TEST_CASE("pack cache: the first load writes the file, the next reads it, and the logits are identical") {
  const TempDir cache("pack_cache_roundtrip");
  for (WeightFormat format : {WeightFormat::kAuto, WeightFormat::kInt8}) {
    CAPTURE(static_cast<int>(format));
    const auto plain = Model::load(testdata("tied_bf16").string(), {1, format});
    CHECK(plain->info().pack_cache == "off");
    const auto first = load(testdata("tied_bf16"), format, cache.path);
    CHECK(starts_with(first->info().pack_cache, "written "));
    const auto second = load(testdata("tied_bf16"), format, cache.path);
    CHECK(starts_with(second->info().pack_cache, "read "));
    CHECK(second->info().weight_bytes == plain->info().weight_bytes);
    CHECK(first->logits(kIds, true) == plain->logits(kIds, true));
    CHECK(second->logits(kIds, true) == plain->logits(kIds, true));
  }
  CHECK(files_in(cache.path).size() == 2);  // one file per weight format
}

TEST_CASE("pack cache: a damaged file is rewritten, never used") {
  const TempDir cache("pack_cache_damaged");
  const auto plain = Model::load(testdata("untied_gqa3_f32").string(), {1, WeightFormat::kAuto});
  const auto expected = plain->logits(kIds);
  load(testdata("untied_gqa3_f32"), WeightFormat::kAuto, cache.path);
  const fs::path file = files_in(cache.path).at(0);
  const std::uint64_t key_size = read_u64(file, 8), count_at = 16 + key_size, first_entry = count_at + 8;
  const std::uint64_t size = fs::file_size(file);

  const std::vector<std::pair<const char*, std::function<void()>>> damages{
      {"truncated", [&] { fs::resize_file(file, size / 2); }},
      {"key size past the end", [&] { poke_u64(file, 8, ~std::uint64_t{0} - 4); }},
      {"other key", [&] { poke_u64(file, 16, 0x5858585858585858); }},
      {"wrong count", [&] { poke_u64(file, count_at, 1u << 30); }},
      {"offset past the end", [&] { poke_u64(file, first_entry, size + 4096); }},
      {"offset wrapping around", [&] { poke_u64(file, first_entry, ~std::uint64_t{0} - 4095); }},
      {"offset inside the header", [&] { poke_u64(file, first_entry, 0); }},
      {"wrong matrix size", [&] { poke_u64(file, first_entry + 8, read_u64(file, first_entry + 8) + 64); }},
      {"not a cache file", [&] { poke_u64(file, 0, 0); }},
  };
  for (const auto& [what, damage] : damages) {
    CAPTURE(what);
    damage();
    const auto reloaded = load(testdata("untied_gqa3_f32"), WeightFormat::kAuto, cache.path);
    CHECK(starts_with(reloaded->info().pack_cache, "written "));  // the damaged file was replaced
    CHECK(reloaded->logits(kIds) == expected);
    CHECK(fs::file_size(file) == size);
    CHECK(starts_with(load(testdata("untied_gqa3_f32"), WeightFormat::kAuto, cache.path)->info().pack_cache, "read "));
  }
}

TEST_CASE("pack cache: a changed checkpoint gets a new file and an unwritable directory leaves the load intact") {
  const TempDir work("pack_cache_stale");
  const fs::path model = work.path / "model", cache = work.path / "cache";
  fs::copy(testdata("tied_bf16"), model);
  const auto before = load(model, WeightFormat::kAuto, cache);
  CHECK(starts_with(before->info().pack_cache, "written "));
  fs::last_write_time(model / "model.safetensors", fs::last_write_time(model / "model.safetensors") + std::chrono::hours(1));
  const auto after = load(model, WeightFormat::kAuto, cache);
  CHECK(starts_with(after->info().pack_cache, "written "));
  CHECK(after->info().pack_cache != before->info().pack_cache);
  CHECK(files_in(cache).size() == 2);

  // A sharded checkpoint's index decides which bytes belong to which tensor: changing it is a change.
  const fs::path sharded = work.path / "sharded";
  fs::copy(testdata("untied_gqa3_bf16_sharded"), sharded);
  const auto first = load(sharded, WeightFormat::kAuto, cache);
  const fs::path index = sharded / "model.safetensors.index.json";
  fs::last_write_time(index, fs::last_write_time(index) + std::chrono::hours(1));
  const auto second = load(sharded, WeightFormat::kAuto, cache);
  CHECK(starts_with(second->info().pack_cache, "written "));
  CHECK(second->info().pack_cache != first->info().pack_cache);

  // A directory that cannot be created: below a regular file.
  const auto unwritable = load(model, WeightFormat::kAuto, model / "config.json" / "cache");
  CHECK(starts_with(unwritable->info().pack_cache, "not written: "));
  CHECK(unwritable->logits(kIds) == before->logits(kIds));
}
