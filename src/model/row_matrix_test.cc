// A block-quantized matrix read in place gives, bit for bit, what its decoded f32 copy gives to the
// same kernels: the embedding lookup, the full product (decoded in blocks of rows on the pool,
// including a partial last block) and the product with chosen rows. The decoding itself is checked
// against the numpy reference in io/gguf_blocks_test.cc and tests/gguf.
#include "model/row_matrix.hpp"

#include <cstring>
#include <random>

#include <doctest/doctest.h>

#include "kernels/kernels.hpp"

using namespace qguard;

TEST_CASE("RowMatrix over Q8_0 blocks equals the kernels on the decoded f32 matrix, bit for bit") {
  constexpr int kRows = 600, kCols = 64, kTokens = 3;  // 600 rows: two whole blocks of 256 and 88
  constexpr std::size_t kBlockBytes = 34, kBlocksPerRow = kCols / 32;
  std::mt19937 rng(13);
  std::vector<std::byte> blocks(kRows * kBlocksPerRow * kBlockBytes);
  for (auto& b : blocks) b = static_cast<std::byte>(rng() & 0xFF);
  for (std::size_t block = 0; block < kRows * kBlocksPerRow; ++block) {
    const std::uint16_t scale = 0x2000 + (rng() & 0x0FFF);  // a finite, normal f16 scale
    std::memcpy(&blocks[block * kBlockBytes], &scale, sizeof scale);
  }
  const io::TensorView tensor{"w", DType::kF32, {kRows, kCols}, blocks.data(), blocks.size(), io::GgmlType::kQ8_0};
  std::vector<float> decoded(kRows * kCols), x(kTokens * kCols);
  io::read_values(tensor, 0, decoded.size(), decoded.data());
  for (auto& v : x) v = std::uniform_real_distribution<float>(-1, 1)(rng);
  const kernels::MatrixView copy{DType::kF32, decoded.data(), kRows, kCols};
  const model::RowMatrix in_place(tensor, true);
  kernels::ThreadPool pool(2);

  std::vector<float> expected(kTokens * kRows), got(expected.size());
  kernels::matmul(pool, x.data(), kTokens, copy, expected.data());
  in_place.matmul(pool, x.data(), kTokens, got.data());
  CHECK(std::memcmp(expected.data(), got.data(), got.size() * sizeof(float)) == 0);

  const std::vector<std::int32_t> chosen = {599, 0, 256, 257, 17};
  std::vector<float> expected_rows(chosen.size()), got_rows(chosen.size());
  kernels::matvec_rows(x.data(), copy, chosen.data(), static_cast<int>(chosen.size()), expected_rows.data());
  in_place.matvec_rows(x.data(), chosen.data(), static_cast<int>(chosen.size()), got_rows.data());
  CHECK(std::memcmp(expected_rows.data(), got_rows.data(), got_rows.size() * sizeof(float)) == 0);

  std::vector<float> row(kCols);
  in_place.copy_row(599, row.data());
  CHECK(std::memcmp(row.data(), &decoded[599 * kCols], sizeof(float) * kCols) == 0);
  CHECK(in_place.bytes() == blocks.size());
}
