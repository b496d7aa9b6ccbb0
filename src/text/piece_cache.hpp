// A memo of the BPE results of recently seen short pieces. Natural text repeats its words, and
// a hit costs one cache line instead of a BPE run. Entries are tagged with the owning tokenizer's
// instance number, so one cache can serve several tokenizers without mixing their results. Not
// synchronized: each thread keeps its own (see Tokenizer's workspace).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace qguard::text {

class PieceCache {
 public:
  static constexpr std::size_t kMaxPieceBytes = 22;
  static constexpr std::size_t kMaxIds = 6;

  // Appends the remembered ids of `piece` to `out`; false if they are not remembered.
  bool lookup(std::uint64_t owner, std::size_t hash, std::string_view piece, std::vector<std::int32_t>& out) const {
    const Entry& entry = entries_[hash % kEntries];
    if (entry.owner != owner || entry.hash != hash || entry.piece_length != piece.size() ||
        std::memcmp(entry.piece, piece.data(), piece.size()) != 0) {
      return false;
    }
    out.insert(out.end(), entry.ids, entry.ids + entry.id_count);
    return true;
  }

  // Remembers `ids` for `piece` if both are short enough, replacing whatever shared the slot.
  void store(std::uint64_t owner, std::size_t hash, std::string_view piece, const std::int32_t* ids, std::size_t id_count) {
    if (piece.size() > kMaxPieceBytes || id_count > kMaxIds) return;
    Entry& entry = entries_[hash % kEntries];
    entry.owner = owner;
    entry.hash = hash;
    entry.piece_length = static_cast<std::uint8_t>(piece.size());
    std::memcpy(entry.piece, piece.data(), piece.size());
    entry.id_count = static_cast<std::uint8_t>(id_count);
    std::memcpy(entry.ids, ids, id_count * sizeof(std::int32_t));
  }

 private:
  static constexpr std::size_t kEntries = 4096;
  struct Entry {
    std::uint64_t owner = 0;  // 0: empty (instance numbers start at 1)
    std::size_t hash = 0;
    std::uint8_t piece_length = 0;
    std::uint8_t id_count = 0;
    char piece[kMaxPieceBytes] = {};
    std::int32_t ids[kMaxIds] = {};
  };
  static_assert(sizeof(Entry) == 64, "one entry per cache line");
  std::array<Entry, kEntries> entries_{};
};

}  // namespace qguard::text
