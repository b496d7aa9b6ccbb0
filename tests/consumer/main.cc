// Compiles every public header as C++17 and touches the library at link and run time.
#include <cstdio>

#include <qguard/qguard.hpp>

int main() {
  try {
    qguard::Model::load("/nonexistent/qguard/model");
  } catch (const qguard::Error& e) {
    if (e.code() == qguard::ErrorCode::kNotFound) {
      std::printf("consumer: linked qguard; a missing model gives: %s\n", e.what());
      return 0;
    }
  }
  std::printf("consumer: expected a not_found error\n");
  return 1;
}
