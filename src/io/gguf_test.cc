// The GGUF reader against hand-built files: a valid one, and every way the format can be broken.
#include "io/gguf.hpp"

#include <atomic>
#include <cstring>
#include <fstream>
#include <random>
#include <string>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <unistd.h>

#include "qguard/error.hpp"

namespace fs = std::filesystem;
using qguard::Error;
using qguard::ErrorCode;
using qguard::io::find_gguf;
using qguard::io::GgmlType;
using qguard::io::GgufFile;

namespace {

// The fields of a small GGUF file that the tests break one at a time.
struct Layout {
  std::uint32_t version = 3;
  std::optional<std::uint64_t> tensor_count, metadata_count;  // default: the real counts
  std::optional<std::uint64_t> name_length;                   // of the first metadata key
  std::uint64_t array_length = 3;
  std::uint32_t alignment = 32;
  std::uint32_t second_type = 8;  // Q8_0
  std::uint64_t second_rows_length = 32;
  std::uint32_t second_dims = 1;
  std::uint64_t second_offset = 256;
  bool duplicate_key = false;
};

class Bytes {
 public:
  void u32(std::uint32_t v) { put(&v, 4); }
  void u64(std::uint64_t v) { put(&v, 8); }
  void string(std::string_view s, std::optional<std::uint64_t> length = {}) {
    u64(length.value_or(s.size()));
    text_.append(s);
  }
  void pad_to(std::size_t alignment) { text_.resize((text_.size() + alignment - 1) / alignment * alignment, '\0'); }
  std::string& text() { return text_; }

 private:
  void put(const void* p, std::size_t n) { text_.append(static_cast<const char*>(p), n); }
  std::string text_;
};

// Metadata: general.architecture, general.alignment, an int32 array. Tensors: "a" F32 [2, 32] at
// offset 0, "b" (Q8_0 [32] by default) at offset 256.
std::string gguf(const Layout& l) {
  Bytes b;
  b.text() = "GGUF";
  b.u32(l.version);
  b.u64(l.tensor_count.value_or(2));
  b.u64(l.metadata_count.value_or(l.duplicate_key ? 4 : 3));
  b.string("general.architecture", l.name_length);
  b.u32(8);
  b.string("qwen3");
  b.string("general.alignment");
  b.u32(4);
  b.u32(l.alignment);
  b.string("test.numbers");
  b.u32(9);
  b.u32(5);
  b.u64(l.array_length);
  for (int i = 0; i < 3; ++i) b.u32(static_cast<std::uint32_t>(-i));
  if (l.duplicate_key) {
    b.string("general.alignment");
    b.u32(4);
    b.u32(l.alignment);
  }
  b.string("a");
  b.u32(2);
  b.u64(32);
  b.u64(2);
  b.u32(0);
  b.u64(0);
  b.string("b");
  b.u32(l.second_dims);
  for (std::uint32_t i = 0; i < l.second_dims; ++i) b.u64(i == 0 ? l.second_rows_length : 1);
  b.u32(l.second_type);
  b.u64(l.second_offset);
  b.pad_to(l.alignment == 0 || l.alignment > 4096 ? 32 : l.alignment);
  const std::size_t data = b.text().size();
  for (int i = 0; i < 64; ++i) {  // "a": 0, 1, ..., 63 as f32
    const float v = static_cast<float>(i);
    std::uint32_t bits;
    std::memcpy(&bits, &v, 4);
    b.u32(bits);
  }
  if (l.second_offset <= 4096) {  // a tensor said to lie further is absent from the file
    b.text().resize(data + l.second_offset, '\0');
    b.text().append(34, '\x01');  // one Q8_0 block: d = f16 0x0101, q = 1
  }
  return b.text();
}

class TempFile {
 public:
  explicit TempFile(const std::string& bytes) {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            fmt::format("qguard-gguf-test-{}-{}-{}.gguf", ::getpid(), counter++, std::random_device()());
    std::ofstream(path_, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  ~TempFile() { fs::remove(path_); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The error opening `bytes` raises; fails the test when it opens.
Error open_error(const std::string& bytes) {
  const TempFile file(bytes);
  try {
    GgufFile::open(file.path());
  } catch (const Error& error) {
    return error;
  }
  FAIL("the file opened");
  return Error(ErrorCode::kInvalidArgument, "");
}

void check_error(const Layout& layout, ErrorCode code, std::string_view words) {
  const Error error = open_error(gguf(layout));
  CHECK(error.code() == code);
  CHECK_MESSAGE(std::string_view(error.what()).find(words) != std::string_view::npos, error.what());
}

}  // namespace

TEST_CASE("a valid GGUF file: metadata and tensors in place") {
  const TempFile file(gguf({}));
  const GgufFile g = GgufFile::open(file.path());
  CHECK(g.version() == 3);
  CHECK(g.required_string("general.architecture") == "qwen3");
  CHECK(g.required_unsigned("general.alignment") == 32);
  CHECK(g.integer_array("test.numbers") == std::vector<std::int64_t>{0, -1, -2});
  CHECK_FALSE(g.unsigned_value("absent").has_value());
  CHECK_THROWS_AS(g.string_array("test.numbers"), Error);
  REQUIRE(g.tensors().size() == 2);
  const auto& a = g.tensors()[0];
  CHECK(a.name == "a");
  CHECK(a.type == GgmlType::kF32);
  CHECK(a.dims == std::vector<std::int64_t>{32, 2});
  CHECK(a.nbytes == 256);
  float value;
  std::memcpy(&value, a.data + 4 * 63, 4);
  CHECK(value == 63.0f);
  CHECK(g.tensors()[1].nbytes == 34);
  CHECK(g.tensors()[1].data - a.data == 256);
}

TEST_CASE("every truncation of a GGUF file is a corrupt-file error") {
  const std::string whole = gguf({});
  for (std::size_t size = 0; size < whole.size(); ++size) {
    CAPTURE(size);
    CHECK(open_error(whole.substr(0, size)).code() == ErrorCode::kCorruptFile);
  }
}

TEST_CASE("bad magic and unsupported versions are typed errors") {
  std::string bytes = gguf({});
  bytes[0] = 'X';
  CHECK(open_error(bytes).code() == ErrorCode::kCorruptFile);
  check_error({.version = 1}, ErrorCode::kUnsupportedModel, "version 1");
  check_error({.version = 4}, ErrorCode::kUnsupportedModel, "version 4");
}

TEST_CASE("counts and lengths larger than the file are refused before anything is allocated") {
  check_error({.tensor_count = std::uint64_t{1} << 60}, ErrorCode::kCorruptFile, "tensor count");
  check_error({.metadata_count = ~std::uint64_t{0}}, ErrorCode::kCorruptFile, "metadata count");
  check_error({.name_length = std::uint64_t{1} << 62}, ErrorCode::kCorruptFile, "truncated");
  check_error({.array_length = std::uint64_t{1} << 61}, ErrorCode::kCorruptFile, "test.numbers");
}

TEST_CASE("tensor data must be aligned, inside the file and not shared") {
  check_error({.second_offset = 264}, ErrorCode::kCorruptFile, "alignment");
  check_error({.second_offset = 224}, ErrorCode::kCorruptFile, "overlap");
  check_error({.second_offset = std::uint64_t{1} << 40}, ErrorCode::kCorruptFile, "truncated");
  check_error({.alignment = 24}, ErrorCode::kCorruptFile, "general.alignment");
  check_error({.alignment = 0}, ErrorCode::kCorruptFile, "general.alignment");
  check_error({.duplicate_key = true}, ErrorCode::kCorruptFile, "twice");
}

TEST_CASE("tensor shapes and types are checked") {
  check_error({.second_type = 3}, ErrorCode::kUnsupportedDtype, "Q4_1");
  check_error({.second_type = 999}, ErrorCode::kUnsupportedDtype, "unknown");
  check_error({.second_rows_length = 16}, ErrorCode::kCorruptFile, "blocks of 32");
  check_error({.second_dims = 5}, ErrorCode::kCorruptFile, "dimensions");
  check_error({.second_dims = 0}, ErrorCode::kCorruptFile, "dimensions");
  check_error({.second_rows_length = std::uint64_t{1} << 62}, ErrorCode::kCorruptFile, "");
}

TEST_CASE("find_gguf: a .gguf file, or the only one in a directory without the other format") {
  const fs::path dir = fs::temp_directory_path() / fmt::format("qguard-gguf-dir-{}", ::getpid());
  fs::create_directories(dir);
  std::ofstream(dir / "model-Q8_0.gguf") << "x";
  CHECK(find_gguf(dir / "model-Q8_0.gguf", {}) == dir / "model-Q8_0.gguf");
  CHECK(find_gguf(dir, {"config.json"}) == dir / "model-Q8_0.gguf");
  std::ofstream(dir / "model-Q4_K_M.gguf") << "x";
  CHECK_THROWS_AS(find_gguf(dir, {"config.json"}), Error);
  std::ofstream(dir / "config.json") << "{}";
  CHECK_FALSE(find_gguf(dir, {"config.json"}).has_value());
  CHECK_FALSE(find_gguf(dir / "config.json", {}).has_value());
  fs::remove_all(dir);
}
