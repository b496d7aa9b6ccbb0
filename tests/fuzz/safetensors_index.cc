// A model.safetensors.index.json of arbitrary bytes next to the two valid shards of
// corpus/shards: Checkpoint::open either lists their tensors or throws qguard::Error, and never
// opens a file outside the checkpoint directory.
#include <filesystem>

#include "fuzz_files.hpp"
#include "io/checkpoint.hpp"
#include "qguard/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace qguard;
  const auto& dir = fuzz::scratch_dir();
  static const bool shards_copied = [&] {
    for (const auto& shard : std::filesystem::directory_iterator(QGUARD_FUZZ_SHARDS_DIR)) {
      std::filesystem::copy_file(shard.path(), dir / shard.path().filename());
    }
    return true;
  }();
  (void)shards_copied;
  fuzz::write_file(dir / "model.safetensors.index.json", fuzz::as_text(data, size));
  try {
    io::Checkpoint::open(dir);
  } catch (const Error&) {
  }
  return 0;
}
