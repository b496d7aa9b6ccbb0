// A model.safetensors file of arbitrary bytes: Checkpoint::open either returns validated tensor
// views inside the file or throws qguard::Error. Any other outcome (a crash, a sanitizer report, an
// escaping std:: exception, a view outside the mapping) is a finding.
#include <cstdlib>

#include "fuzz_files.hpp"
#include "io/checkpoint.hpp"
#include "qguard/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace qguard;
  const auto& dir = fuzz::scratch_dir();
  fuzz::write_file(dir / "model.safetensors", fuzz::as_text(data, size));
  try {
    const io::Checkpoint checkpoint = io::Checkpoint::open(dir);
    const io::MappedFile& file = checkpoint.files().front();
    for (const auto& [name, tensor] : checkpoint.tensors()) {
      if (tensor.data < file.data() || tensor.data + tensor.nbytes > file.data() + file.size()) std::abort();
      volatile std::byte sink{};
      if (tensor.nbytes > 0) sink = tensor.data[tensor.nbytes - 1];  // ASan checks the last byte is readable
      (void)sink;
    }
  } catch (const Error&) {
  }
  return 0;
}
