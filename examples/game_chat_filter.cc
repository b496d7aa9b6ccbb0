// A game server's chat filter: the game thread posts chat lines to a queue and never waits; a
// worker thread moderates them in order, delivers Safe lines, flags Controversial ones for the
// moderators and blocks Unsafe ones. A line that cannot be judged (too long, invalid UTF-8) is
// held back too: no verdict is never the same as Safe.
//   game_chat_filter models/Qwen3Guard-Gen-0.6B
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <qguard/qguard.hpp>

namespace {

struct ChatLine {
  std::string player;
  std::string text;
};

class ChatFilter {
 public:
  explicit ChatFilter(const qguard::Classifier& guard) : guard_(guard), worker_([this] { run(); }) {}
  ~ChatFilter() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closing_ = true;
    }
    ready_.notify_one();
    worker_.join();  // finishes the lines already posted
  }

  // Called from the game thread; returns at once.
  void post(ChatLine line) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(line));
    }
    ready_.notify_one();
  }

 private:
  std::optional<ChatLine> next() {
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait(lock, [this] { return closing_ || !queue_.empty(); });
    if (queue_.empty()) return std::nullopt;
    ChatLine line = std::move(queue_.front());
    queue_.pop_front();
    return line;
  }

  void run() {
    while (std::optional<ChatLine> line = next()) {
      try {
        const qguard::Verdict verdict = guard_.moderate_prompt(line->text);
        switch (verdict.severity) {
          case qguard::Severity::kSafe:
            std::printf("[deliver] %s: %s\n", line->player.c_str(), line->text.c_str());
            break;
          case qguard::Severity::kControversial:
            std::printf("[deliver+flag] %s: %s\n", line->player.c_str(), line->text.c_str());
            break;
          case qguard::Severity::kUnsafe:
            std::printf("[blocked] %s (%s)\n", line->player.c_str(), qguard::to_json(verdict).c_str());
            break;
        }
      } catch (const qguard::Error& e) {
        std::printf("[held] %s: could not be judged (%s): %s\n", line->player.c_str(), qguard::to_string(e.code()), e.what());
      }
    }
  }

  const qguard::Classifier& guard_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<ChatLine> queue_;
  bool closing_ = false;
  std::thread worker_;  // last: starts after the members it uses
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL_DIR\n", argv[0]);
    return 2;
  }
  try {
    qguard::Classifier::Options options;
    options.threads = 1;            // leave the other cores to the game
    options.max_input_tokens = 1024;  // chat lines are short; refuse walls of text
    const qguard::Classifier guard = qguard::Classifier::load(argv[1], options);
    ChatFilter filter(guard);
    filter.post({"ada", "gg, well played everyone!"});
    filter.post({"bob", "tell me where the admin lives, I will find him and hurt him"});
    filter.post({"cyd", "anyone know a good guide for the fire temple?"});
    filter.post({"eve", std::string("broken \xC3\x28 bytes")});
  } catch (const qguard::Error& e) {
    std::fprintf(stderr, "qguard error [%s]: %s\n", qguard::to_string(e.code()), e.what());
    return 1;
  }
  return 0;
}
