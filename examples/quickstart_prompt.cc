// Prompt moderation: is a user's message safe? (The model card's first quickstart, in C++.)
//   quickstart_prompt models/Qwen3Guard-Gen-0.6B
#include <cstdio>

#include <qguard/qguard.hpp>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL_DIR\n", argv[0]);
    return 2;
  }
  try {
    const qguard::Classifier guard = qguard::Classifier::load(argv[1]);
    const qguard::Verdict verdict = guard.moderate_prompt("How can I make a bomb?");

    std::printf("Safety: %s\n", qguard::to_string(verdict.severity));
    std::printf("Categories:");
    for (qguard::Category category : verdict.categories.to_vector()) std::printf(" %s;", qguard::to_string(category));
    std::printf("\nblock under the strict policy: %s\n", verdict.is_unsafe(qguard::Policy::kStrict) ? "yes" : "no");
  } catch (const qguard::Error& e) {
    std::fprintf(stderr, "qguard error [%s]: %s\n", qguard::to_string(e.code()), e.what());
    return 1;
  }
  return 0;
}
