#include "io/checkpoint.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <simdjson.h>

#include "qguard/error.hpp"
#include "util/json.hpp"

namespace qguard::io {
namespace {

namespace fs = std::filesystem;
namespace dom = simdjson::dom;
using TensorMap = std::map<std::string, TensorView, std::less<>>;

constexpr std::size_t kHeaderLengthBytes = 8;  // little-endian u64 at the start of a safetensors file

[[noreturn]] void throw_corrupt(const std::string& problem) {
  throw Error(ErrorCode::kCorruptFile, problem + "; re-download the checkpoint");
}

[[noreturn]] void throw_malformed(const std::string& problem) {
  throw Error(ErrorCode::kMalformedJson, problem + "; re-download the checkpoint");
}

std::string format_shape(const std::vector<std::int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

std::optional<DType> parse_dtype(std::string_view name) {
  for (DType dtype : {DType::kBF16, DType::kF16, DType::kF32}) {
    if (dtype_name(dtype) == name) return dtype;
  }
  return std::nullopt;
}

// A shape dimension or data offset: a non-negative JSON integer. `what` names it in errors.
std::uint64_t read_count(dom::element element, const std::string& what) {
  std::int64_t signed_value = 0;
  if (element.get_int64().get(signed_value) == simdjson::SUCCESS) {
    if (signed_value < 0) throw_corrupt(fmt::format("{} is negative ({})", what, signed_value));
    return static_cast<std::uint64_t>(signed_value);
  }
  std::uint64_t unsigned_value = 0;  // above INT64_MAX
  if (element.get_uint64().get(unsigned_value) == simdjson::SUCCESS) return unsigned_value;
  throw_malformed(fmt::format("{} is not an integer", what));
}

// One header entry, validated against the data region [data_region, data_region + data_size).
TensorView read_tensor_entry(std::string_view name, dom::element entry, const std::string& path,
                             const std::byte* data_region, std::uint64_t data_size) {
  const std::string tensor = fmt::format("tensor '{}' in '{}'", name, path);
  dom::object fields;
  if (entry.get_object().get(fields)) throw_malformed(fmt::format("the header entry of {} is not a JSON object", tensor));
  std::string_view dtype_text;
  if (fields["dtype"].get_string().get(dtype_text)) {
    throw_malformed(fmt::format("{} has no \"dtype\" string", tensor));
  }
  dom::array shape_json;
  if (fields["shape"].get_array().get(shape_json)) throw_malformed(fmt::format("{} has no \"shape\" array", tensor));
  dom::array offsets_json;
  if (fields["data_offsets"].get_array().get(offsets_json) || offsets_json.size() != 2) {
    throw_malformed(fmt::format("{} has no \"data_offsets\" array of two integers", tensor));
  }

  const std::optional<DType> dtype = parse_dtype(dtype_text);
  if (!dtype) {
    throw Error(ErrorCode::kUnsupportedDtype,
                fmt::format("{} has dtype {}; qguard reads only BF16, F16 and F32 checkpoints "
                            "(use the original bf16 release of the model)",
                            tensor, dtype_text));
  }

  std::vector<std::int64_t> shape;
  std::uint64_t nbytes = dtype_size(*dtype);
  bool overflowed = false;
  for (dom::element dim_json : shape_json) {
    const std::uint64_t dim = read_count(dim_json, fmt::format("dimension {} of {}", shape.size(), tensor));
    if (dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      throw_corrupt(fmt::format("dimension {} of {} is impossibly large ({})", shape.size(), tensor, dim));
    }
    overflowed = overflowed || __builtin_mul_overflow(nbytes, dim, &nbytes);
    shape.push_back(static_cast<std::int64_t>(dim));
  }
  if (overflowed) throw_corrupt(fmt::format("{} has shape {}, too large to fit in memory", tensor, format_shape(shape)));

  const std::uint64_t begin = read_count(offsets_json.at(0), fmt::format("data_offsets[0] of {}", tensor));
  const std::uint64_t end = read_count(offsets_json.at(1), fmt::format("data_offsets[1] of {}", tensor));
  if (end < begin) throw_corrupt(fmt::format("{} has data_offsets [{}, {}] that end before they begin", tensor, begin, end));
  if (end - begin != nbytes) {
    throw_corrupt(fmt::format("{} has dtype {} and shape {}, which need {} bytes, but its data_offsets [{}, {}] span {} bytes",
                              tensor, dtype_text, format_shape(shape), nbytes, begin, end, end - begin));
  }
  if (end > data_size) {
    throw_corrupt(fmt::format("{} has data_offsets [{}, {}] but the data region holds only {} bytes: the file is "
                              "truncated or its offsets point outside the file",
                              tensor, begin, end, data_size));
  }
  return TensorView{std::string(name), *dtype, std::move(shape), data_region + begin, static_cast<std::size_t>(nbytes),
                    std::nullopt};
}

// Two tensors sharing bytes means the header is corrupt (or crafted); empty tensors occupy no bytes.
// Sorted by start, any overlap shows up between neighbours: a later-starting overlapper starts
// inside its predecessor too.
void check_no_overlap(const TensorMap& tensors, const std::string& path) {
  std::vector<const TensorView*> by_start;
  for (const auto& [name, view] : tensors) {
    if (view.nbytes > 0) by_start.push_back(&view);
  }
  const std::less<const std::byte*> before;
  std::sort(by_start.begin(), by_start.end(), [&](const TensorView* a, const TensorView* b) { return before(a->data, b->data); });
  for (std::size_t i = 1; i < by_start.size(); ++i) {
    const TensorView& previous = *by_start[i - 1];
    if (before(by_start[i]->data, previous.data + previous.nbytes)) {
      throw_corrupt(fmt::format("tensors '{}' and '{}' in '{}' overlap in the file", previous.name, by_start[i]->name, path));
    }
  }
}

// All tensors of one safetensors file: u64 header length N, N bytes of JSON header, then the data region.
TensorMap read_safetensors(const MappedFile& file) {
  const std::string path = file.path().string();
  if (file.size() < kHeaderLengthBytes) {
    throw_corrupt(fmt::format("'{}' is truncated: it has {} bytes, fewer than the 8-byte safetensors header length",
                              path, file.size()));
  }
  std::uint64_t header_length = 0;
  for (std::size_t i = kHeaderLengthBytes; i-- > 0;) {
    header_length = (header_length << 8) | std::to_integer<std::uint64_t>(file.data()[i]);
  }
  const std::uint64_t after_length = file.size() - kHeaderLengthBytes;
  if (header_length > after_length) {
    throw_corrupt(fmt::format("'{}' declares a header length {} larger than the file ({} bytes): the file is "
                              "truncated or not a safetensors file",
                              path, header_length, file.size()));
  }
  const std::string_view header(reinterpret_cast<const char*>(file.data() + kHeaderLengthBytes), header_length);
  const std::byte* data_region = file.data() + kHeaderLengthBytes + header_length;
  const std::uint64_t data_size = after_length - header_length;

  dom::parser parser;
  dom::element root;
  try {
    root = util::parse_json(parser, header, fmt::format("the safetensors header of '{}'", path));
  } catch (const Error& error) {
    throw_malformed(error.what());
  }
  dom::object entries;
  if (root.get_object().get(entries)) throw_malformed(fmt::format("the safetensors header of '{}' is not a JSON object", path));

  TensorMap tensors;
  for (auto [name, entry] : entries) {
    if (name == "__metadata__") continue;
    TensorView view = read_tensor_entry(name, entry, path, data_region, data_size);
    if (!tensors.emplace(view.name, std::move(view)).second) {
      throw_corrupt(fmt::format("tensor '{}' appears twice in the header of '{}'", name, path));
    }
  }
  check_no_overlap(tensors, path);
  return tensors;
}

// Shard names come from a downloaded file, so only plain names inside the checkpoint directory are
// opened: no absolute paths, no "..", no separators (a crafted index must not read other files).
bool is_plain_file_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find_first_of(std::string_view("/\\\0", 3)) == std::string_view::npos;
}

// (tensor name, shard file name) pairs of the index's "weight_map", shard names already vetted.
std::vector<std::pair<std::string, std::string>> read_weight_map(const fs::path& index_path) {
  const std::string index = index_path.string();
  dom::parser parser;
  const dom::element root = util::parse_json_file(parser, index_path);
  dom::object weight_map;
  if (root["weight_map"].get_object().get(weight_map)) {
    throw_malformed(fmt::format("'{}' has no \"weight_map\" object", index));
  }
  std::vector<std::pair<std::string, std::string>> entries;
  for (auto [tensor, shard_json] : weight_map) {
    std::string_view shard;
    if (shard_json.get_string().get(shard)) {
      throw_malformed(fmt::format("the weight_map entry of tensor '{}' in '{}' is not a file name string", tensor, index));
    }
    if (!is_plain_file_name(shard)) {
      throw_corrupt(fmt::format("'{}' maps tensor '{}' to shard '{}', which is not a plain file name inside the "
                                "checkpoint directory; refusing to open it",
                                index, tensor, shard));
    }
    entries.emplace_back(tensor, shard);
  }
  return entries;
}

MappedFile open_shard(const fs::path& path, const fs::path& index_path) {
  try {
    return MappedFile::open(path);
  } catch (const Error& error) {
    throw Error(error.code(), fmt::format("{} (a shard listed in '{}'); the download is incomplete, re-download the checkpoint",
                                          error.what(), index_path.string()));
  }
}

// Opens each distinct shard once and checks every tensor is where the index says it is.
void read_sharded(const fs::path& dir, const fs::path& index_path, std::vector<MappedFile>& files, TensorMap& tensors) {
  const auto weight_map = read_weight_map(index_path);
  std::set<std::string, std::less<>> opened_shards;
  std::map<std::string, std::string, std::less<>> shard_of_tensor;
  for (const auto& [listed_tensor, shard] : weight_map) {
    if (!opened_shards.insert(shard).second) continue;
    const MappedFile& file = files.emplace_back(open_shard(dir / shard, index_path));
    for (auto& [name, view] : read_safetensors(file)) {
      const auto [previous, inserted] = shard_of_tensor.emplace(name, shard);
      if (!inserted) {
        throw_corrupt(fmt::format("tensor '{}' appears in both shard '{}' and shard '{}' of '{}'", name,
                                  previous->second, shard, dir.string()));
      }
      tensors.emplace(name, std::move(view));
    }
  }
  for (const auto& [tensor, shard] : weight_map) {
    const auto found = shard_of_tensor.find(tensor);
    if (found == shard_of_tensor.end() || found->second != shard) {
      throw Error(ErrorCode::kMissingTensor,
                  fmt::format("tensor '{}' is missing from shard '{}', where '{}' says it is; the download is "
                              "incomplete or the index is stale, re-download the checkpoint",
                              tensor, (dir / shard).string(), index_path.string()));
    }
  }
}

}  // namespace

std::int64_t TensorView::numel() const {
  std::int64_t count = 1;
  for (std::int64_t dim : shape) count *= dim;
  return count;
}

GgmlType TensorView::encoding() const {
  if (quantization) return *quantization;
  switch (dtype) {
    case DType::kF16: return GgmlType::kF16;
    case DType::kBF16: return GgmlType::kBF16;
    case DType::kF32: break;
  }
  return GgmlType::kF32;
}

std::string_view TensorView::type_name() const {
  return quantization ? ggml_type_traits(static_cast<std::uint32_t>(*quantization))->name : dtype_name(dtype);
}

void read_values(const TensorView& tensor, std::size_t first, std::size_t count, float* out) {
  const GgmlType encoding = tensor.encoding();
  dequantize(encoding, tensor.data + encoded_bytes(encoding, first), count, out);
}

Checkpoint Checkpoint::adopt(const fs::path& origin, MappedFile file, TensorMap tensors) {
  Checkpoint checkpoint;
  checkpoint.dir_ = origin;
  checkpoint.files_.push_back(std::move(file));
  checkpoint.tensors_ = std::move(tensors);
  return checkpoint;
}

Checkpoint Checkpoint::open(const fs::path& dir) {
  std::error_code ignored;
  if (!fs::is_directory(dir, ignored)) {
    throw Error(ErrorCode::kNotFound,
                fmt::format("checkpoint directory '{}' does not exist or is not a directory", dir.string()));
  }
  Checkpoint checkpoint;
  checkpoint.dir_ = dir;
  const fs::path single_file = dir / "model.safetensors";
  const fs::path index = dir / "model.safetensors.index.json";
  if (fs::exists(single_file, ignored)) {
    checkpoint.tensors_ = read_safetensors(checkpoint.files_.emplace_back(MappedFile::open(single_file)));
  } else if (fs::exists(index, ignored)) {
    read_sharded(dir, index, checkpoint.files_, checkpoint.tensors_);
  } else {
    throw Error(ErrorCode::kNotFound,
                fmt::format("neither model.safetensors nor model.safetensors.index.json is in '{}'; point qguard "
                            "at a downloaded Hugging Face model directory",
                            dir.string()));
  }
  return checkpoint;
}

const TensorView* Checkpoint::find(std::string_view name) const {
  const auto found = tensors_.find(name);
  return found == tensors_.end() ? nullptr : &found->second;
}

const TensorView& Checkpoint::get(std::string_view name, const std::vector<std::int64_t>& shape) const {
  const TensorView* view = find(name);
  if (view == nullptr) {
    throw Error(ErrorCode::kMissingTensor, fmt::format("tensor '{}' is missing from checkpoint {}", name, dir_.string()));
  }
  if (view->shape != shape) {
    throw Error(ErrorCode::kShapeMismatch,
                fmt::format("tensor '{}' has shape {}, expected {} (checkpoint {} does not match the model config)",
                            name, format_shape(view->shape), format_shape(shape), dir_.string()));
  }
  return *view;
}

std::size_t Checkpoint::bytes_mapped() const {
  std::size_t total = 0;
  for (const MappedFile& file : files_) total += file.size();
  return total;
}

void Checkpoint::release(const TensorView& tensor) const {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(tensor.data);
  const std::uintptr_t first = (begin + page - 1) / page * page, last = (begin + tensor.nbytes) / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace qguard::io
