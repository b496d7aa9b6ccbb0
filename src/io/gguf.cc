#include "io/gguf.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <system_error>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "qguard/error.hpp"

namespace qguard::io {
namespace {

namespace fs = std::filesystem;

constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr std::uint32_t kMaxDims = 4;             // GGML_MAX_DIMS
constexpr std::uint64_t kDefaultAlignment = 32;   // when general.alignment is absent
constexpr std::uint64_t kMaxAlignment = 1 << 20;  // far above any real file's; bounds the padding
// The fewest bytes one metadata entry / tensor info can take: they bound the counts a header may
// claim before anything is allocated for them.
constexpr std::uint64_t kMinEntryBytes = 8 + 4 + 1;               // key length, value type, a one-byte value
constexpr std::uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // name length, n_dims, one dim, type, offset

[[noreturn]] void throw_corrupt(const fs::path& path, const std::string& problem) {
  throw Error(ErrorCode::kCorruptFile,
              fmt::format("'{}': {}; the file is damaged or not a GGUF model, re-download it", path.string(), problem));
}

// Bytes per element of a fixed-size metadata type; 0 for strings and arrays.
std::uint64_t scalar_size(GgufValueType type) {
  switch (type) {
    case GgufValueType::kU8:
    case GgufValueType::kI8:
    case GgufValueType::kBool: return 1;
    case GgufValueType::kU16:
    case GgufValueType::kI16: return 2;
    case GgufValueType::kU32:
    case GgufValueType::kI32:
    case GgufValueType::kF32: return 4;
    case GgufValueType::kU64:
    case GgufValueType::kI64:
    case GgufValueType::kF64: return 8;
    case GgufValueType::kString:
    case GgufValueType::kArray: return 0;
  }
  return 0;
}

bool is_integer(GgufValueType type) {
  return type != GgufValueType::kF32 && type != GgufValueType::kF64 && type != GgufValueType::kBool &&
         scalar_size(type) > 0;
}

// An integer metadata element at `p` as int64 (U64 above INT64_MAX saturates; callers bound values).
std::int64_t integer_at(GgufValueType type, const std::byte* p) {
  auto load = [p]<typename T>(T) {
    T value;
    std::memcpy(&value, p, sizeof value);
    return value;
  };
  switch (type) {
    case GgufValueType::kU8: return load(std::uint8_t{});
    case GgufValueType::kI8: return load(std::int8_t{});
    case GgufValueType::kU16: return load(std::uint16_t{});
    case GgufValueType::kI16: return load(std::int16_t{});
    case GgufValueType::kU32: return load(std::uint32_t{});
    case GgufValueType::kI32: return load(std::int32_t{});
    case GgufValueType::kI64: return load(std::int64_t{});
    case GgufValueType::kU64: {
      const std::uint64_t value = load(std::uint64_t{});
      return value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
                 ? std::numeric_limits<std::int64_t>::max()
                 : static_cast<std::int64_t>(value);
    }
    default: return 0;
  }
}

std::string_view string_at(const std::byte* p) {
  std::uint64_t length;
  std::memcpy(&length, p, sizeof length);
  return {reinterpret_cast<const char*>(p + 8), static_cast<std::size_t>(length)};
}

// Little-endian reads with bounds checks; every failure names what was being read.
class Cursor {
 public:
  explicit Cursor(const MappedFile& file) : file_(file) {}

  std::uint64_t at() const { return at_; }
  const std::byte* here() const { return file_.data() + at_; }
  std::uint64_t remaining() const { return file_.size() - at_; }

  void skip(std::uint64_t bytes, const std::string& what) {
    if (bytes > remaining()) {
      throw_corrupt(file_.path(), fmt::format("it ends inside {} (needs {} bytes at offset {}, {} left): truncated",
                                              what, bytes, at_, remaining()));
    }
    at_ += bytes;
  }
  template <typename T>
  T read(const std::string& what) {
    const std::byte* p = here();
    skip(sizeof(T), what);
    T value;
    std::memcpy(&value, p, sizeof value);
    return value;
  }
  std::string_view string(const std::string& what) {
    const std::byte* p = here();
    skip(read<std::uint64_t>(what + "'s length"), what);
    return string_at(p);
  }
  // A count of items of at least `min_bytes` each: more than the rest of the file can hold is corrupt.
  std::uint64_t count(const std::string& what, std::uint64_t min_bytes) {
    const auto value = read<std::uint64_t>(what);
    if (value > remaining() / min_bytes) {
      throw_corrupt(file_.path(),
                    fmt::format("{} is {}, more than the {} bytes left can hold", what, value, remaining()));
    }
    return value;
  }

 private:
  const MappedFile& file_;
  std::uint64_t at_ = 0;
};

GgufValueType value_type(Cursor& in, const fs::path& path, const std::string& what) {
  const auto type = in.read<std::uint32_t>(what);
  if (type > static_cast<std::uint32_t>(GgufValueType::kF64)) {
    throw_corrupt(path, fmt::format("{} is {}, not a GGUF value type", what, type));
  }
  return static_cast<GgufValueType>(type);
}

GgufValue read_value(Cursor& in, const fs::path& path, const std::string& key) {
  const std::string what = fmt::format("metadata value '{}'", key);
  GgufValue value{value_type(in, path, "the type of " + what), GgufValueType::kU8, 0, nullptr};
  value.data = in.here();
  if (value.type == GgufValueType::kString) {
    in.string(what);
  } else if (value.type != GgufValueType::kArray) {
    in.skip(scalar_size(value.type), what);
  } else {
    value.element_type = value_type(in, path, "the element type of " + what);
    if (value.element_type == GgufValueType::kArray) {
      throw Error(
          ErrorCode::kUnsupportedModel,
          fmt::format("'{}': metadata '{}' is an array of arrays, which qguard does not read", path.string(), key));
    }
    const std::uint64_t element_size = scalar_size(value.element_type);
    value.count = in.count(fmt::format("the length of {}", what), element_size > 0 ? element_size : 8);
    value.data = in.here();
    if (element_size > 0) {
      in.skip(value.count * element_size, what);
    } else {
      for (std::uint64_t i = 0; i < value.count; ++i) in.string(fmt::format("string {} of {}", i, what));
    }
  }
  return value;
}

// A tensor info, and its data's offset from the start of the data section.
struct TensorInfo {
  GgufTensor tensor;
  std::uint64_t offset;
};

TensorInfo read_tensor_info(Cursor& in, const fs::path& path, std::size_t index) {
  GgufTensor tensor;
  tensor.name = in.string(fmt::format("the name of tensor {}", index));
  const std::string what = fmt::format("tensor '{}'", tensor.name);
  const auto n_dims = in.read<std::uint32_t>("the dimension count of " + what);
  if (n_dims == 0 || n_dims > kMaxDims) {
    throw_corrupt(path, fmt::format("{} has {} dimensions; GGUF tensors have 1 to {}", what, n_dims, kMaxDims));
  }
  std::uint64_t values = 1;
  bool overflowed = false;
  for (std::uint32_t i = 0; i < n_dims; ++i) {
    const auto dim = in.read<std::uint64_t>(fmt::format("dimension {} of {}", i, what));
    if (dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      throw_corrupt(path, fmt::format("dimension {} of {} is impossibly large ({})", i, what, dim));
    }
    overflowed = overflowed || __builtin_mul_overflow(values, dim, &values);
    tensor.dims.push_back(static_cast<std::int64_t>(dim));
  }
  const auto type = in.read<std::uint32_t>("the type of " + what);
  const std::optional<GgmlTypeTraits> traits = ggml_type_traits(type);
  if (!traits) {
    throw Error(ErrorCode::kUnsupportedDtype,
                fmt::format("'{}': {} has type {} ({}); qguard reads F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K and Q6_K "
                            "tensors (Q4_K_M, Q5_K_M, Q6_K and Q8_0 files), choose one of those",
                            path.string(), what, ggml_type_name(type), type));
  }
  tensor.type = static_cast<GgmlType>(type);
  if (static_cast<std::uint64_t>(tensor.dims[0]) % traits->block_values != 0) {
    throw_corrupt(path, fmt::format("{} has rows of {} values, not a whole number of {} blocks of {}", what,
                                    tensor.dims[0], traits->name, traits->block_values));
  }
  std::uint64_t nbytes = 0;
  overflowed = overflowed || __builtin_mul_overflow(values / traits->block_values, traits->block_bytes, &nbytes);
  if (overflowed)
    throw_corrupt(path, fmt::format("{} has dimensions [{}], too large to exist", what, fmt::join(tensor.dims, ", ")));
  tensor.nbytes = nbytes;
  return {std::move(tensor), in.read<std::uint64_t>("the data offset of " + what)};
}

// Places every tensor in the data section [data_start, end of file), checking alignment, bounds
// and overlaps (sorted by offset, an overlap shows between neighbours).
std::vector<GgufTensor> locate_tensors(std::vector<TensorInfo> infos, const MappedFile& file, std::uint64_t data_start,
                                       std::uint64_t alignment) {
  const std::uint64_t data_size = file.size() - data_start;
  std::vector<std::pair<std::uint64_t, const GgufTensor*>> by_offset;
  for (auto& [tensor, offset] : infos) {
    if (offset % alignment != 0) {
      throw_corrupt(file.path(), fmt::format("tensor '{}' starts at data offset {}, not a multiple of the file's "
                                             "alignment {}",
                                             tensor.name, offset, alignment));
    }
    if (offset > data_size || tensor.nbytes > data_size - offset) {
      throw_corrupt(file.path(), fmt::format("tensor '{}' spans data bytes [{}, {}) but the data section holds only "
                                             "{} bytes: truncated",
                                             tensor.name, offset, offset + tensor.nbytes, data_size));
    }
    tensor.data = file.data() + data_start + offset;
    if (tensor.nbytes > 0) by_offset.emplace_back(offset, &tensor);
  }
  std::sort(by_offset.begin(), by_offset.end());
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const auto& [previous_offset, previous] = by_offset[i - 1];
    if (by_offset[i].first < previous_offset + previous->nbytes) {
      throw_corrupt(file.path(), fmt::format("tensors '{}' and '{}' overlap in the file", previous->name,
                                             by_offset[i].second->name));
    }
  }
  std::vector<GgufTensor> tensors;
  for (TensorInfo& info : infos) tensors.push_back(std::move(info.tensor));
  return tensors;
}

}  // namespace

GgufFile GgufFile::open(const fs::path& path) {
  GgufFile gguf(MappedFile::open(path));
  const MappedFile& file = gguf.file_;
  Cursor in(file);
  if (file.size() < sizeof kMagic || std::memcmp(file.data(), kMagic, sizeof kMagic) != 0) {
    throw_corrupt(path, "it does not start with the GGUF magic bytes \"GGUF\"");
  }
  in.skip(sizeof kMagic, "the magic");
  gguf.version_ = in.read<std::uint32_t>("the version");
  if (gguf.version_ != 2 && gguf.version_ != 3) {
    throw Error(ErrorCode::kUnsupportedModel,
                fmt::format("'{}' is GGUF version {}; qguard reads versions 2 and 3 (little-endian), convert the "
                            "model again with a current llama.cpp",
                            path.string(), gguf.version_));
  }
  const std::uint64_t tensor_count = in.count("the tensor count", kMinTensorInfoBytes);
  const std::uint64_t metadata_count = in.count("the metadata count", kMinEntryBytes);

  for (std::uint64_t i = 0; i < metadata_count; ++i) {
    const std::string key(in.string(fmt::format("metadata key {}", i)));
    const GgufValue value = read_value(in, path, key);
    if (!gguf.metadata_.emplace(key, value).second)
      throw_corrupt(path, fmt::format("metadata key '{}' appears twice", key));
  }
  std::uint64_t alignment = kDefaultAlignment;
  if (gguf.find("general.alignment") != nullptr) {
    alignment = gguf.required_unsigned("general.alignment");
    if (alignment == 0 || alignment > kMaxAlignment || (alignment & (alignment - 1)) != 0) {
      throw_corrupt(path,
                    fmt::format("general.alignment is {}, not a power of two up to {}", alignment, kMaxAlignment));
    }
  }

  std::vector<TensorInfo> infos;
  std::set<std::string, std::less<>> names;
  for (std::uint64_t i = 0; i < tensor_count; ++i) {
    infos.push_back(read_tensor_info(in, path, i));
    if (!names.insert(infos.back().tensor.name).second) {
      throw_corrupt(path, fmt::format("tensor '{}' appears twice", infos.back().tensor.name));
    }
  }
  const std::uint64_t data_start = (in.at() + alignment - 1) / alignment * alignment;
  if (data_start > file.size()) throw_corrupt(path, "it ends before its data section: truncated");
  gguf.tensors_ = locate_tensors(std::move(infos), file, data_start, alignment);
  return gguf;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  const auto found = metadata_.find(key);
  return found == metadata_.end() ? nullptr : &found->second;
}

void GgufFile::wrong_type(std::string_view key, std::string_view wanted) const {
  throw_corrupt(path(), fmt::format("metadata '{}' is not {}", key, wanted));
}

const GgufValue& GgufFile::required(std::string_view key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) {
    throw Error(ErrorCode::kUnsupportedModel,
                fmt::format("'{}' lacks the metadata '{}', which qguard needs", path().string(), key));
  }
  return *value;
}

std::optional<std::uint64_t> GgufFile::unsigned_value(std::string_view key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (!is_integer(value->type)) wrong_type(key, "an integer");
  const std::int64_t number = integer_at(value->type, value->data);
  if (number < 0) wrong_type(key, "a non-negative integer");
  return static_cast<std::uint64_t>(number);
}

std::optional<double> GgufFile::float_value(std::string_view key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (value->type == GgufValueType::kF32) {
    float number;
    std::memcpy(&number, value->data, sizeof number);
    return number;
  }
  if (value->type != GgufValueType::kF64) wrong_type(key, "a float");
  double number;
  std::memcpy(&number, value->data, sizeof number);
  return number;
}

std::optional<std::string_view> GgufFile::string_value(std::string_view key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (value->type != GgufValueType::kString) wrong_type(key, "a string");
  return string_at(value->data);
}

std::uint64_t GgufFile::required_unsigned(std::string_view key) const {
  required(key);
  return *unsigned_value(key);
}

std::string_view GgufFile::required_string(std::string_view key) const {
  required(key);
  return *string_value(key);
}

std::vector<std::string_view> GgufFile::string_array(std::string_view key) const {
  const GgufValue& value = required(key);
  if (value.type != GgufValueType::kArray || value.element_type != GgufValueType::kString) {
    wrong_type(key, "an array of strings");
  }
  std::vector<std::string_view> strings;
  strings.reserve(value.count);  // bounded by the file's size when it was read
  const std::byte* p = value.data;
  for (std::uint64_t i = 0; i < value.count; ++i) {
    strings.push_back(string_at(p));
    p += 8 + strings.back().size();
  }
  return strings;
}

std::vector<std::int64_t> GgufFile::integer_array(std::string_view key) const {
  const GgufValue& value = required(key);
  if (value.type != GgufValueType::kArray || !is_integer(value.element_type)) wrong_type(key, "an array of integers");
  std::vector<std::int64_t> integers(value.count);
  const std::uint64_t size = scalar_size(value.element_type);
  for (std::uint64_t i = 0; i < value.count; ++i) integers[i] = integer_at(value.element_type, value.data + i * size);
  return integers;
}

std::optional<fs::path> find_gguf(const fs::path& path, std::initializer_list<std::string_view> preferred) {
  std::error_code error;
  if (fs::is_regular_file(path, error)) return path.extension() == ".gguf" ? std::optional(path) : std::nullopt;
  if (!fs::is_directory(path, error)) return std::nullopt;
  for (const std::string_view name : preferred) {
    if (fs::exists(path / name, error)) return std::nullopt;
  }
  std::vector<fs::path> found;
  for (const fs::directory_entry& entry : fs::directory_iterator(path, error)) {
    if (entry.path().extension() == ".gguf" && entry.is_regular_file(error)) found.push_back(entry.path());
  }
  if (found.size() > 1) {
    std::sort(found.begin(), found.end());
    std::vector<std::string> names;
    for (const fs::path& file : found) names.push_back(file.filename().string());
    throw Error(ErrorCode::kInvalidArgument, fmt::format("'{}' holds several GGUF files ({}); name the one to load",
                                                         path.string(), fmt::join(names, ", ")));
  }
  return found.empty() ? std::nullopt : std::optional(found.front());
}

}  // namespace qguard::io
