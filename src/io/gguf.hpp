// A GGUF file (ggml's docs/gguf.md, versions 2 and 3): typed metadata and tensors, memory-mapped.
// Every count, length, offset, alignment and tensor size is checked against the file before use,
// so a truncated or crafted file is an Error, never a wild read or an unbounded allocation.
#pragma once

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/gguf_blocks.hpp"
#include "io/mapped_file.hpp"

namespace qguard::io {

// gguf_type: the types of metadata values.
enum class GgufValueType : std::uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

// One metadata value, as a view of its encoded bytes in the mapping (already bounds-checked).
struct GgufValue {
  GgufValueType type;
  GgufValueType element_type;  // arrays only
  std::uint64_t count;         // arrays only: elements
  const std::byte* data;       // scalars: the value; strings: the length; arrays: the first element
};

struct GgufTensor {
  std::string name;
  GgmlType type;
  std::vector<std::int64_t> dims;  // ne[0] first: ne[0] is the contiguous dimension (a row's length)
  const std::byte* data;           // into the mapping, aligned as the file declares
  std::size_t nbytes;
};

class GgufFile {
 public:
  // Throws Error kNotFound (cannot open), kCorruptFile (not GGUF, truncated, impossible sizes,
  // misaligned or overlapping data), kUnsupportedModel (a GGUF version other than 2 or 3) or
  // kUnsupportedDtype (a tensor type qguard does not read, named).
  static GgufFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return file_.path(); }
  std::uint32_t version() const { return version_; }
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufValue* find(std::string_view key) const;

  // Typed metadata. Each throws Error(kCorruptFile) naming the key when it is present with another
  // type, and the required forms throw Error(kUnsupportedModel) when it is absent.
  std::optional<std::uint64_t> unsigned_value(std::string_view key) const;  // any non-negative integer type
  std::optional<double> float_value(std::string_view key) const;            // F32 or F64
  std::optional<std::string_view> string_value(std::string_view key) const;
  std::uint64_t required_unsigned(std::string_view key) const;
  std::string_view required_string(std::string_view key) const;
  std::vector<std::string_view> string_array(std::string_view key) const;  // required
  std::vector<std::int64_t> integer_array(std::string_view key) const;     // required; any integer type

  // Hands over the mapping (tensor data and metadata views stay valid: the mapping does not move).
  MappedFile take_file() && { return std::move(file_); }

 private:
  explicit GgufFile(MappedFile file) : file_(std::move(file)) {}
  [[noreturn]] void wrong_type(std::string_view key, std::string_view wanted) const;
  const GgufValue& required(std::string_view key) const;

  MappedFile file_;
  std::uint32_t version_ = 0;
  std::map<std::string, GgufValue, std::less<>> metadata_;
  std::vector<GgufTensor> tensors_;
};

// Where the loaders look for a GGUF file: `path` itself when it names a .gguf file; in a directory
// holding none of `preferred` (the files of the other format), its only .gguf file. nullopt means
// "not GGUF: read the other format". Throws Error(kInvalidArgument) for a directory holding several
// .gguf files and none of `preferred`, naming them.
std::optional<std::filesystem::path> find_gguf(const std::filesystem::path& path,
                                               std::initializer_list<std::string_view> preferred);

}  // namespace qguard::io
