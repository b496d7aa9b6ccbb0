// One input line of `qguard classify`, arbitrary bytes: it becomes a conversation, which is then
// rendered into the moderation prompt, or either step throws qguard::Error.
#include <simdjson.h>

#include "fuzz_files.hpp"
#include "guard/chat_template.hpp"
#include "json_input.hpp"
#include "qguard/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace qguard;
  simdjson::dom::parser parser;
  try {
    guard::render(cli::conversation_from_line(parser, fuzz::as_text(data, size)));
  } catch (const Error&) {
  }
  return 0;
}
