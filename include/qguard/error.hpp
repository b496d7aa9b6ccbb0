// qguard's one exception type: every failure carries a code a program can branch on and a
// message a person can act on.
#pragma once

#include <stdexcept>
#include <string>

#include "qguard/export.h"

namespace qguard {

enum class ErrorCode {
  kNotFound,           // a file or directory does not exist or cannot be opened
  kMalformedJson,      // a JSON file or input line does not parse or lacks a required field
  kUnsupportedModel,   // model_type / architecture / config value qguard does not run
  kMissingTensor,      // a tensor the config requires is absent from the checkpoint
  kShapeMismatch,      // a tensor's shape disagrees with the config
  kUnsupportedDtype,   // a tensor dtype other than BF16, F16, F32
  kCorruptFile,        // sizes or offsets inside a file are impossible (truncated, overlapping, ...)
  kInvalidUtf8,        // text is not valid UTF-8
  kInputTooLong,       // the rendered prompt exceeds the configured maximum number of tokens
  kInvalidArgument,    // a caller passed a value outside the documented range
  kMalformedOutput,    // the model's answer does not follow the Qwen3Guard output grammar
  kAccessDenied,       // the Hugging Face Hub refused a download (401/403: gated or private; see HF_TOKEN)
  kNetworkError,       // the Hub could not be reached, or a transfer failed (and the cache cannot stand in)
  kIoError,            // a file could not be written (disk full, no permission), e.g. in the model cache
};

// Stable snake_case name of a code, e.g. "missing_tensor"; used in JSON error objects.
QGUARD_API const char* to_string(ErrorCode code) noexcept;

class QGUARD_API Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

// {"code": "input_too_long", "message": "..."} on one line.
QGUARD_API std::string to_json(const Error& error);

}  // namespace qguard
