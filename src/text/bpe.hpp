// Byte-pair encoding over token ids: a piece's bytes start as the single-byte tokens, then the
// adjacent pair with the lowest merge rank is merged, leftmost first among equal ranks, until no
// pair has a merge. This is the order of Hugging Face tokenizers and transformers.js.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace qguard::text {

// One entry of tokenizer.json's merge list: `left` followed by `right` merges into `merged`.
struct MergeRule {
  std::int32_t left;
  std::int32_t right;
  std::int32_t merged;
};

class BytePairEncoder {
 public:
  BytePairEncoder() = default;
  // `byte_ids[b]`: the token of the single byte b. A rule's rank is its position in `rules`
  // (lower merges first); a pair listed twice keeps its later rank, as in the reference's map.
  BytePairEncoder(const std::array<std::int32_t, 256>& byte_ids, const std::vector<MergeRule>& rules);

  // Working memory of encode, reused across calls by one thread.
  struct Scratch;

  // Appends the ids of `piece` (raw bytes) to `out`. Runs in O(n log n) for n bytes.
  void encode(std::string_view piece, Scratch& scratch, std::vector<std::int32_t>& out) const;

 private:
  struct Merge {
    std::uint64_t pair;  // left id << 32 | right id; kEmptyPair marks a free slot
    std::uint32_t rank;
    std::int32_t merged;
  };
  static constexpr std::uint64_t kEmptyPair = ~std::uint64_t{0};

  const Merge* find(std::int32_t left, std::int32_t right) const;

  std::array<std::int32_t, 256> byte_ids_{};
  std::vector<Merge> table_;  // open addressing, power-of-two size
};

// A symbol of the word being merged: a token id in a doubly linked list over byte positions.
struct BpeSymbol {
  std::int32_t id;    // -1 once absorbed into the symbol before it
  std::int32_t prev;  // index of the previous live symbol, -1 at the start
  std::int32_t next;  // index of the next live symbol, -1 at the end
};

// A possible merge of the symbol at `left` with its successor, which ended at `right_end`. A
// symbol's bytes fix its id, and symbols only grow, so the candidate is still current exactly
// when `left` is alive and its successor still ends at `right_end`.
struct BpeCandidate {
  std::uint32_t rank;
  std::int32_t left;
  std::int32_t right_end;
  std::int32_t merged;
};

struct BytePairEncoder::Scratch {
  std::vector<BpeSymbol> symbols;
  std::vector<BpeCandidate> heap;
};

}  // namespace qguard::text
