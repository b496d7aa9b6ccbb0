// The real Qwen3 tokenizer on arbitrary bytes, both added-token policies. Besides not crashing:
// invalid UTF-8 is Error(kInvalidUtf8); every id decodes; and encoding the text as two kPlain
// segments, split at a character boundary, gives exactly the ids of encoding it whole (the
// documented contract of encode(segments)).
#include <cstdlib>

#include "fuzz_files.hpp"
#include "qguard/error.hpp"
#include "qguard/tokenizer.hpp"

namespace {

bool is_continuation_byte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace qguard;
  static const Tokenizer tokenizer = Tokenizer::load(QGUARD_TOKENIZER_JSON);
  const std::string_view text = fuzz::as_text(data, size);
  std::vector<std::int32_t> plain;
  try {
    tokenizer.decode(tokenizer.encode(text, SpecialTokens::kMatch));
    plain = tokenizer.encode(text, SpecialTokens::kPlain);
    tokenizer.decode(plain);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kInvalidUtf8) std::abort();
    return 0;
  }
  std::size_t split = size == 0 ? 0 : data[0] % (size + 1);
  while (split < size && is_continuation_byte(text[split])) ++split;
  const std::vector<Segment> halves{{text.substr(0, split), SpecialTokens::kPlain},
                                    {text.substr(split), SpecialTokens::kPlain}};
  if (tokenizer.encode(halves) != plain) std::abort();
  return 0;
}
