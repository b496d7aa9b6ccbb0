#include "text/vocabulary.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#include <fmt/format.h>

#include "qguard/error.hpp"
#include "text/byte_level.hpp"
#include "text/hash.hpp"

namespace qguard::text {
namespace {

std::size_t hash_text(std::string_view text) { return hash_bytes(text); }
std::uint32_t tag_of(std::size_t hash) { return static_cast<std::uint32_t>(static_cast<std::uint64_t>(hash) >> 32); }

// How many lookups run ahead of the one being resolved: enough to cover a cache miss.
constexpr std::size_t kLookahead = 16;

// Appends the bytes a byte-level token text stands for; false if it is not made of the alphabet's
// characters (all below U+0800, so one or two UTF-8 bytes each).
bool append_byte_level_decoded(std::string_view text, std::string& out) {
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    char32_t c = lead;
    if (lead >= 0x80) {
      if ((lead & 0xE0) != 0xC0 || i + 1 >= text.size() || (static_cast<unsigned char>(text[i + 1]) & 0xC0) != 0x80) {
        return false;
      }
      c = ((lead & 0x1Fu) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3Fu);
      ++i;
    }
    ++i;
    if (c >= kByteLevelAlphabetEnd || kCodePointToByte[c] < 0) return false;
    out += static_cast<char>(kCodePointToByte[c]);
  }
  return true;
}

}  // namespace

Vocabulary::Vocabulary(const std::vector<TokenEntry>& tokens) {
  const std::size_t count = tokens.size();
  if (count >= INT32_MAX) throw Error(ErrorCode::kMalformedJson, "the vocabulary has too many tokens");
  // Place each text by id: lengths first, then offsets, then the bytes.
  constexpr std::uint8_t kUnassigned = 2;
  is_added_.assign(count, kUnassigned);
  text_begin_.assign(count + 1, 0);
  for (const TokenEntry& token : tokens) {
    if (token.id < 0 || static_cast<std::size_t>(token.id) >= count) {
      throw Error(ErrorCode::kMalformedJson,
                  fmt::format("token id {} is outside [0, {}): ids must number the tokens", token.id, count));
    }
    if (is_added_[static_cast<std::size_t>(token.id)] != kUnassigned) {
      throw Error(ErrorCode::kMalformedJson, fmt::format("token id {} is used twice", token.id));
    }
    is_added_[static_cast<std::size_t>(token.id)] = token.is_added ? 1 : 0;
    text_begin_[static_cast<std::size_t>(token.id) + 1] = static_cast<std::uint32_t>(token.text.size());
  }
  std::uint64_t total_text = 0;
  for (std::size_t id = 0; id < count; ++id) {
    total_text += text_begin_[id + 1];
    if (total_text >= UINT32_MAX) throw Error(ErrorCode::kMalformedJson, "the vocabulary's texts exceed 4 GiB");
    text_begin_[id + 1] = static_cast<std::uint32_t>(total_text);
  }
  texts_.resize(total_text);
  for (const TokenEntry& token : tokens) {
    std::memcpy(texts_.data() + text_begin_[static_cast<std::size_t>(token.id)], token.text.data(), token.text.size());
  }

  bytes_.reserve(total_text);
  bytes_begin_.reserve(count + 1);
  bytes_begin_.push_back(0);
  for (std::size_t id = 0; id < count; ++id) {
    const std::string_view token_text = text(static_cast<std::int32_t>(id));
    if (is_added_[id]) {
      bytes_.append(token_text);
    } else if (!append_byte_level_decoded(token_text, bytes_)) {
      throw Error(ErrorCode::kMalformedJson,
                  fmt::format("vocabulary token {} is not written in the byte-level alphabet", id));
    }
    bytes_begin_.push_back(static_cast<std::uint32_t>(bytes_.size()));
  }

  // At most 3/4 full, so probes stay short. Model tokens go in first, so that an added token
  // replaces a model token with the same text; inserts run ahead to overlap their cache misses.
  index_.assign(std::bit_ceil(count + count / 3 + 1), Slot{});
  const auto insert = [&](std::size_t id, std::size_t hash) {
    const std::string_view token_text = text(static_cast<std::int32_t>(id));
    const std::uint32_t tag = tag_of(hash);
    for (std::size_t slot = home_slot(hash);; slot = (slot + 1) & (index_.size() - 1)) {
      Slot& entry = index_[slot];
      if (entry.id >= 0 && !(entry.tag == tag && text(entry.id) == token_text)) continue;
      has_shared_texts_ |= entry.id >= 0;
      entry = Slot{static_cast<std::int32_t>(id), tag, text_begin_[id], static_cast<std::uint32_t>(token_text.size())};
      return;
    }
  };
  std::array<std::size_t, 2 * kLookahead> hashes{};  // a ring: the hashes of the next ids
  const auto hash_of = [&](std::size_t id) -> std::size_t& { return hashes[id % hashes.size()]; };
  for (std::size_t id = 0; id < std::min(kLookahead, count); ++id) hash_of(id) = hash_text(text(static_cast<std::int32_t>(id)));
  std::vector<std::size_t> added_ids;
  for (std::size_t id = 0; id < count; ++id) {
    if (id + kLookahead < count) {
      hash_of(id + kLookahead) = hash_text(text(static_cast<std::int32_t>(id + kLookahead)));
      __builtin_prefetch(&index_[home_slot(hash_of(id + kLookahead))], 1);
    }
    if (is_added_[id]) {
      added_ids.push_back(id);
    } else {
      insert(id, hash_of(id));
    }
  }
  for (const std::size_t id : added_ids) insert(id, hash_text(text(static_cast<std::int32_t>(id))));
}

std::int32_t Vocabulary::find_hashed(std::string_view token_text, std::size_t hash) const {
  if (index_.empty()) return -1;
  const std::uint32_t tag = tag_of(hash);
  for (std::size_t slot = home_slot(hash); index_[slot].id >= 0; slot = (slot + 1) & (index_.size() - 1)) {
    const Slot& entry = index_[slot];
    if (entry.tag == tag && std::string_view(texts_).substr(entry.text_offset, entry.text_length) == token_text) {
      return entry.id;
    }
  }
  return -1;
}

std::optional<std::int32_t> Vocabulary::find(std::string_view token_text) const {
  const std::int32_t id = find_hashed(token_text, hash_text(token_text));
  return id >= 0 ? std::optional<std::int32_t>(id) : std::nullopt;
}

void Vocabulary::find_all(const std::vector<std::string_view>& queries, std::vector<std::int32_t>& ids) const {
  ids.assign(queries.size(), -1);
  if (index_.empty()) return;
  // A pipeline: fetch the home slot of query i + 2k, then the text that slot points at for
  // query i + k, then resolve query i with both most likely in cache. `hashes` is a ring.
  std::array<std::size_t, 4 * kLookahead> hashes{};
  const auto hash_of = [&](std::size_t i) -> std::size_t& { return hashes[i % hashes.size()]; };
  for (std::size_t i = 0; i < std::min(2 * kLookahead, queries.size()); ++i) hash_of(i) = hash_text(queries[i]);
  for (std::size_t i = 0; i < queries.size(); ++i) {
    if (i + 2 * kLookahead < queries.size()) {
      hash_of(i + 2 * kLookahead) = hash_text(queries[i + 2 * kLookahead]);
      __builtin_prefetch(&index_[home_slot(hash_of(i + 2 * kLookahead))]);
    }
    if (i + kLookahead < queries.size()) {
      __builtin_prefetch(texts_.data() + index_[home_slot(hash_of(i + kLookahead))].text_offset);
    }
    ids[i] = find_hashed(queries[i], hash_of(i));
  }
}

}  // namespace qguard::text
