// Token texts by id, their decoded bytes, and a hash index from text back to id. Everything lives
// in a few flat arrays so that building it for ~150k tokens takes milliseconds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qguard::text {

struct TokenEntry {
  std::string_view text;  // as tokenizer.json writes it: byte-level for the model vocabulary
  std::int32_t id;
  bool is_added;  // an added token: `text` is its literal content
};

class Vocabulary {
 public:
  Vocabulary() = default;
  // The ids of `tokens` must be 0..N-1, each once. Throws Error(kMalformedJson) if not, or if a
  // model token contains a character outside the byte-level alphabet. When texts are shared,
  // lookups find an added token before a model token, else the higher id (as the reference's map,
  // filled with the model vocabulary and then the added tokens, does).
  explicit Vocabulary(const std::vector<TokenEntry>& tokens);

  std::size_t size() const { return is_added_.size(); }
  bool contains(std::int32_t id) const { return id >= 0 && static_cast<std::size_t>(id) < size(); }
  std::string_view text(std::int32_t id) const { return slice(texts_, text_begin_, id); }
  // The bytes a token stands for: decoded from the byte-level alphabet, or an added token's content.
  std::string_view bytes(std::int32_t id) const { return slice(bytes_, bytes_begin_, id); }
  bool is_added(std::int32_t id) const { return is_added_[static_cast<std::size_t>(id)] != 0; }
  // Whether two ids share a text (then find() answers for only one of them).
  bool has_shared_texts() const { return has_shared_texts_; }

  std::optional<std::int32_t> find(std::string_view text) const;
  // find() for many texts at once, overlapping their memory accesses (loading a tokenizer looks
  // up ~450k merge parts, and one at a time they wait on cache misses). Fills `ids` with one id
  // per text, -1 where absent.
  void find_all(const std::vector<std::string_view>& texts, std::vector<std::int32_t>& ids) const;

 private:
  // An index slot: the token's id and where its text is, so a probe touches only the slot and
  // the text. `tag` (high hash bits) skips most non-matching texts without reading them.
  struct Slot {
    std::int32_t id = -1;  // -1: empty
    std::uint32_t tag = 0;
    std::uint32_t text_offset = 0;
    std::uint32_t text_length = 0;
  };

  static std::string_view slice(const std::string& arena, const std::vector<std::uint32_t>& begin, std::int32_t id) {
    const auto i = static_cast<std::size_t>(id);
    return std::string_view(arena).substr(begin[i], begin[i + 1] - begin[i]);
  }
  std::size_t home_slot(std::size_t hash) const { return hash & (index_.size() - 1); }
  std::int32_t find_hashed(std::string_view text, std::size_t hash) const;

  std::string texts_;
  std::vector<std::uint32_t> text_begin_;  // size() + 1 offsets into texts_
  std::string bytes_;
  std::vector<std::uint32_t> bytes_begin_;
  std::vector<std::uint8_t> is_added_;
  std::vector<Slot> index_;  // open addressing with linear probing, power-of-two size
  bool has_shared_texts_ = false;
};

}  // namespace qguard::text
