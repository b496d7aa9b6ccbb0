// A checkpoint's tensors, memory-mapped: a Hugging Face safetensors checkpoint (one
// `model.safetensors`, or shards listed by `model.safetensors.index.json`), or the tensors of a GGUF
// file renamed by the model (model/model_files.hpp). Every size and offset read from a file is
// validated before use.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/dtype.hpp"
#include "io/gguf_blocks.hpp"
#include "io/mapped_file.hpp"

namespace qguard::io {

struct TensorView {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  const std::byte* data;  // into a mapping owned by the Checkpoint; not necessarily aligned
  std::size_t nbytes;
  // Set for a GGUF tensor in a block-quantized type: `data` holds its blocks, rows whole blocks, and
  // `dtype` is kF32, the type its values decode to (read_values).
  std::optional<GgmlType> quantization;

  std::int64_t numel() const;
  // How its bytes encode its values, as a GGUF type (safetensors' F32, F16 and BF16 included).
  GgmlType encoding() const;
  // "BF16", "Q4_K", ...
  std::string_view type_name() const;
};

// Values [first, first + count) of `tensor` (row-major) as f32; for a quantized tensor, `first` and
// `count` are multiples of its block size (whole rows are).
void read_values(const TensorView& tensor, std::size_t first, std::size_t count, float* out);

class Checkpoint {
 public:
  // Opens `dir`/model.safetensors, or else `dir`/model.safetensors.index.json and its shards.
  // Throws Error with kNotFound, kMalformedJson, kUnsupportedDtype or kCorruptFile.
  static Checkpoint open(const std::filesystem::path& dir);
  // Tensors already read from `file` (a GGUF file); `origin` is named in errors.
  static Checkpoint adopt(const std::filesystem::path& origin, MappedFile file,
                          std::map<std::string, TensorView, std::less<>> tensors);

  // nullptr when absent.
  const TensorView* find(std::string_view name) const;
  // Throws Error(kMissingTensor) when absent, or Error(kShapeMismatch) when the shape differs.
  const TensorView& get(std::string_view name, const std::vector<std::int64_t>& shape) const;

  const std::map<std::string, TensorView, std::less<>>& tensors() const { return tensors_; }
  const std::vector<MappedFile>& files() const { return files_; }
  std::size_t bytes_mapped() const;

  // Drops the whole memory pages inside `tensor`'s bytes from this process's resident set (the
  // data stays readable; a later access reads it again from the page cache). For tensors that were
  // copied into another layout and will not be read from the mapping again.
  void release(const TensorView& tensor) const;

 private:
  std::filesystem::path dir_;  // named in errors
  std::vector<MappedFile> files_;
  std::map<std::string, TensorView, std::less<>> tensors_;
};

}  // namespace qguard::io
