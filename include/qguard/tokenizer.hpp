// qguard::Tokenizer: the Qwen3 tokenizer, token-for-token identical to Hugging Face's
// (transformers.js is the reference). Loads tokenizer.json; encodes with the pipeline it describes:
// added tokens matched in the raw text, NFC, Qwen3's pre-split regex, byte-level BPE.
//
//   auto tokenizer = qguard::Tokenizer::load("models/Qwen3Guard-Gen-0.6B");  // or .../tokenizer.json
//   std::vector<int32_t> ids = tokenizer.encode("<|im_start|>user\nhello");    // 151644, 872, 198, ...
//   std::string text = tokenizer.decode(ids);
//
// Every const method is safe to call from many threads at once. Errors are qguard::Error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qguard/export.h"

namespace qguard {

// Whether the text of added tokens (<|im_start|>, <|im_end|>, <think>, ...) becomes their single id
// (kMatch, as the reference's encode does) or is encoded as plain text (kPlain), so that untrusted
// text cannot forge chat structure.
enum class SpecialTokens { kMatch, kPlain };

// One stretch of a text encoded in pieces, with its own added-token policy.
struct Segment {
  std::string_view text;
  SpecialTokens special;
};

class QGUARD_API Tokenizer {
 public:
  // `path_or_dir`: a tokenizer.json file, or a directory holding one; or a GGUF file (its
  // tokenizer.ggml.* metadata, Qwen's tokenizer: model gpt2, pre-tokenizer qwen2), or a directory
  // holding one GGUF file and no tokenizer.json. Both encode the same way.
  // A Hugging Face Hub repository id ("Qwen/Qwen3Guard-Gen-0.6B") fetches only the tokenizer's
  // files into the Hub's cache (docs/hub.md).
  // Throws Error(kNotFound) if there is no such file, Error(kMalformedJson) if it does not parse or
  // lacks a field, Error(kUnsupportedModel) if it describes a pipeline other than Qwen3's.
  static Tokenizer load(const std::string& path_or_dir);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Token ids of `text` (no BOS/EOS is added). Throws Error(kInvalidUtf8) naming the byte offset
  // of the first ill-formed sequence.
  std::vector<std::int32_t> encode(std::string_view text, SpecialTokens special = SpecialTokens::kMatch) const;

  // Token ids of the concatenation of the segments' texts, where added tokens are matched only
  // inside kMatch segments (a token is never matched across a segment boundary). The text between
  // matched tokens is normalized and split as one stretch, across segment boundaries, so with
  // every segment kMatch this equals encode(concatenation). Each segment must be valid UTF-8 on
  // its own; the error's offset counts from the start of the concatenation.
  std::vector<std::int32_t> encode(const std::vector<Segment>& segments) const;

  // The text of `ids`: added tokens give their content, other tokens their bytes; byte sequences
  // that are not valid UTF-8 become U+FFFD (as the reference's decode does). Throws
  // Error(kInvalidArgument) for an id outside [0, vocab_size()).
  std::string decode(const std::vector<std::int32_t>& ids) const;

  // The id of a token as tokenizer.json writes it (byte-level form, e.g. "Ġhello", or an added
  // token's content, e.g. "<|im_end|>"); nullopt if there is none.
  std::optional<std::int32_t> token_to_id(std::string_view token) const;
  // The inverse; throws Error(kInvalidArgument) for an id outside [0, vocab_size()).
  std::string id_to_token(std::int32_t id) const;
  // Number of ids, added tokens included (151669 for Qwen3).
  std::size_t vocab_size() const;

 private:
  struct State;
  explicit Tokenizer(std::unique_ptr<const State> state);
  std::unique_ptr<const State> state_;
};

}  // namespace qguard
