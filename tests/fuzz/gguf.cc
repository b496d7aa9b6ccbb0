// A GGUF file of arbitrary bytes. Opening it checks the header, metadata and tensor infos against
// the file; then every tensor it holds is decoded from its type's blocks to f32, the file is loaded
// as a model (metadata → config, llama.cpp names → Hugging Face names, weights bound) and run, and
// its tokenizer metadata is loaded and used. Each step either succeeds or throws qguard::Error.
#include <vector>

#include "fuzz_files.hpp"
#include "io/gguf.hpp"
#include "qguard/error.hpp"
#include "qguard/model.hpp"
#include "qguard/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace qguard;
  const auto path = fuzz::scratch_dir() / "model.gguf";
  fuzz::write_file(path, fuzz::as_text(data, size));
  try {
    const io::GgufFile gguf = io::GgufFile::open(path);
    std::vector<float> values;
    for (const io::GgufTensor& tensor : gguf.tensors()) {
      const io::GgmlTypeTraits traits = *io::ggml_type_traits(static_cast<std::uint32_t>(tensor.type));
      values.resize(tensor.nbytes / traits.block_bytes * traits.block_values);
      io::dequantize(tensor.type, tensor.data, values.size(), values.data());
    }
  } catch (const Error&) {
    return 0;  // the later steps open the file again and would fail the same way
  }
  try {
    const auto model = Model::load(path.string(), Model::Options{.threads = 1});
    model->logits({0, 1, 2}, true);
  } catch (const Error&) {
  }
  try {
    const Tokenizer tokenizer = Tokenizer::load(path.string());
    for (SpecialTokens special : {SpecialTokens::kMatch, SpecialTokens::kPlain}) {
      tokenizer.decode(tokenizer.encode("<|im_start|>user\nhe said hello <x> 12\xc3\xa9<|im_end|>", special));
    }
  } catch (const Error&) {
  }
  return 0;
}
