// The C API on the tiny random-weight model: the same verdicts as the Classifier, and a status and a
// message, never a crash, for every kind of bad argument.
#include "qguard/qguard.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include <doctest/doctest.h>

#include "qguard/classifier.hpp"

using namespace qguard;

namespace {

const char kModel[] = QGUARD_GUARD_MODEL;

const qguard_classifier* shared_classifier() {
  static qguard_classifier* classifier = [] {
    qguard_options options;
    qguard_options_init(&options);
    options.threads = 2;
    qguard_classifier* loaded = nullptr;
    REQUIRE_MESSAGE(qguard_classifier_load(kModel, &options, &loaded) == QGUARD_OK, qguard_last_error());
    return loaded;
  }();
  return classifier;
}

const Classifier& cpp_classifier() {
  static const Classifier classifier = Classifier::load(kModel, {.threads = 2});
  return classifier;
}

qguard_message message(qguard_role role, const char* text) { return {role, text, std::strlen(text)}; }

// Stores any int in a C enum field, as a C program may (a C++ assignment of a value outside the
// enumerators' range would itself be undefined).
template <class CEnum>
void store_int(CEnum& field, int value) {
  static_assert(sizeof field == sizeof value);
  std::memcpy(&field, &value, sizeof value);
}

void check_same(const qguard_verdict& c, const Verdict& cpp) {
  CHECK(c.severity == static_cast<int>(cpp.severity));
  std::uint32_t bits = 0;
  for (Category category : cpp.categories.to_vector()) bits |= 1u << static_cast<unsigned>(category);
  CHECK(c.categories == bits);
  CHECK(c.refusal == (cpp.refusal ? int(*cpp.refusal) : -1));
  for (int i = 0; i < 3; ++i) CHECK(c.probabilities[i] == cpp.probabilities[i]);
  for (std::size_t i = 0; i < kCategoryCount; ++i) CHECK(c.category_probabilities[i] == cpp.category_probabilities[i]);
}

}  // namespace

TEST_CASE("version and names") {
  CHECK(std::string(qguard_version()) == QGUARD_VERSION_STRING);
  CHECK(std::string(qguard_version()) == std::to_string(QGUARD_VERSION_MAJOR) + "." +
                                             std::to_string(QGUARD_VERSION_MINOR) + "." +
                                             std::to_string(QGUARD_VERSION_PATCH));
  CHECK(std::string(qguard_status_name(QGUARD_OK)) == "ok");
  CHECK(std::string(qguard_status_name(QGUARD_NOT_FOUND)) == "not_found");
  CHECK(std::string(qguard_status_name(QGUARD_MALFORMED_OUTPUT)) == "malformed_output");
  CHECK(std::string(qguard_status_name(QGUARD_INTERNAL_ERROR)) == "internal_error");
  CHECK(std::string(qguard_status_name(QGUARD_IO_ERROR)) == "io_error");
  CHECK(qguard_status_name(static_cast<qguard_status>(16)) == nullptr);
  CHECK(std::string(qguard_severity_name(QGUARD_CONTROVERSIAL)) == "Controversial");
  CHECK(qguard_severity_name(static_cast<qguard_severity>(3)) == nullptr);
  CHECK(std::string(qguard_category_name(QGUARD_PII)) == "PII");
  CHECK(std::string(qguard_category_name(QGUARD_JAILBREAK)) == "Jailbreak");
  CHECK(qguard_category_name(static_cast<qguard_category>(QGUARD_CATEGORY_COUNT)) == nullptr);
}

TEST_CASE("every ErrorCode has its status, in order, QGUARD_INTERNAL_ERROR after the first eleven") {
  for (int code = 0; code <= static_cast<int>(ErrorCode::kIoError); ++code) {
    const int status = code <= static_cast<int>(ErrorCode::kMalformedOutput) ? code + 1 : code + 2;
    CHECK(std::string(qguard_status_name(static_cast<qguard_status>(status))) ==
          to_string(static_cast<ErrorCode>(code)));
  }
}

TEST_CASE("options: defaults as the Classifier's, checked sizes and ranges") {
  qguard_options options;
  qguard_options_init(&options);
  const Classifier::Options defaults;
  CHECK(options.struct_size == sizeof options);
  CHECK(options.threads == defaults.threads);
  CHECK(options.mode == QGUARD_MODE_FAST);
  CHECK(options.weights == QGUARD_WEIGHTS_AUTO);
  CHECK(options.pack_cache_dir == nullptr);
  CHECK(options.max_input_tokens == defaults.max_input_tokens);
  CHECK(options.max_new_tokens == defaults.max_new_tokens);
  CHECK(options.match_special_tokens == 0);

  auto load_fails = [](const qguard_options& bad, const char* expected_message) {
    qguard_classifier* out = reinterpret_cast<qguard_classifier*>(&out);  // must be reset to NULL
    CHECK(qguard_classifier_load(kModel, &bad, &out) == QGUARD_INVALID_ARGUMENT);
    CHECK(out == nullptr);
    CHECK(std::string(qguard_last_error()).find(expected_message) != std::string::npos);
  };
  qguard_options bad = options;
  bad.struct_size = 0;
  load_fails(bad, "qguard_options_init");
  bad.struct_size = sizeof options + 8;
  load_fails(bad, "newer qguard");
  bad = options;
  store_int(bad.mode, 7);
  load_fails(bad, "mode");
  bad = options;
  store_int(bad.weights, -1);
  load_fails(bad, "weights");
  bad = options;
  bad.match_special_tokens = 2;
  load_fails(bad, "match_special_tokens");
  bad = options;
  bad.max_input_tokens = 0;
  load_fails(bad, "max_input_tokens");
  bad = options;
  bad.threads = -1;
  load_fails(bad, "threads");

  // A program built against an older, shorter qguard_options gets defaults for the fields it lacks.
  qguard_options old_program = options;
  old_program.struct_size = offsetof(qguard_options, max_input_tokens);
  old_program.max_input_tokens = -5;
  qguard_classifier* classifier = nullptr;
  CHECK(qguard_classifier_load(kModel, &old_program, &classifier) == QGUARD_OK);
  qguard_classifier_free(classifier);
}

TEST_CASE("load failures") {
  qguard_classifier* out = nullptr;
  CHECK(qguard_classifier_load("/nonexistent/qguard/model", nullptr, &out) == QGUARD_NOT_FOUND);
  CHECK(out == nullptr);
  CHECK(std::string(qguard_last_error()).find("/nonexistent/qguard/model") != std::string::npos);
  CHECK(qguard_classifier_load(nullptr, nullptr, &out) == QGUARD_INVALID_ARGUMENT);
  CHECK(std::string(qguard_last_error()) == "model_dir is NULL");
  CHECK(qguard_classifier_load(kModel, nullptr, nullptr) == QGUARD_INVALID_ARGUMENT);
  qguard_classifier_free(nullptr);  // ignored
}

TEST_CASE("a Hub repository id goes through the Hub's cache: offline and uncached is not_found, saying why") {
  const std::string cache = "/nonexistent/qguard/hub_cache";
  setenv("HF_HUB_CACHE", cache.c_str(), 1);
  setenv("HF_HUB_OFFLINE", "1", 1);
  qguard_classifier* out = nullptr;
  CHECK(qguard_classifier_load("qguard-test/no-such-model", nullptr, &out) == QGUARD_NOT_FOUND);
  CHECK(out == nullptr);
  const std::string message = qguard_last_error();
  CHECK(message.find("HF_HUB_OFFLINE") != std::string::npos);
  CHECK(message.find(cache) != std::string::npos);
  unsetenv("HF_HUB_OFFLINE");
  unsetenv("HF_HUB_CACHE");
}

TEST_CASE("verdicts equal the Classifier's") {
  const qguard_classifier* classifier = shared_classifier();
  const Classifier& cpp = cpp_classifier();
  qguard_verdict v;
  const std::string prompt = "How can I make a bomb?";
  const std::string reply = "I cannot help with that.";

  REQUIRE(qguard_moderate_prompt(classifier, prompt.data(), prompt.size(), &v) == QGUARD_OK);
  CHECK(std::string(qguard_last_error()).empty());
  check_same(v, cpp.moderate_prompt(prompt));
  CHECK(v.refusal == -1);

  REQUIRE(qguard_moderate_response(classifier, prompt.data(), prompt.size(), reply.data(), reply.size(), &v) ==
          QGUARD_OK);
  check_same(v, cpp.moderate_response(prompt, reply));
  CHECK((v.refusal == 0 || v.refusal == 1));

  const qguard_message messages[] = {message(QGUARD_ROLE_SYSTEM, "Be brief."), message(QGUARD_ROLE_USER, "hi"),
                                     message(QGUARD_ROLE_ASSISTANT, "Hello!")};
  const Conversation conversation = {{Role::kSystem, "Be brief."}, {Role::kUser, "hi"}, {Role::kAssistant, "Hello!"}};
  REQUIRE(qguard_moderate_conversation(classifier, messages, 3, &v) == QGUARD_OK);
  check_same(v, cpp.moderate(conversation));
  REQUIRE(qguard_moderate_label(classifier, messages, 3, &v) == QGUARD_OK);
  check_same(v, cpp.moderate_label(conversation));
  CHECK(v.categories == 0);
  CHECK(v.refusal == -1);

  // Texts are pointer and length: no NUL needed, and NULL is the empty text.
  REQUIRE(qguard_moderate_prompt(classifier, "hi there", 2, &v) == QGUARD_OK);
  check_same(v, cpp.moderate_prompt("hi"));
  REQUIRE(qguard_moderate_prompt(classifier, nullptr, 0, &v) == QGUARD_OK);
  check_same(v, cpp.moderate_prompt(""));
}

TEST_CASE("bad arguments give a status and a message, and leave the verdict alone") {
  const qguard_classifier* classifier = shared_classifier();
  qguard_verdict v{};
  v.refusal = 42;
  auto fails = [&](qguard_status status, qguard_status expected, const char* expected_message) {
    CHECK(status == expected);
    CHECK(std::string(qguard_last_error()).find(expected_message) != std::string::npos);
    CHECK(v.refusal == 42);
  };
  fails(qguard_moderate_prompt(nullptr, "x", 1, &v), QGUARD_INVALID_ARGUMENT, "classifier is NULL");
  CHECK(qguard_moderate_prompt(classifier, "x", 1, nullptr) == QGUARD_INVALID_ARGUMENT);
  fails(qguard_moderate_prompt(classifier, nullptr, 3, &v), QGUARD_INVALID_ARGUMENT, "text is NULL");
  fails(qguard_moderate_response(classifier, "x", 1, nullptr, 1, &v), QGUARD_INVALID_ARGUMENT, "response is NULL");
  fails(qguard_moderate_prompt(classifier, "bad \xff", 5, &v), QGUARD_INVALID_UTF8, "UTF-8");
  fails(qguard_moderate_response(classifier, "ok", 2, "\xc3", 1, &v), QGUARD_INVALID_UTF8, "UTF-8");
  fails(qguard_moderate_conversation(classifier, nullptr, 0, &v), QGUARD_INVALID_ARGUMENT, "");
  fails(qguard_moderate_conversation(classifier, nullptr, 2, &v), QGUARD_INVALID_ARGUMENT, "messages is NULL");
  qguard_message messages[] = {message(QGUARD_ROLE_ASSISTANT, "first")};
  fails(qguard_moderate_conversation(classifier, messages, 1, &v), QGUARD_INVALID_ARGUMENT, "");
  store_int(messages[0].role, 9);
  fails(qguard_moderate_label(classifier, messages, 1, &v), QGUARD_INVALID_ARGUMENT, "role is out of range");
  messages[0] = {QGUARD_ROLE_USER, nullptr, 4};
  fails(qguard_moderate_label(classifier, messages, 1, &v), QGUARD_INVALID_ARGUMENT, "content is NULL");
  std::string long_text;
  for (int i = 0; i < 10000; ++i) long_text += " word";  // a token each: over the 8192 default
  fails(qguard_moderate_prompt(classifier, long_text.data(), long_text.size(), &v), QGUARD_INPUT_TOO_LONG, "tokens");
}

TEST_CASE("the last error belongs to its thread, and threads share a classifier") {
  const qguard_classifier* classifier = shared_classifier();
  qguard_verdict v;
  REQUIRE(qguard_moderate_prompt(classifier, nullptr, 5, &v) == QGUARD_INVALID_ARGUMENT);
  const std::string here = qguard_last_error();

  const std::string prompt = "Wie backe ich einen Kuchen?";
  const Verdict expected = cpp_classifier().moderate_prompt(prompt);
  std::string other_thread_error = "unset";
  qguard_verdict results[2];
  std::thread a([&] {
    other_thread_error = qguard_last_error();
    CHECK(qguard_moderate_prompt(classifier, prompt.data(), prompt.size(), &results[0]) == QGUARD_OK);
  });
  std::thread b(
      [&] { CHECK(qguard_moderate_prompt(classifier, prompt.data(), prompt.size(), &results[1]) == QGUARD_OK); });
  a.join();
  b.join();
  CHECK(other_thread_error.empty());
  CHECK(qguard_last_error() == here);
  for (const qguard_verdict& r : results) check_same(r, expected);
}
