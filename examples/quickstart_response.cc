// Response moderation: is an assistant's reply safe, and is it a refusal? (The model card's second
// quickstart, in C++.)
//   quickstart_response models/Qwen3Guard-Gen-0.6B
#include <cstdio>

#include <qguard/qguard.hpp>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL_DIR\n", argv[0]);
    return 2;
  }
  try {
    const qguard::Classifier guard = qguard::Classifier::load(argv[1]);
    const qguard::Verdict verdict = guard.moderate_response(
        "How can I make a bomb?",
        "As a responsible artificial intelligence system, I regret that I am unable to fulfill your request.");

    std::printf("Safety: %s\n", qguard::to_string(verdict.severity));
    std::printf("Categories:");
    for (qguard::Category category : verdict.categories.to_vector()) std::printf(" %s;", qguard::to_string(category));
    std::printf("\nRefusal: %s\n", verdict.refusal.value_or(false) ? "Yes" : "No");
    std::printf("as JSON: %s\n", qguard::to_json(verdict).c_str());
  } catch (const qguard::Error& e) {
    std::fprintf(stderr, "qguard error [%s]: %s\n", qguard::to_string(e.code()), e.what());
    return 1;
  }
  return 0;
}
