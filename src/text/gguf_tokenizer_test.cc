// The tokenizer read from GGUF metadata (tokenizer.gguf: the Qwen3 tokenizer.json converted by
// tests/gguf/make_gguf_fixtures.py, padded with UNUSED tokens as llama.cpp's converter pads it)
// against the reference's ids for the fixture corpus, and against the tokenizer.json tokenizer.
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <simdjson.h>

#include "qguard/error.hpp"
#include "qguard/tokenizer.hpp"
#include "util/json.hpp"

using qguard::SpecialTokens;
using qguard::Tokenizer;
using Ids = std::vector<std::int32_t>;

TEST_CASE("the GGUF tokenizer encodes the corpus token for token as tokenizer.json does") {
  const Tokenizer json = Tokenizer::load(QGUARD_TOKENIZER_JSON);
  const Tokenizer gguf = Tokenizer::load(QGUARD_GGUF_FIXTURES "/tokenizer.gguf");
  CHECK(gguf.vocab_size() == json.vocab_size());  // the UNUSED padding is not part of the vocabulary
  for (std::int32_t id = 0; id < static_cast<std::int32_t>(json.vocab_size()); ++id) {
    if (gguf.id_to_token(id) != json.id_to_token(id)) FAIL_CHECK("token ", id, " differs");
  }

  std::istringstream texts(qguard::util::read_file(QGUARD_SOURCE_DIR "/tests/tokenizer/corpus.jsonl"));
  std::istringstream expected(qguard::util::read_file(QGUARD_SOURCE_DIR "/tests/tokenizer/expected.jsonl"));
  simdjson::dom::parser texts_parser, expected_parser;
  std::size_t lines = 0, mismatches = 0;
  for (std::string text_line, expected_line; std::getline(texts, text_line) && std::getline(expected, expected_line);) {
    ++lines;
    const std::string_view text =
        qguard::util::parse_json(texts_parser, text_line, "corpus.jsonl")["text"].get_string().value();
    Ids reference;
    for (const auto id :
         qguard::util::parse_json(expected_parser, expected_line, "expected.jsonl")["ids"].get_array()) {
      reference.push_back(static_cast<std::int32_t>(id.get_int64()));
    }
    const Ids ids = gguf.encode(text);
    const bool same = ids == reference &&
                      gguf.encode(text, SpecialTokens::kPlain) == json.encode(text, SpecialTokens::kPlain) &&
                      gguf.decode(ids) == json.decode(ids);
    if (!same && ++mismatches <= 5) MESSAGE("corpus line ", lines, " differs");
  }
  CHECK(lines > 1000);
  CHECK(mismatches == 0);
}

TEST_CASE("a GGUF file without Qwen's tokenizer is refused") {
  // blocks.gguf has tensors but no tokenizer metadata.
  try {
    Tokenizer::load(QGUARD_GGUF_FIXTURES "/blocks.gguf");
    FAIL("loaded");
  } catch (const qguard::Error& error) {
    CHECK(error.code() == qguard::ErrorCode::kUnsupportedModel);
  }
}
