// A tokenizer.json of arbitrary bytes: Tokenizer::load either succeeds, and the tokenizer then
// encodes and decodes text, or throws qguard::Error.
#include "fuzz_files.hpp"
#include "qguard/error.hpp"
#include "qguard/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace qguard;
  const auto path = fuzz::scratch_dir() / "tokenizer.json";
  fuzz::write_file(path, fuzz::as_text(data, size));
  try {
    const Tokenizer tokenizer = Tokenizer::load(path.string());
    for (SpecialTokens special : {SpecialTokens::kMatch, SpecialTokens::kPlain}) {
      const auto ids = tokenizer.encode("<|im_start|>user\nhello world <x> 123 ab\xc3\xa9<|im_end|>", special);
      tokenizer.decode(ids);
    }
  } catch (const Error&) {
  }
  return 0;
}
