// A C++17 program outside the qguard tree, built against the installed package as a user's project
// would be. Compiles every public header, checks that a qguard::Error crosses the library boundary,
// then with arguments moderates and prints the verdict as `qguard classify` does.
//
//   consumer [MODEL_DIR PROMPT [RESPONSE]]
#include <cstdio>

#include <qguard/qguard.hpp>
#include <qguard/version.hpp>

int main(int argc, char** argv) {
  try {
    qguard::Model::load("/nonexistent/qguard/model");
    std::fprintf(stderr, "consumer: expected a not_found error\n");
    return 1;
  } catch (const qguard::Error& e) {
    if (e.code() != qguard::ErrorCode::kNotFound) throw;
  }
  if (argc == 1) {
    std::printf("consumer: linked qguard %s\n", QGUARD_VERSION_STRING);
    return 0;
  }
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: %s [MODEL_DIR PROMPT [RESPONSE]]\n", argv[0]);
    return 2;
  }
  try {
    const qguard::Classifier guard = qguard::Classifier::load(argv[1]);
    const qguard::Verdict verdict =
        argc == 3 ? guard.moderate_prompt(argv[2]) : guard.moderate_response(argv[2], argv[3]);
    std::printf("%s\n", qguard::to_json(verdict).c_str());
  } catch (const qguard::Error& e) {
    std::fprintf(stderr, "consumer: %s\n", qguard::to_json(e).c_str());
    return 1;
  }
  return 0;
}
