// Decoding of every GGUF tensor type, block by block, against the Python reference's decoding
// (tests/gguf/gguf_format.py, written from the format description) of the same random blocks.
#include "io/gguf_blocks.hpp"

#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <vector>

#include <doctest/doctest.h>

#include "io/gguf.hpp"

using qguard::io::GgufFile;

TEST_CASE("every tensor type decodes bit for bit as the reference decodes it") {
  const std::string dir = QGUARD_GGUF_FIXTURES;
  const GgufFile file = GgufFile::open(dir + "/blocks.gguf");
  std::ifstream expected_file(dir + "/blocks.f32", std::ios::binary);
  REQUIRE(expected_file.good());
  std::set<std::string_view> types;
  for (const qguard::io::GgufTensor& tensor : file.tensors()) {
    const auto traits = *qguard::io::ggml_type_traits(static_cast<std::uint32_t>(tensor.type));
    types.insert(traits.name);
    const std::size_t count = static_cast<std::size_t>(tensor.dims[0] * tensor.dims[1]);
    std::vector<float> expected(count), got(count);
    expected_file.read(reinterpret_cast<char*>(expected.data()), static_cast<std::streamsize>(count * 4));
    REQUIRE(expected_file.good());
    qguard::io::dequantize(tensor.type, tensor.data, count, got.data());
    for (std::size_t block = 0; block < count / traits.block_values; ++block) {
      const std::size_t first = block * traits.block_values;
      CAPTURE(traits.name);
      CAPTURE(block);
      REQUIRE(std::memcmp(&got[first], &expected[first], traits.block_values * sizeof(float)) == 0);
    }
  }
  CHECK(types == std::set<std::string_view>{"F32", "F16", "BF16", "Q4_0", "Q8_0", "Q4_K", "Q5_K", "Q6_K"});
}

TEST_CASE("F16 decodes every one of the 65,536 bit patterns as IEEE binary16 defines it") {
  std::vector<std::uint16_t> patterns(65536);
  for (std::size_t i = 0; i < patterns.size(); ++i) patterns[i] = static_cast<std::uint16_t>(i);
  std::vector<float> got(patterns.size());
  qguard::io::dequantize(qguard::io::GgmlType::kF16, reinterpret_cast<const std::byte*>(patterns.data()),
                         patterns.size(), got.data());
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    const int exponent = static_cast<int>(i >> 10) & 0x1f, mantissa = static_cast<int>(i) & 0x3ff;
    const float magnitude = exponent == 0    ? std::ldexp(static_cast<float>(mantissa), -24)
                            : exponent == 31 ? (mantissa ? NAN : INFINITY)
                                             : std::ldexp(static_cast<float>(1024 + mantissa), exponent - 25);
    const float expected = (i & 0x8000) ? -magnitude : magnitude;
    CAPTURE(i);
    if (std::isnan(expected)) {
      REQUIRE(std::isnan(got[i]));
    } else {
      REQUIRE(std::memcmp(&got[i], &expected, sizeof expected) == 0);  // the sign of zero too
    }
  }
}
