// An HTTP request body of arbitrary bytes, parsed as a chat completion and as a moderation request:
// a request or an ApiError that is a 400 (the client's fault), never a crash, a 500 or another
// exception.
#include <cstdlib>

#include "fuzz_files.hpp"
#include "serve/api_error.hpp"
#include "serve/requests.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace qguard;
  const std::string_view body = fuzz::as_text(data, size);
  try {
    serve::parse_chat_request(body);
  } catch (const serve::ApiError& e) {
    if (e.status != 400) std::abort();
  }
  try {
    serve::parse_moderation_request(body, 16);
  } catch (const serve::ApiError& e) {
    if (e.status != 400) std::abort();
  }
  return 0;
}
