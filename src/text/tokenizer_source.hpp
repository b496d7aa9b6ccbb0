// What a tokenizer file lists, whatever its format: every token (the model vocabulary and the added
// tokens) and the merges in rank order, as views into the file.
#pragma once

#include <string_view>
#include <vector>

#include "io/gguf.hpp"
#include "text/vocabulary.hpp"

namespace qguard::text {

struct TokenizerSource {
  std::vector<TokenEntry> tokens;
  std::vector<std::string_view> merge_lefts;
  std::vector<std::string_view> merge_rights;
};

// The tokenizer of a GGUF file's metadata (tokenizer.ggml.*): model "gpt2" with pre-tokenizer
// "qwen2" (Qwen's byte-level BPE, run with tokenizer.json's pipeline: NFC, Qwen3's split regex);
// tokens of type NORMAL are the model vocabulary, CONTROL and USER_DEFINED ones the added tokens, and
// the UNUSED padding after the last used token is dropped. Throws Error kUnsupportedModel for
// another tokenizer, kCorruptFile for inconsistent metadata.
TokenizerSource read_gguf_tokenizer(const io::GgufFile& gguf);

}  // namespace qguard::text
