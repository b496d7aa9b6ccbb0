// The model's answer, arbitrary bytes, read as a prompt and as a response moderation: a Verdict or
// Error(kMalformedOutput), never a crash or another exception.
#include <cstdlib>

#include "fuzz_files.hpp"
#include "guard/output_parser.hpp"
#include "qguard/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace qguard;
  for (ModerationKind kind : {ModerationKind::kPrompt, ModerationKind::kResponse}) {
    try {
      guard::parse_output(fuzz::as_text(data, size), kind);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kMalformedOutput) std::abort();
    }
  }
  return 0;
}
