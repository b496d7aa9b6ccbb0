#include <fmt/format.h>

#include "qguard/error.hpp"
#include "text/tokenizer_source.hpp"

namespace qguard::text {
namespace {

// llama.cpp's token types (tokenizer.ggml.token_type).
enum TokenType : std::int64_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

}  // namespace

TokenizerSource read_gguf_tokenizer(const io::GgufFile& gguf) {
  const std::string file = gguf.path().string();
  auto unsupported = [&](const std::string& what) {
    throw Error(ErrorCode::kUnsupportedModel,
                fmt::format("'{}': {}; qguard implements the Qwen3 tokenizer (model gpt2, pre-tokenizer qwen2) only",
                            file, what));
  };
  auto corrupt = [&](const std::string& what) {
    throw Error(ErrorCode::kCorruptFile, fmt::format("'{}': {}; the file is damaged, re-download it", file, what));
  };
  if (const std::string_view model = gguf.required_string("tokenizer.ggml.model"); model != "gpt2") {
    unsupported(fmt::format("tokenizer.ggml.model is '{}'", model));
  }
  const auto pre = gguf.string_value("tokenizer.ggml.pre");
  if (pre != "qwen2") unsupported(fmt::format("tokenizer.ggml.pre is '{}'", pre.value_or("(absent)")));

  const std::vector<std::string_view> texts = gguf.string_array("tokenizer.ggml.tokens");
  const std::vector<std::int64_t> types = gguf.integer_array("tokenizer.ggml.token_type");
  if (types.size() != texts.size()) {
    corrupt(fmt::format("tokenizer.ggml.token_type has {} entries for {} tokens", types.size(), texts.size()));
  }
  std::size_t used = texts.size();
  while (used > 0 && types[used - 1] == kUnused) --used;
  if (used > static_cast<std::size_t>(INT32_MAX)) corrupt("tokenizer.ggml.tokens has too many tokens");

  TokenizerSource source;
  source.tokens.reserve(used);
  for (std::size_t id = 0; id < used; ++id) {
    const std::int64_t type = types[id];
    if (type == kUnknown || type == kByte) unsupported(fmt::format("token {} has type {} (UNKNOWN or BYTE)", id, type));
    if (type != kNormal && type != kUnused && type != kControl && type != kUserDefined) {
      corrupt(fmt::format("token {} has type {}, not a llama.cpp token type", id, type));
    }
    const bool added = type == kControl || type == kUserDefined;
    if (added && texts[id].empty()) corrupt(fmt::format("added token {} is empty", id));
    source.tokens.push_back({texts[id], static_cast<std::int32_t>(id), added});
  }

  const std::vector<std::string_view> merges = gguf.string_array("tokenizer.ggml.merges");
  source.merge_lefts.reserve(merges.size());
  source.merge_rights.reserve(merges.size());
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string_view line = merges[rank];
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos) {
      corrupt(fmt::format("merge {} is not two tokens separated by one space", rank));
    }
    source.merge_lefts.push_back(line.substr(0, space));
    source.merge_rights.push_back(line.substr(space + 1));
  }
  return source;
}

}  // namespace qguard::text
