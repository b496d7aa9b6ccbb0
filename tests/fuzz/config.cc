// A config.json of arbitrary bytes next to a valid tiny checkpoint (corpus/safetensors): loading
// the model either succeeds or throws qguard::Error before allocating for sizes the tensors do not
// have (libFuzzer's -malloc_limit_mb catches an allocation sized by a hostile config).
#include <filesystem>

#include "fuzz_files.hpp"
#include "qguard/error.hpp"
#include "qguard/model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace qguard;
  const auto& dir = fuzz::scratch_dir();
  static const bool checkpoint_copied =
      std::filesystem::copy_file(QGUARD_FUZZ_TINY_CHECKPOINT, dir / "model.safetensors");
  (void)checkpoint_copied;
  fuzz::write_file(dir / "config.json", fuzz::as_text(data, size));
  try {
    const auto model = Model::load(dir.string(), Model::Options{.threads = 1});
    model->logits({0, 1, 2}, true);  // the loaded model must also run
  } catch (const Error&) {
  }
  return 0;
}
