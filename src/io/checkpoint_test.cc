#include "io/checkpoint.hpp"

#include <atomic>
#include <cstring>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <random>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include "qguard/error.hpp"

namespace fs = std::filesystem;
using qguard::DType;
using qguard::Error;
using qguard::ErrorCode;
using qguard::io::Checkpoint;
using qguard::io::MappedFile;

namespace {

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            fmt::format("qguard-io-test-{}-{}-{}", ::getpid(), counter++, std::random_device()());
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

// The 8-byte little-endian length prefix, the header text, then the data region.
std::string safetensors_file(const std::string& header, const std::string& data, std::uint64_t declared_length) {
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes += static_cast<char>((declared_length >> (8 * i)) & 0xff);
  return bytes + header + data;
}

std::string safetensors_file(const std::string& header, const std::string& data) {
  return safetensors_file(header, data, header.size());
}

struct TensorSpec {
  std::string name;
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::string bytes;
};

// A well-formed file holding `tensors` back to back in the given order.
std::string safetensors_file(const std::vector<TensorSpec>& tensors) {
  std::string header = R"({"__metadata__": {"format": "pt"})";
  std::string data;
  for (const TensorSpec& t : tensors) {
    header += fmt::format(R"(, "{}": {{"dtype": "{}", "shape": [{}], "data_offsets": [{}, {}]}})", t.name, t.dtype,
                          fmt::join(t.shape, ", "), data.size(), data.size() + t.bytes.size());
    data += t.bytes;
  }
  return safetensors_file(header + "}", data);
}

// `count` distinct bytes starting at `seed`, so a tensor read from the wrong place shows.
std::string pattern(std::size_t count, int seed) {
  std::string bytes;
  for (std::size_t i = 0; i < count; ++i) bytes += static_cast<char>((seed + 7 * i) & 0xff);
  return bytes;
}

std::string bytes_of(const qguard::io::TensorView& view) {
  return std::string(reinterpret_cast<const char*>(view.data), view.nbytes);
}

// Runs `action`, which must throw Error with `code` and a message containing every fragment.
void expect_error(const std::function<void()>& action, ErrorCode code, std::initializer_list<std::string> fragments) {
  try {
    action();
    FAIL("expected qguard::Error(", qguard::to_string(code), ")");
  } catch (const Error& error) {
    const std::string message = error.what();
    INFO("message: ", message);
    CHECK(qguard::to_string(error.code()) == std::string(qguard::to_string(code)));
    for (const std::string& fragment : fragments) CHECK(message.find(fragment) != std::string::npos);
  }
}

void expect_open_error(const fs::path& dir, ErrorCode code, std::initializer_list<std::string> fragments) {
  expect_error([&] { Checkpoint::open(dir); }, code, fragments);
}

// A single-file checkpoint whose model.safetensors holds exactly `bytes`.
void expect_single_file_error(const std::string& bytes, ErrorCode code, std::initializer_list<std::string> fragments) {
  TempDir dir;
  write_file(dir.path() / "model.safetensors", bytes);
  expect_open_error(dir.path(), code, fragments);
}

std::string index_json(std::initializer_list<std::pair<std::string, std::string>> weight_map) {
  std::vector<std::string> entries;
  for (const auto& [tensor, shard] : weight_map) entries.push_back(fmt::format(R"("{}": "{}")", tensor, shard));
  return fmt::format(R"({{"metadata": {{"total_size": 0}}, "weight_map": {{{}}}}})", fmt::join(entries, ", "));
}

}  // namespace

TEST_CASE("MappedFile maps a file's bytes and an empty file to size 0") {
  TempDir dir;
  write_file(dir.path() / "data.bin", "hello, mapping");
  write_file(dir.path() / "empty.bin", "");
  MappedFile file = MappedFile::open(dir.path() / "data.bin");
  REQUIRE(file.size() == 14);
  CHECK(std::string(reinterpret_cast<const char*>(file.data()), file.size()) == "hello, mapping");

  MappedFile moved = std::move(file);
  CHECK(moved.size() == 14);
  CHECK(moved.path() == dir.path() / "data.bin");

  const MappedFile empty = MappedFile::open(dir.path() / "empty.bin");
  CHECK(empty.size() == 0);
  CHECK(empty.data() == nullptr);

  expect_error([&] { MappedFile::open(dir.path() / "absent.bin"); }, ErrorCode::kNotFound, {"absent.bin"});
  expect_error([&] { MappedFile::open(dir.path()); }, ErrorCode::kNotFound, {"not a regular file"});
}

TEST_CASE("a single-file checkpoint exposes BF16, F16 and F32 tensors with their exact bytes") {
  TempDir dir;
  const std::vector<TensorSpec> specs = {
      {"model.embed_tokens.weight", "BF16", {2, 3}, pattern(2 * 3 * 2, 1)},
      {"model.norm.weight", "F16", {4}, pattern(4 * 2, 50)},
      {"lm_head.weight", "F32", {2, 2}, pattern(2 * 2 * 4, 100)},
      {"empty", "F32", {0, 5}, ""},
  };
  const fs::path file = dir.path() / "model.safetensors";
  write_file(file, safetensors_file(specs));

  const Checkpoint checkpoint = Checkpoint::open(dir.path());
  CHECK(checkpoint.tensors().size() == 4);  // "__metadata__" is not a tensor
  CHECK(checkpoint.bytes_mapped() == fs::file_size(file));
  CHECK(checkpoint.find("__metadata__") == nullptr);
  CHECK(checkpoint.find("absent") == nullptr);

  const auto& embed = checkpoint.get("model.embed_tokens.weight", {2, 3});
  CHECK(embed.dtype == DType::kBF16);
  CHECK(embed.numel() == 6);
  CHECK(bytes_of(embed) == specs[0].bytes);

  const auto& norm = checkpoint.get("model.norm.weight", {4});
  CHECK(norm.dtype == DType::kF16);
  CHECK(norm.shape == std::vector<std::int64_t>{4});
  CHECK(bytes_of(norm) == specs[1].bytes);

  const auto& head = checkpoint.get("lm_head.weight", {2, 2});
  CHECK(head.dtype == DType::kF32);
  CHECK(head.numel() == 4);
  CHECK(bytes_of(head) == specs[2].bytes);

  const auto& empty = checkpoint.get("empty", {0, 5});
  CHECK(empty.numel() == 0);
  CHECK(empty.nbytes == 0);
}

TEST_CASE("a header written by hand, with padding and out-of-order offsets, reads back") {
  // The order of entries need not follow the data; trailing spaces pad the header as safetensors allows.
  const std::string header =
      R"({"b": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]},)"
      R"( "a": {"shape": [1, 2], "data_offsets": [4, 8], "dtype": "BF16"}}   )";
  const std::string data("\x00\x00\x80\x3f\x80\x3f\x00\x40", 8);  // F32 1.0, then BF16 1.0 and 2.0
  TempDir dir;
  write_file(dir.path() / "model.safetensors", safetensors_file(header, data));
  const Checkpoint checkpoint = Checkpoint::open(dir.path());
  const auto& scalar = checkpoint.get("b", {});
  CHECK(scalar.numel() == 1);
  float value = 0;
  std::memcpy(&value, scalar.data, 4);
  CHECK(value == 1.0f);
  CHECK(bytes_of(checkpoint.get("a", {1, 2})) == std::string("\x80\x3f\x00\x40", 4));
}

TEST_CASE("a sharded checkpoint opens each shard once and finds every tensor") {
  TempDir dir;
  const std::vector<TensorSpec> first = {{"layers.0.w", "BF16", {3, 2}, pattern(12, 3)},
                                         {"layers.0.b", "BF16", {3}, pattern(6, 90)}};
  const std::vector<TensorSpec> second = {{"layers.1.w", "F32", {2}, pattern(8, 200)}};
  write_file(dir.path() / "model-00001-of-00002.safetensors", safetensors_file(first));
  write_file(dir.path() / "model-00002-of-00002.safetensors", safetensors_file(second));
  write_file(dir.path() / "model.safetensors.index.json",
             index_json({{"layers.0.w", "model-00001-of-00002.safetensors"},
                         {"layers.1.w", "model-00002-of-00002.safetensors"},
                         {"layers.0.b", "model-00001-of-00002.safetensors"}}));

  const Checkpoint checkpoint = Checkpoint::open(dir.path());
  CHECK(checkpoint.tensors().size() == 3);
  CHECK(checkpoint.bytes_mapped() == fs::file_size(dir.path() / "model-00001-of-00002.safetensors") +
                                         fs::file_size(dir.path() / "model-00002-of-00002.safetensors"));
  CHECK(bytes_of(checkpoint.get("layers.0.w", {3, 2})) == first[0].bytes);
  CHECK(bytes_of(checkpoint.get("layers.0.b", {3})) == first[1].bytes);
  const auto& last = checkpoint.get("layers.1.w", {2});
  CHECK(last.dtype == DType::kF32);
  CHECK(bytes_of(last) == second[0].bytes);
}

TEST_CASE("model.safetensors wins over an index in the same directory") {
  TempDir dir;
  write_file(dir.path() / "model.safetensors", safetensors_file({{"single", "F32", {1}, pattern(4, 0)}}));
  write_file(dir.path() / "model.safetensors.index.json", "not even JSON");
  const Checkpoint checkpoint = Checkpoint::open(dir.path());
  CHECK(checkpoint.find("single") != nullptr);
}

TEST_CASE("a missing checkpoint directory is kNotFound naming it") {
  TempDir dir;
  const fs::path missing = dir.path() / "no-such-model";
  expect_open_error(missing, ErrorCode::kNotFound, {missing.string(), "does not exist"});
  write_file(dir.path() / "plain-file", "x");
  expect_open_error(dir.path() / "plain-file", ErrorCode::kNotFound, {"not a directory"});
}

TEST_CASE("a directory holding no checkpoint is kNotFound naming both expected files") {
  TempDir dir;
  write_file(dir.path() / "config.json", "{}");
  expect_open_error(dir.path(), ErrorCode::kNotFound,
                    {"neither model.safetensors nor model.safetensors.index.json", dir.path().string()});
}

TEST_CASE("a safetensors header that is not valid JSON is kMalformedJson") {
  expect_single_file_error(safetensors_file(R"({"w": {"dtype": "F32", "shape": [1], )", "abcd"),
                           ErrorCode::kMalformedJson, {"model.safetensors", "not valid JSON"});
}

TEST_CASE("a header of the wrong JSON shape is kMalformedJson naming what is wrong") {
  SUBCASE("not an object") {
    expect_single_file_error(safetensors_file("[1, 2]", ""), ErrorCode::kMalformedJson, {"not a JSON object"});
  }
  SUBCASE("entry not an object") {
    expect_single_file_error(safetensors_file(R"({"w": 5})", ""), ErrorCode::kMalformedJson,
                             {"tensor 'w'", "not a JSON object"});
  }
  SUBCASE("missing dtype") {
    expect_single_file_error(safetensors_file(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", "abcd"),
                             ErrorCode::kMalformedJson, {"tensor 'w'", "\"dtype\""});
  }
  SUBCASE("shape not an array") {
    expect_single_file_error(
        safetensors_file(R"({"w": {"dtype": "F32", "shape": 1, "data_offsets": [0, 4]}})", "abcd"),
        ErrorCode::kMalformedJson, {"tensor 'w'", "\"shape\""});
  }
  SUBCASE("fractional dimension") {
    expect_single_file_error(
        safetensors_file(R"({"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})", "abcd"),
        ErrorCode::kMalformedJson, {"dimension 0 of tensor 'w'", "not an integer"});
  }
  SUBCASE("three data offsets") {
    expect_single_file_error(
        safetensors_file(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}})", "abcd"),
        ErrorCode::kMalformedJson, {"tensor 'w'", "\"data_offsets\""});
  }
}

TEST_CASE("an index that is not valid JSON is kMalformedJson naming the index") {
  TempDir dir;
  write_file(dir.path() / "model.safetensors.index.json", R"({"weight_map": {"w": "shard.safetensors")");
  expect_open_error(dir.path(), ErrorCode::kMalformedJson, {"model.safetensors.index.json", "not valid JSON"});
}

TEST_CASE("an index without a weight_map object is kMalformedJson") {
  TempDir dir;
  write_file(dir.path() / "model.safetensors.index.json", R"({"weight_map": ["shard.safetensors"]})");
  expect_open_error(dir.path(), ErrorCode::kMalformedJson, {"\"weight_map\""});
}

TEST_CASE("a dtype other than BF16, F16, F32 is kUnsupportedDtype naming tensor and dtype") {
  expect_single_file_error(safetensors_file({{"token_ids", "I64", {2}, pattern(16, 0)}}),
                           ErrorCode::kUnsupportedDtype, {"tensor 'token_ids'", "I64", "model.safetensors"});
}

TEST_CASE("a header length larger than the file is kCorruptFile") {
  const std::string header = R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})";
  expect_single_file_error(safetensors_file(header, "abcd", 1'000'000), ErrorCode::kCorruptFile,
                           {"header length 1000000 larger than the file", "re-download"});
  // A length whose addition to 8 would wrap around must not slip past the check.
  expect_single_file_error(safetensors_file(header, "abcd", ~std::uint64_t{0}), ErrorCode::kCorruptFile,
                           {"larger than the file"});
}

TEST_CASE("data offsets outside the file are kCorruptFile") {
  expect_single_file_error(
      safetensors_file(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [1000, 1008]}})", pattern(8, 0)),
      ErrorCode::kCorruptFile, {"tensor 'w'", "offsets point outside the file", "re-download"});
}

TEST_CASE("a file whose data is cut short is kCorruptFile saying it is truncated") {
  const std::string whole = safetensors_file({{"a", "F32", {4}, pattern(16, 0)}, {"b", "BF16", {8}, pattern(16, 9)}});
  expect_single_file_error(whole.substr(0, whole.size() - 3), ErrorCode::kCorruptFile,
                           {"tensor 'b'", "truncated", "holds only 29 bytes"});
}

TEST_CASE("overlapping tensors are kCorruptFile naming both") {
  expect_single_file_error(safetensors_file(R"({"first": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                                            R"( "second": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                                            pattern(12, 0)),
                           ErrorCode::kCorruptFile, {"'first'", "'second'", "overlap"});
  // One tensor lying wholly inside another.
  expect_single_file_error(safetensors_file(R"({"big": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},)"
                                            R"( "inner": {"dtype": "F16", "shape": [1], "data_offsets": [8, 10]}})",
                                            pattern(16, 0)),
                           ErrorCode::kCorruptFile, {"'big'", "'inner'", "overlap"});
}

TEST_CASE("data offsets disagreeing with dtype and shape are kCorruptFile") {
  expect_single_file_error(
      safetensors_file(R"({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 8]}})", pattern(16, 0)),
      ErrorCode::kCorruptFile, {"tensor 'w'", "need 16 bytes", "span 8 bytes"});
}

TEST_CASE("impossible sizes in a header are kCorruptFile") {
  SUBCASE("negative dimension") {
    expect_single_file_error(
        safetensors_file(R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", pattern(8, 0)),
        ErrorCode::kCorruptFile, {"dimension 0 of tensor 'w'", "negative"});
  }
  SUBCASE("element count overflowing") {
    expect_single_file_error(
        safetensors_file(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})", ""),
        ErrorCode::kCorruptFile, {"tensor 'w'", "too large"});
  }
  SUBCASE("dimension beyond int64") {
    expect_single_file_error(
        safetensors_file(R"({"w": {"dtype": "F32", "shape": [0, 18446744073709551615], "data_offsets": [0, 0]}})", ""),
        ErrorCode::kCorruptFile, {"dimension 1 of tensor 'w'", "impossibly large"});
  }
  SUBCASE("end before begin") {
    expect_single_file_error(
        safetensors_file(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})", pattern(8, 0)),
        ErrorCode::kCorruptFile, {"tensor 'w'", "end before they begin"});
  }
  SUBCASE("negative offset") {
    expect_single_file_error(
        safetensors_file(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", pattern(8, 0)),
        ErrorCode::kCorruptFile, {"data_offsets[0] of tensor 'w'", "negative"});
  }
  SUBCASE("tensor listed twice") {
    expect_single_file_error(safetensors_file(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                                              R"( "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                                              pattern(8, 0)),
                             ErrorCode::kCorruptFile, {"tensor 'w'", "twice"});
  }
}

TEST_CASE("a file shorter than 8 bytes is kCorruptFile saying it is truncated") {
  expect_single_file_error(std::string("\x05\x00\x00", 3), ErrorCode::kCorruptFile, {"model.safetensors", "truncated", "3 bytes"});
  expect_single_file_error("", ErrorCode::kCorruptFile, {"truncated", "0 bytes"});
}

TEST_CASE("shard names that leave the checkpoint directory are refused before anything is opened") {
  TempDir root;
  const fs::path dir = root.path() / "model";
  fs::create_directories(dir / "sub");
  // Real, valid files at every escaping target: a refusal cannot come from a failed open.
  const std::string valid = safetensors_file({{"w", "F32", {1}, pattern(4, 0)}});
  write_file(root.path() / "outside.safetensors", valid);
  write_file(dir / "sub" / "inner.safetensors", valid);
  for (const std::string& shard : {std::string("../outside.safetensors"), (root.path() / "outside.safetensors").string(),
                                   std::string("sub/inner.safetensors"), std::string("sub\\\\inner.safetensors"),
                                   std::string(".."), std::string("")}) {
    CAPTURE(shard);
    write_file(dir / "model.safetensors.index.json", index_json({{"w", shard}}));
    expect_open_error(dir, ErrorCode::kCorruptFile, {"tensor 'w'", "not a plain file name", "refusing"});
  }
}

TEST_CASE("a shard listed in the index but absent is kNotFound naming it") {
  TempDir dir;
  write_file(dir.path() / "model.safetensors.index.json", index_json({{"w", "model-00001-of-00001.safetensors"}}));
  expect_open_error(dir.path(), ErrorCode::kNotFound, {"model-00001-of-00001.safetensors", "re-download"});
}

TEST_CASE("a tensor missing from the shard the index names is kMissingTensor naming tensor and shard") {
  TempDir dir;
  write_file(dir.path() / "one.safetensors", safetensors_file({{"a", "F32", {1}, pattern(4, 0)}}));
  write_file(dir.path() / "two.safetensors", safetensors_file({{"b", "F32", {1}, pattern(4, 4)}}));
  SUBCASE("absent everywhere") {
    write_file(dir.path() / "model.safetensors.index.json",
               index_json({{"a", "one.safetensors"}, {"b", "two.safetensors"}, {"c", "two.safetensors"}}));
    expect_open_error(dir.path(), ErrorCode::kMissingTensor, {"tensor 'c'", "two.safetensors"});
  }
  SUBCASE("present in another shard") {
    write_file(dir.path() / "model.safetensors.index.json",
               index_json({{"a", "one.safetensors"}, {"b", "one.safetensors"}, {"x", "two.safetensors"}}));
    expect_open_error(dir.path(), ErrorCode::kMissingTensor, {"tensor 'b'", "one.safetensors"});
  }
}

TEST_CASE("a tensor present in two shards is kCorruptFile naming tensor and both shards") {
  TempDir dir;
  write_file(dir.path() / "one.safetensors", safetensors_file({{"shared", "F32", {1}, pattern(4, 0)}}));
  write_file(dir.path() / "two.safetensors",
             safetensors_file({{"b", "F32", {1}, pattern(4, 4)}, {"shared", "F32", {1}, pattern(4, 8)}}));
  write_file(dir.path() / "model.safetensors.index.json",
             index_json({{"shared", "one.safetensors"}, {"b", "two.safetensors"}}));
  expect_open_error(dir.path(), ErrorCode::kCorruptFile, {"tensor 'shared'", "one.safetensors", "two.safetensors"});
}

TEST_CASE("get() reports a missing tensor and a wrong shape") {
  TempDir dir;
  write_file(dir.path() / "model.safetensors", safetensors_file({{"w", "BF16", {2, 3}, pattern(12, 0)}}));
  const Checkpoint checkpoint = Checkpoint::open(dir.path());
  expect_error([&] { checkpoint.get("model.layers.0.mlp.up_proj.weight", {2, 3}); }, ErrorCode::kMissingTensor,
               {"tensor 'model.layers.0.mlp.up_proj.weight' is missing from checkpoint", dir.path().string()});
  expect_error([&] { checkpoint.get("w", {3, 2}); }, ErrorCode::kShapeMismatch,
               {"tensor 'w' has shape [2, 3], expected [3, 2]"});
  expect_error([&] { checkpoint.get("w", {2, 3, 1}); }, ErrorCode::kShapeMismatch, {"expected [2, 3, 1]"});
}
