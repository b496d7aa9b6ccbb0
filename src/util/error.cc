#include "qguard/error.hpp"

#include "util/json.hpp"

namespace qguard {

const char* to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kMalformedJson: return "malformed_json";
    case ErrorCode::kUnsupportedModel: return "unsupported_model";
    case ErrorCode::kMissingTensor: return "missing_tensor";
    case ErrorCode::kShapeMismatch: return "shape_mismatch";
    case ErrorCode::kUnsupportedDtype: return "unsupported_dtype";
    case ErrorCode::kCorruptFile: return "corrupt_file";
    case ErrorCode::kInvalidUtf8: return "invalid_utf8";
    case ErrorCode::kInputTooLong: return "input_too_long";
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kMalformedOutput: return "malformed_output";
    case ErrorCode::kAccessDenied: return "access_denied";
    case ErrorCode::kNetworkError: return "network_error";
    case ErrorCode::kIoError: return "io_error";
  }
  return "unknown";
}

std::string to_json(const Error& error) {
  std::string out = "{\"code\": ";
  util::append_json_string(out, to_string(error.code()));
  out += ", \"message\": ";
  util::append_json_string(out, error.what());
  return out + "}";
}

}  // namespace qguard
