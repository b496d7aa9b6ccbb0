#include "text/bpe.hpp"

#include <algorithm>
#include <bit>

#include "text/hash.hpp"

namespace qguard::text {
namespace {

std::uint64_t pair_key(std::int32_t left, std::int32_t right) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
}

// Every bit of the pair mixed into the low bits that index the table.
std::size_t hash_pair(std::uint64_t pair) { return static_cast<std::size_t>(mix64(pair)); }

// std heaps are max-heaps: "less" means "merges later" (higher rank, then further right).
bool merges_later(const BpeCandidate& a, const BpeCandidate& b) {
  return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
}

}  // namespace

BytePairEncoder::BytePairEncoder(const std::array<std::int32_t, 256>& byte_ids, const std::vector<MergeRule>& rules)
    : byte_ids_(byte_ids), table_(std::bit_ceil(rules.size() + rules.size() / 3 + 1), Merge{kEmptyPair, 0, 0}) {
  const std::size_t mask = table_.size() - 1;
  constexpr std::size_t kLookahead = 8;  // inserts run ahead to overlap their cache misses
  for (std::size_t rank = 0; rank < rules.size(); ++rank) {
    if (rank + kLookahead < rules.size()) {
      const MergeRule& ahead = rules[rank + kLookahead];
      __builtin_prefetch(&table_[hash_pair(pair_key(ahead.left, ahead.right)) & mask], 1);
    }
    const MergeRule& rule = rules[rank];
    const std::uint64_t pair = pair_key(rule.left, rule.right);
    std::size_t slot = hash_pair(pair) & mask;
    while (table_[slot].pair != kEmptyPair && table_[slot].pair != pair) slot = (slot + 1) & mask;
    table_[slot] = Merge{pair, static_cast<std::uint32_t>(rank), rule.merged};
  }
}

const BytePairEncoder::Merge* BytePairEncoder::find(std::int32_t left, std::int32_t right) const {
  const std::uint64_t pair = pair_key(left, right);
  const std::size_t mask = table_.size() - 1;
  for (std::size_t slot = hash_pair(pair) & mask; table_[slot].pair != kEmptyPair; slot = (slot + 1) & mask) {
    if (table_[slot].pair == pair) return &table_[slot];
  }
  return nullptr;
}

void BytePairEncoder::encode(std::string_view piece, Scratch& scratch, std::vector<std::int32_t>& out) const {
  if (piece.empty()) return;
  auto& symbols = scratch.symbols;
  auto& heap = scratch.heap;
  const auto size = static_cast<std::int32_t>(piece.size());
  symbols.resize(piece.size());
  heap.clear();

  const auto end_of = [&](std::int32_t symbol) { return symbols[symbol].next >= 0 ? symbols[symbol].next : size; };
  const auto add_candidate = [&](std::int32_t left) {
    if (left < 0 || symbols[left].next < 0) return false;
    const std::int32_t right = symbols[left].next;
    const Merge* merge = find(symbols[left].id, symbols[right].id);
    if (merge != nullptr) heap.push_back({merge->rank, left, end_of(right), merge->merged});
    return merge != nullptr;
  };

  for (std::int32_t i = 0; i < size; ++i) {
    symbols[i] = {byte_ids_[static_cast<unsigned char>(piece[i])], i - 1, i + 1 < size ? i + 1 : -1};
  }
  for (std::int32_t i = 0; i + 1 < size; ++i) add_candidate(i);
  std::make_heap(heap.begin(), heap.end(), merges_later);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), merges_later);
    const BpeCandidate candidate = heap.back();
    heap.pop_back();
    BpeSymbol& left = symbols[candidate.left];
    if (left.id < 0 || left.next < 0 || end_of(left.next) != candidate.right_end) continue;
    BpeSymbol& right = symbols[left.next];
    left.id = candidate.merged;
    left.next = right.next;
    right.id = -1;  // absorbed
    if (left.next >= 0) symbols[left.next].prev = candidate.left;
    for (const std::int32_t changed : {left.prev, candidate.left}) {
      if (add_candidate(changed)) std::push_heap(heap.begin(), heap.end(), merges_later);
    }
  }

  for (std::int32_t i = 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
}

}  // namespace qguard::text
