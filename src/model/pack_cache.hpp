// A file of packed layer matrices: written after a load has packed them, and read by the next load
// of the same checkpoint instead of packing again. Such a load costs a copy from the page cache
// instead of the packing (docs/model.md).
//
// One file per checkpoint and layout, named by a hash of its key. The key lists the format version,
// the kernels' panel constants, the path, size and modification time of each checkpoint file (and
// of a sharded checkpoint's index), and every layer matrix's name, packing and shape: a changed checkpoint, option
// or build gets a new file. The key is stored whole and compared, and every offset and size read
// from the file is checked before use. The cache directory must be as trusted as the model's.
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string>

#include "io/checkpoint.hpp"
#include "kernels/kernels.hpp"

namespace qguard::model {

// One layer matrix of the checkpoint, and where its packed form goes.
struct PackedTensor {
  std::string name;
  const io::TensorView* tensor;
  kernels::Packing packing;
  kernels::PackedMatrix* target;
};

class PackCache {
 public:
  PackCache(const std::filesystem::path& dir, const io::Checkpoint& checkpoint, std::span<const PackedTensor> tensors);

  // Reads this key's file into huge-page memory and points every target into it; null when there
  // is no usable file (absent, stale or damaged). The storage must outlive the targets.
  kernels::PanelStorage read(std::span<const PackedTensor> tensors, kernels::ThreadPool& pool) const;

  // Writes every target's packed bytes to this key's file (through a temporary file and a rename,
  // so a reader never sees half a file). Returns an explanation on failure instead of throwing:
  // a cache that cannot be written leaves the load itself intact.
  std::optional<std::string> write(std::span<const PackedTensor> tensors) const;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path dir_, path_;
  std::string key_;
};

}  // namespace qguard::model
