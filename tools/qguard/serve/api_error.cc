#include "api_error.hpp"

#include <fmt/format.h>

#include "qguard/json.hpp"

namespace qguard::serve {
namespace {

std::string string_or_null(const std::string& text) { return text.empty() ? "null" : to_json_string(text); }

}  // namespace

ApiError api_error_from(const Error& error, std::string param) {
  switch (error.code()) {
    case ErrorCode::kInputTooLong:
      return ApiError(400, "invalid_request_error", "context_length_exceeded", error.what(), std::move(param));
    case ErrorCode::kMalformedJson:
    case ErrorCode::kInvalidUtf8:
    case ErrorCode::kInvalidArgument:
      return ApiError(400, "invalid_request_error", to_string(error.code()), error.what(), std::move(param));
    default:

      return ApiError(500, "server_error", to_string(error.code()), error.what());
  }
}

std::string error_body(const ApiError& error) {
  return fmt::format("{{\"error\": {{\"message\": {}, \"type\": {}, \"param\": {}, \"code\": {}}}}}",
                     to_json_string(error.what()), to_json_string(error.type), string_or_null(error.param),
                     string_or_null(error.code));
}

}  // namespace qguard::serve
