// A toy vocabulary: byte b has id b, merged tokens have ids from 1000 up.
#include "text/bpe.hpp"

#include <numeric>
#include <string>
#include <vector>

#include <doctest/doctest.h>

using qguard::text::BytePairEncoder;

namespace {
BytePairEncoder toy_encoder(const std::vector<qguard::text::MergeRule>& rules_in_rank_order) {
  std::array<std::int32_t, 256> byte_ids{};
  std::iota(byte_ids.begin(), byte_ids.end(), 0);
  return BytePairEncoder(byte_ids, rules_in_rank_order);
}
std::vector<std::int32_t> encode(const BytePairEncoder& encoder, std::string_view piece) {
  std::vector<std::int32_t> ids;
  BytePairEncoder::Scratch scratch;
  encoder.encode(piece, scratch, ids);
  return ids;
}
using Ids = std::vector<std::int32_t>;
}  // namespace

TEST_CASE("lower rank merges first, wherever it is") {
  const auto encoder = toy_encoder({{'b', 'c', 1000}, {'a', 'b', 1001}});
  CHECK(encode(encoder, "abc") == Ids{'a', 1000});  // "bc" beats "ab"
  CHECK(encode(encoder, "ab") == Ids{1001});
  CHECK(encode(encoder, "x") == Ids{'x'});
  CHECK(encode(encoder, "xyz") == Ids{'x', 'y', 'z'});
}

TEST_CASE("equal ranks merge leftmost first, and merged symbols merge again") {
  const auto encoder = toy_encoder({{'a', 'a', 1000}, {1000, 1000, 1001}, {1000, 'a', 1002}});
  CHECK(encode(encoder, "aaa") == Ids{1002});
  CHECK(encode(encoder, "aaaa") == Ids{1001});
  CHECK(encode(encoder, "aaaaa") == Ids{1001, 'a'});
}

TEST_CASE("a merge of an absorbed symbol is not applied") {
  // After "ab" merges, the stale candidate (b, c) must not fire; ("ab", "c") is not a merge.
  const auto encoder = toy_encoder({{'a', 'b', 1000}, {'b', 'c', 1001}});
  CHECK(encode(encoder, "abc") == Ids{1000, 'c'});
  CHECK(encode(encoder, "bc") == Ids{1001});
}

TEST_CASE("registering a pair again keeps the later rank") {
  const auto encoder = toy_encoder({{'a', 'b', 1000}, {'b', 'c', 1001}, {'a', 'b', 1000}});
  CHECK(encode(encoder, "abc") == Ids{'a', 1001});  // (a,b) now ranks 2, after (b,c)
}

TEST_CASE("a long piece merges in O(n log n) and stays exact") {
  const auto encoder = toy_encoder({{'a', 'a', 1000}, {1000, 1000, 1001}});
  const std::string piece(200001, 'a');
  const auto ids = encode(encoder, piece);
  REQUIRE(ids.size() == 50001);  // 50000 "aaaa" then the odd "a"
  CHECK(ids.front() == 1001);
  CHECK(ids[49999] == 1001);
  CHECK(ids.back() == 'a');
}
