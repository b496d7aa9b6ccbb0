// An HTTP error in OpenAI's shape: {"error": {"message", "type", "param", "code"}} with a status.
#pragma once

#include <stdexcept>
#include <string>

#include "qguard/error.hpp"

namespace qguard::serve {

class ApiError : public std::runtime_error {
 public:
  // An empty `code` or `param` is written as null.
  ApiError(int status, std::string type, std::string code, const std::string& message, std::string param = {})
      : std::runtime_error(message), status(status), type(std::move(type)), code(std::move(code)),
        param(std::move(param)) {}

  // 400 invalid_request_error for a bad request.
  static ApiError invalid(const std::string& message, std::string param = {}) {
    return ApiError(400, "invalid_request_error", "invalid_value", message, std::move(param));
  }

  int status;
  std::string type;
  std::string code;
  std::string param;
};

// What an error about the request's content means for the client: 400 for what the request got wrong
// (input too long is OpenAI's context_length_exceeded), 500 for anything else.
ApiError api_error_from(const Error& error, std::string param);

// The JSON body.
std::string error_body(const ApiError& error);

}  // namespace qguard::serve
