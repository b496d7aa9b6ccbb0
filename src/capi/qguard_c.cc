// The C API over qguard::Classifier: arguments checked, exceptions turned into a status and this
// thread's message.
#include "qguard/qguard.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "qguard/classifier.hpp"

struct qguard_classifier {
  qguard::Classifier classifier;
};

namespace qguard {
namespace {

thread_local std::string last_error;

qguard_status status_of(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound: return QGUARD_NOT_FOUND;
    case ErrorCode::kMalformedJson: return QGUARD_MALFORMED_JSON;
    case ErrorCode::kUnsupportedModel: return QGUARD_UNSUPPORTED_MODEL;
    case ErrorCode::kMissingTensor: return QGUARD_MISSING_TENSOR;
    case ErrorCode::kShapeMismatch: return QGUARD_SHAPE_MISMATCH;
    case ErrorCode::kUnsupportedDtype: return QGUARD_UNSUPPORTED_DTYPE;
    case ErrorCode::kCorruptFile: return QGUARD_CORRUPT_FILE;
    case ErrorCode::kInvalidUtf8: return QGUARD_INVALID_UTF8;
    case ErrorCode::kInputTooLong: return QGUARD_INPUT_TOO_LONG;
    case ErrorCode::kInvalidArgument: return QGUARD_INVALID_ARGUMENT;
    case ErrorCode::kMalformedOutput: return QGUARD_MALFORMED_OUTPUT;
    case ErrorCode::kAccessDenied: return QGUARD_ACCESS_DENIED;
    case ErrorCode::kNetworkError: return QGUARD_NETWORK_ERROR;
    case ErrorCode::kIoError: return QGUARD_IO_ERROR;
  }
  return QGUARD_INTERNAL_ERROR;
}

// Runs `body`, which may throw anything, as one C API call.
template <class Body>
qguard_status guarded(Body&& body) noexcept {
  try {
    last_error.clear();
    body();
    return QGUARD_OK;
  } catch (const Error& e) {
    last_error = e.what();
    return status_of(e.code());
  } catch (const std::bad_alloc&) {
    last_error = "out of memory";
  } catch (const std::exception& e) {
    last_error = e.what();
  } catch (...) {
    last_error = "unknown error";
  }
  return QGUARD_INTERNAL_ERROR;
}

void require(bool condition, const char* message) {
  if (!condition) throw Error(ErrorCode::kInvalidArgument, message);
}

// A C enum may arrive holding any int; reading it as the C++ enum type would be undefined behaviour
// for values outside the enumerators' range, so it is read as the int it is.
template <class CEnum>
int int_of(const CEnum& value) {
  static_assert(sizeof(CEnum) == sizeof(int));
  int result;
  std::memcpy(&result, &value, sizeof result);
  return result;
}

bool in_range(int value, int low, int high) { return value >= low && value <= high; }

std::string_view view(const char* data, std::size_t length, const char* name) {
  if (data == nullptr && length > 0) throw Error(ErrorCode::kInvalidArgument, fmt::format("{} is NULL", name));
  return data == nullptr ? std::string_view() : std::string_view(data, length);
}

Classifier::Options classifier_options(const qguard_options* given) {
  qguard_options c;
  qguard_options_init(&c);
  if (given != nullptr) {
    require(given->struct_size != 0, "qguard_options.struct_size is 0: fill the options with qguard_options_init");
    require(given->struct_size <= sizeof c,
            "qguard_options.struct_size is larger than this library's: the program was built against a newer qguard");
    std::memcpy(&c, given, given->struct_size);
  }
  const int mode = int_of(c.mode), weights = int_of(c.weights);
  require(in_range(mode, QGUARD_MODE_FAST, QGUARD_MODE_REFERENCE), "qguard_options.mode is out of range");
  require(in_range(weights, QGUARD_WEIGHTS_AUTO, QGUARD_WEIGHTS_INT8), "qguard_options.weights is out of range");
  require(c.match_special_tokens == 0 || c.match_special_tokens == 1,
          "qguard_options.match_special_tokens must be 0 or 1");
  Classifier::Options options;
  options.threads = c.threads;
  options.mode = mode == QGUARD_MODE_FAST ? DecodingMode::kFast : DecodingMode::kReference;
  constexpr WeightFormat kWeightFormats[] = {WeightFormat::kAuto, WeightFormat::kF32, WeightFormat::kBF16,
                                             WeightFormat::kInt8};
  options.weights = kWeightFormats[weights];
  options.pack_cache_dir = c.pack_cache_dir == nullptr ? "" : c.pack_cache_dir;
  options.max_input_tokens = c.max_input_tokens;
  options.max_new_tokens = c.max_new_tokens;
  options.content_special_tokens = c.match_special_tokens ? SpecialTokens::kMatch : SpecialTokens::kPlain;
  return options;
}

Conversation conversation(const qguard_message* messages, std::size_t count) {
  require(messages != nullptr || count == 0, "messages is NULL");
  Conversation result;
  for (std::size_t i = 0; i < count; ++i) {
    const qguard_message& m = messages[i];
    const int role = int_of(m.role);
    require(in_range(role, QGUARD_ROLE_SYSTEM, QGUARD_ROLE_ASSISTANT), "a message's role is out of range");
    constexpr Role kRoles[] = {Role::kSystem, Role::kUser, Role::kAssistant};
    result.push_back({kRoles[role], std::string(view(m.content, m.content_length, "a message's content"))});
  }
  return result;
}

qguard_verdict to_c(const Verdict& verdict) {
  qguard_verdict out{};
  out.severity = static_cast<qguard_severity>(verdict.severity);
  for (Category category : verdict.categories.to_vector()) out.categories |= 1u << static_cast<unsigned>(category);
  out.refusal = verdict.refusal ? static_cast<int>(*verdict.refusal) : -1;
  std::copy(verdict.probabilities.begin(), verdict.probabilities.end(), out.probabilities);
  std::copy(verdict.category_probabilities.begin(), verdict.category_probabilities.end(),
            out.category_probabilities);
  return out;
}

// Checks the classifier and output pointers, then writes `judge(classifier)`'s verdict.
template <class Judge>
qguard_status moderate(const qguard_classifier* classifier, qguard_verdict* out, Judge&& judge) noexcept {
  return guarded([&] {
    require(classifier != nullptr, "the classifier is NULL");
    require(out != nullptr, "the verdict pointer is NULL");
    *out = to_c(judge(classifier->classifier));
  });
}

}  // namespace
}  // namespace qguard

using namespace qguard;

extern "C" {

void qguard_options_init(qguard_options* options) {
  if (options == nullptr) return;
  const Classifier::Options defaults;
  *options = qguard_options{};
  options->struct_size = sizeof *options;
  options->threads = defaults.threads;
  options->max_input_tokens = defaults.max_input_tokens;
  options->max_new_tokens = defaults.max_new_tokens;
}

qguard_status qguard_classifier_load(const char* model_dir, const qguard_options* options, qguard_classifier** out) {
  if (out != nullptr) *out = nullptr;
  return guarded([&] {
    require(out != nullptr, "the output pointer is NULL");
    require(model_dir != nullptr, "model_dir is NULL");
    *out = new qguard_classifier{Classifier::load(model_dir, classifier_options(options))};
  });
}

void qguard_classifier_free(qguard_classifier* classifier) { delete classifier; }

qguard_status qguard_moderate_prompt(const qguard_classifier* classifier, const char* text, size_t length,
                                     qguard_verdict* out) {
  return moderate(classifier, out, [&](const Classifier& c) { return c.moderate_prompt(view(text, length, "text")); });
}

qguard_status qguard_moderate_response(const qguard_classifier* classifier, const char* prompt, size_t prompt_length,
                                       const char* response, size_t response_length, qguard_verdict* out) {
  return moderate(classifier, out, [&](const Classifier& c) {
    return c.moderate_response(view(prompt, prompt_length, "prompt"), view(response, response_length, "response"));
  });
}

qguard_status qguard_moderate_conversation(const qguard_classifier* classifier, const qguard_message* messages,
                                           size_t count, qguard_verdict* out) {
  return moderate(classifier, out, [&](const Classifier& c) { return c.moderate(conversation(messages, count)); });
}

qguard_status qguard_moderate_label(const qguard_classifier* classifier, const qguard_message* messages, size_t count,
                                    qguard_verdict* out) {
  return moderate(classifier, out,
                  [&](const Classifier& c) { return c.moderate_label(conversation(messages, count)); });
}

const char* qguard_last_error(void) { return last_error.c_str(); }

const char* qguard_version(void) { return QGUARD_VERSION_STRING; }

const char* qguard_status_name(qguard_status status) {
  const int value = int_of(status);
  if (value == QGUARD_OK) return "ok";
  if (value == QGUARD_INTERNAL_ERROR) return "internal_error";
  for (int code = 0; code <= static_cast<int>(ErrorCode::kIoError); ++code) {
    if (status_of(static_cast<ErrorCode>(code)) == value) return to_string(static_cast<ErrorCode>(code));
  }
  return nullptr;
}

const char* qguard_severity_name(qguard_severity severity) {
  const int value = int_of(severity);
  return in_range(value, QGUARD_SAFE, QGUARD_UNSAFE) ? to_string(static_cast<Severity>(value)) : nullptr;
}

const char* qguard_category_name(qguard_category category) {
  const int value = int_of(category);
  return in_range(value, 0, kCategoryCount - 1) ? to_string(static_cast<Category>(value)) : nullptr;
}

}  // extern "C"
