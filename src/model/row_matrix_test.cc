// Matrices read in place in a GGUF block encoding give, bit for bit, what their decoded f32 copy
// gives: a layer matrix (kernels::Packing::kInPlace) what the copy packed as kF32 gives, on every
// kernel target this CPU runs; a RowMatrix (the embedding, the lm_head) the same for a full product,
// and the row-major kernels' results for its lookups and chosen rows. The decoding itself is
// checked against the numpy reference in io/gguf_blocks_test.cc and tests/gguf.
#include "model/row_matrix.hpp"

#include <cstring>
#include <random>

#include <doctest/doctest.h>

#include "kernels/dispatch.hpp"
#include "kernels/kernels.hpp"

using namespace qguard;

namespace {

struct BlockFormat {
  io::GgmlType type;
  std::size_t scale_offsets[2];  // where the block's f16 scales are (the second may repeat the first)
};

// Random blocks of `format` for a rows × cols matrix: random bytes, every f16 scale a finite, normal
// value (any other byte decodes to some finite value).
std::vector<std::byte> random_blocks(const BlockFormat& format, int rows, int cols, std::mt19937& rng) {
  const io::GgmlTypeTraits traits = *io::ggml_type_traits(static_cast<std::uint32_t>(format.type));
  const std::size_t blocks = static_cast<std::size_t>(rows) * cols / traits.block_values;
  std::vector<std::byte> bytes(blocks * traits.block_bytes);
  for (auto& b : bytes) b = static_cast<std::byte>(rng() & 0xFF);
  for (std::size_t block = 0; block < blocks; ++block) {
    for (const std::size_t offset : format.scale_offsets) {
      const std::uint16_t scale = 0x2000 + (rng() & 0x0FFF);
      std::memcpy(&bytes[block * traits.block_bytes + offset], &scale, sizeof scale);
    }
  }
  return bytes;
}

std::vector<float> random_input(std::size_t count, std::mt19937& rng) {
  std::vector<float> x(count);
  for (auto& v : x) v = std::uniform_real_distribution<float>(-1, 1)(rng);
  return x;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

constexpr BlockFormat kFormats[] = {{io::GgmlType::kQ8_0, {0, 0}},
                                    {io::GgmlType::kQ4_0, {0, 0}},
                                    {io::GgmlType::kQ4_K, {0, 2}},
                                    {io::GgmlType::kQ5_K, {0, 2}},
                                    {io::GgmlType::kQ6_K, {208, 208}}};

}  // namespace

TEST_CASE("a layer matrix read in place equals its decoded copy packed as f32, bit for bit, on every target") {
  // 77 rows: several panels on every target and a partial last one; 13 tokens: more than one tile.
  constexpr int kRows = 77, kCols = 512, kTokens = 13;
  std::mt19937 rng(13);
  kernels::ThreadPool pool(2);
  for (const BlockFormat& format : kFormats) {
    CAPTURE(io::ggml_type_traits(static_cast<std::uint32_t>(format.type))->name);
    const std::vector<std::byte> blocks = random_blocks(format, kRows, kCols, rng);
    std::vector<float> decoded(kRows * kCols);
    io::dequantize(format.type, blocks.data(), decoded.size(), decoded.data());
    for (const int tokens : {1, kTokens}) {
      const std::vector<float> x = random_input(static_cast<std::size_t>(tokens) * kCols, rng);
      for (const kernels::Target target : kernels::runnable_targets()) {
        CAPTURE(kernels::to_string(target));
        const kernels::TargetKernels& k = kernels::kernels_for(target);
        kernels::PackedMatrix in_place = kernels::in_place(format.type, kRows, kCols, blocks.data(), blocks.size());
        in_place.target = target;
        const kernels::PackedMatrix copy = k.pack({DType::kF32, decoded.data(), kRows, kCols}, kernels::Packing::kF32);
        std::vector<float> expected(static_cast<std::size_t>(tokens) * kRows), got(expected.size());
        k.matmul_one(pool, k.prepare_input(pool, x.data(), tokens, kCols, kernels::Packing::kF32), copy,
                     expected.data());
        k.matmul_one(pool, k.prepare_input(pool, x.data(), tokens, kCols, kernels::Packing::kInPlace), in_place,
                     got.data());
        CHECK(same_bits(expected, got));
      }
    }
  }
}

TEST_CASE("products of one input over in-place and packed matrices together equal them one by one") {
  // A GGUF file may hold one layer's q, k and v in place and packed: kernels::matmul runs each
  // packing's panels apart.
  constexpr int kRows = 77, kCols = 512, kTokens = 5;
  std::mt19937 rng(17);
  const std::vector<std::byte> q8 = random_blocks(kFormats[0], kRows, kCols, rng);
  const std::vector<std::byte> q6 = random_blocks(kFormats[4], kRows, kCols, rng);
  const std::vector<float> w = random_input(kRows * kCols, rng), x = random_input(kTokens * kCols, rng);
  const kernels::PackedMatrix m[] = {kernels::in_place(io::GgmlType::kQ8_0, kRows, kCols, q8.data(), q8.size()),
                                     kernels::pack({DType::kF32, w.data(), kRows, kCols}, kernels::Packing::kF32),
                                     kernels::in_place(io::GgmlType::kQ6_K, kRows, kCols, q6.data(), q6.size())};
  kernels::ThreadPool pool(2);
  std::vector<float> together[3], alone[3];
  kernels::Product products[3];
  for (int i = 0; i < 3; ++i) {
    together[i].assign(kTokens * kRows, NAN);
    alone[i].assign(kTokens * kRows, NAN);
    products[i] = {&m[i], together[i].data()};
  }
  const kernels::LayerInput in = kernels::prepare_input(pool, x.data(), kTokens, kCols, m[0]);
  kernels::matmul(pool, in, products);
  for (int i = 0; i < 3; ++i) {
    kernels::matmul(pool, x.data(), kTokens, m[i], alone[i].data());
    CHECK(same_bits(together[i], alone[i]));
  }
}

TEST_CASE("RowMatrix over Q8_0 blocks equals the kernels on the decoded f32 matrix, bit for bit") {
  constexpr int kRows = 600, kCols = 64, kTokens = 3;
  std::mt19937 rng(13);
  const std::vector<std::byte> blocks = random_blocks(kFormats[0], kRows, kCols, rng);
  const io::TensorView tensor{"w", DType::kF32, {kRows, kCols}, blocks.data(), blocks.size(), io::GgmlType::kQ8_0};
  std::vector<float> decoded(kRows * kCols);
  io::read_values(tensor, 0, decoded.size(), decoded.data());
  const std::vector<float> x = random_input(kTokens * kCols, rng);
  const kernels::MatrixView copy{DType::kF32, decoded.data(), kRows, kCols};
  const model::RowMatrix in_place(tensor, true);
  kernels::ThreadPool pool(2);

  std::vector<float> expected(kTokens * kRows), got(expected.size());
  kernels::matmul(pool, x.data(), kTokens, kernels::pack(copy, kernels::Packing::kF32), expected.data());
  in_place.matmul(pool, x.data(), kTokens, got.data());
  CHECK(same_bits(expected, got));

  const std::vector<std::int32_t> chosen = {599, 0, 256, 257, 17};
  std::vector<float> expected_rows(chosen.size()), got_rows(chosen.size());
  kernels::matvec_rows(x.data(), copy, chosen.data(), static_cast<int>(chosen.size()), expected_rows.data());
  in_place.matvec_rows(x.data(), chosen.data(), static_cast<int>(chosen.size()), got_rows.data());
  CHECK(same_bits(expected_rows, got_rows));

  std::vector<float> row(kCols);
  in_place.copy_row(599, row.data());
  CHECK(std::memcmp(row.data(), &decoded[599 * kCols], sizeof(float) * kCols) == 0);
  CHECK(in_place.bytes() == blocks.size());
}
