#include "qguard/classifier.hpp"

#include <algorithm>
#include <mutex>

#include <fmt/format.h>

#include "guard/chat_template.hpp"
#include "guard/decoding.hpp"
#include "guard/model_session.hpp"
#include "guard/output_grammar.hpp"
#include "guard/output_parser.hpp"
#include "hub/hub.hpp"
#include "model/model_impl.hpp"

namespace qguard {
namespace {

// The policy text every prompt of one kind starts with, its KV cache computed once, and a pool of
// caches that hold it, so a request starts from the cached head without copying it.
class PolicyHead {
 public:
  // Room an idle cache keeps beyond the head: prompts up to this many tokens longer than the head
  // (most chat messages) continue it without reallocating; a longer request's room is given back
  // when it ends, so idle caches never hold the longest prompt seen (0.6B: ~229 KB per position,
  // half with int8 weights).
  static constexpr int kIdleSlackPositions = 256;

  // A cache holding the head for the duration of one request.
  class Lease {
   public:
    Lease(PolicyHead& head, model::KvCache cache) : head_(head), cache_(std::move(cache)) {}
    Lease(const Lease&) = delete;
    ~Lease() {
      const int head_length = static_cast<int>(head_.ids_.size());
      cache_.resize(head_length);
      cache_.shrink_capacity(head_length + kIdleSlackPositions);
      std::lock_guard lock(head_.mutex_);
      head_.idle_.push_back(std::move(cache_));
    }
    model::KvCache& cache() { return cache_; }

   private:
    PolicyHead& head_;
    model::KvCache cache_;
  };

  const guard::Tokens& ids(const model::Qwen3& decoder, const Tokenizer& tokenizer, ModerationKind kind) {
    std::call_once(once_, [&] {
      ids_ = tokenizer.encode(std::string(guard::policy_head(kind)), SpecialTokens::kMatch);
      model::KvCache cache = decoder.new_cache();
      decoder.forward(ids_, cache, model::Qwen3::Outputs::kLast);  // only the keys and values are kept
      master_.emplace(std::move(cache));
    });
    return ids_;
  }

  Lease lease() {
    std::lock_guard lock(mutex_);
    if (idle_.empty()) return Lease(*this, *master_);
    model::KvCache cache = std::move(idle_.back());
    idle_.pop_back();
    return Lease(*this, std::move(cache));
  }

 private:
  std::once_flag once_;
  guard::Tokens ids_;
  std::optional<model::KvCache> master_;
  std::mutex mutex_;
  std::vector<model::KvCache> idle_;
};

// NFC shrinks UTF-8 text at most threefold (three 3-byte Hangul jamo compose into one 3-byte
// syllable; other compositions shrink less), and each token covers at most the bytes of the longest
// token, so a rendered prompt longer than this many bytes is certainly over `max_tokens`. The check
// costs nothing and keeps megabytes of hostile text from being normalized and split first.
std::size_t most_prompt_bytes(const Tokenizer& tokenizer, int max_tokens) {
  constexpr std::size_t kNfcMostShrink = 3;
  std::size_t longest_token = 1;
  for (std::int32_t id = 0; static_cast<std::size_t>(id) < tokenizer.vocab_size(); ++id) {
    // Never shorter than the token's bytes: an incomplete UTF-8 sequence (at most 3 bytes) decodes
    // to one 3-byte U+FFFD.
    longest_token = std::max(longest_token, tokenizer.decode({id}).size());
  }
  return static_cast<std::size_t>(max_tokens) * longest_token * kNfcMostShrink;
}

}  // namespace

struct Classifier::State {
  Options options;
  std::size_t max_prompt_bytes;  // most_prompt_bytes(tokenizer, options.max_input_tokens)
  std::shared_ptr<const Model> model;
  Tokenizer tokenizer;
  guard::OutputGrammar grammar;
  PolicyHead heads[2];  // indexed by ModerationKind

  const model::Qwen3& decoder() const { return ModelAccess::decoder(*model); }

  guard::Tokens tokens(const guard::RenderedPrompt& prompt) const {
    if (prompt.text.size() > max_prompt_bytes) {
      throw Error(ErrorCode::kInputTooLong,
                  fmt::format("the prompt is {} bytes long (the moderation template included), more than {} tokens "
                              "can hold; the limit is {} tokens (Classifier::Options::max_input_tokens)",
                              prompt.text.size(), options.max_input_tokens, options.max_input_tokens));
    }
    std::vector<Segment> segments;
    for (const auto& s : prompt.segments) {
      segments.push_back({prompt.view(s), s.is_content ? options.content_special_tokens : SpecialTokens::kMatch});
    }
    guard::Tokens ids = tokenizer.encode(segments);
    if (static_cast<int>(ids.size()) > options.max_input_tokens) {
      throw Error(ErrorCode::kInputTooLong,
                  fmt::format("the prompt is {} tokens long (the moderation template included); the limit is {} "
                              "(Classifier::Options::max_input_tokens)", ids.size(), options.max_input_tokens));
    }
    return ids;
  }

  Verdict run(const Conversation& conversation, DecodingMode mode, bool label_only) {
    const guard::RenderedPrompt prompt = guard::render(conversation);
    const guard::Tokens ids = tokens(prompt);
    guard::DecodeResult result;
    if (mode == DecodingMode::kFast) {
      PolicyHead& head = heads[static_cast<int>(prompt.kind)];
      const guard::Tokens& head_ids = head.ids(decoder(), tokenizer, prompt.kind);
      // The head's tokens are a prefix of every prompt's tokens (tested over the tokenizer corpus);
      // checking costs nothing and keeps a surprise from ever producing a wrong verdict.
      auto decode = [&](model::KvCache& cache) {
        guard::ModelSession session(decoder(), cache);
        session.append(std::span(ids).subspan(cache.length()));
        return guard::decode_fast(session, grammar, prompt.kind, ids.size(), label_only);
      };
      if (ids.size() > head_ids.size() && std::equal(head_ids.begin(), head_ids.end(), ids.begin())) {
        PolicyHead::Lease lease = head.lease();
        result = decode(lease.cache());
      } else {
        model::KvCache cache = decoder().new_cache();
        result = decode(cache);
      }
    } else {
      model::KvCache cache = decoder().new_cache();
      guard::ModelSession session(decoder(), cache);
      session.append(ids);
      result = guard::decode_reference(session, grammar, prompt.kind, options.max_new_tokens);
    }
    const std::string text = tokenizer.decode(result.output);
    Verdict verdict;
    if (label_only) {
      const auto& p = result.severity_probabilities;
      verdict.severity = static_cast<Severity>(std::max_element(p.begin(), p.end()) - p.begin());
      verdict.raw = text;
    } else {
      verdict = guard::parse_output(text, prompt.kind);
    }
    verdict.probabilities = result.severity_probabilities;
    verdict.category_probabilities = result.category_probabilities;
    return verdict;
  }
};

Classifier::Classifier(std::unique_ptr<State> state) : state_(std::move(state)) {}
Classifier::Classifier(Classifier&&) noexcept = default;
Classifier& Classifier::operator=(Classifier&&) noexcept = default;
Classifier::~Classifier() = default;

Classifier Classifier::load(const std::string& model_dir, const Options& options) {
  if (options.max_input_tokens <= 0 || options.max_new_tokens <= 0) {
    throw Error(ErrorCode::kInvalidArgument, "Classifier::Options: max_input_tokens and max_new_tokens must be positive");
  }
  const std::string local_dir = hub::resolve(model_dir, hub::Need::kModel);
  auto model = Model::load(local_dir, Model::Options{options.threads, options.weights, options.pack_cache_dir});
  Tokenizer tokenizer = Tokenizer::load(local_dir);
  const int positions = model->info().max_position_embeddings;
  if (options.max_input_tokens + options.max_new_tokens > positions) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("Classifier::Options: max_input_tokens + max_new_tokens ({}) exceeds the model's {} positions",
                            options.max_input_tokens + options.max_new_tokens, positions));
  }
  if (tokenizer.vocab_size() > static_cast<std::size_t>(model->info().vocab_size)) {
    throw Error(ErrorCode::kUnsupportedModel,
                fmt::format("'{}': tokenizer.json has {} tokens but the model only {} embeddings", model_dir,
                            tokenizer.vocab_size(), model->info().vocab_size));
  }
  guard::OutputGrammar grammar = guard::OutputGrammar::build(tokenizer);
  const std::size_t max_prompt_bytes = most_prompt_bytes(tokenizer, options.max_input_tokens);
  return Classifier(std::unique_ptr<State>(
      new State{options, max_prompt_bytes, std::move(model), std::move(tokenizer), std::move(grammar), {}}));
}

Verdict Classifier::moderate_prompt(std::string_view user_text) const {
  return moderate({{Role::kUser, std::string(user_text)}});
}

Verdict Classifier::moderate_response(std::string_view user_text, std::string_view assistant_text) const {
  return moderate({{Role::kUser, std::string(user_text)}, {Role::kAssistant, std::string(assistant_text)}});
}

Verdict Classifier::moderate(const Conversation& conversation) const {
  return state_->run(conversation, state_->options.mode, false);
}

Verdict Classifier::moderate_label(const Conversation& conversation) const {
  return state_->run(conversation, DecodingMode::kFast, true);
}

std::vector<Classifier::Result> Classifier::moderate_batch(const std::vector<Conversation>& conversations) const {
  std::vector<Result> results;
  for (const Conversation& conversation : conversations) {
    try {
      results.push_back({moderate(conversation), std::nullopt});
    } catch (const Error& e) {
      results.push_back({std::nullopt, e});
    }
  }
  return results;
}

std::vector<std::int32_t> Classifier::prompt_tokens(const Conversation& conversation) const {
  return state_->tokens(guard::render(conversation));
}

const Classifier::Options& Classifier::options() const { return state_->options; }
std::size_t Classifier::max_prompt_bytes() const { return state_->max_prompt_bytes; }
const Model& Classifier::model() const { return *state_->model; }
const Tokenizer& Classifier::tokenizer() const { return state_->tokenizer; }

}  // namespace qguard
