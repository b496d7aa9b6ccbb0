// The weights of a Qwen3 checkpoint, checked against the config. Layer matrices are packed once at
// load into the layout of the matrix-product kernel (kernels/packed_matmul.hpp) in the dtype they
// are held in; the embedding (and an untied lm_head) are used in place from the memory-mapped file,
// row by row (block-quantized ones are decoded once). Norm vectors are copied to f32.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/checkpoint.hpp"
#include "kernels/kernels.hpp"
#include "kernels/thread_pool.hpp"
#include "model/config.hpp"
#include "model/pack_cache.hpp"
#include "qguard/model.hpp"

namespace qguard::model {


struct LayerWeights {
  std::vector<float> input_norm, q_norm, k_norm, post_attention_norm;
  kernels::PackedMatrix q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj;
};

struct Weights {
  kernels::MatrixView embed_tokens, lm_head;  // lm_head aliases embed_tokens when tied
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;
  std::vector<std::vector<float>> widened;  // f32 copies of embedding / lm_head when held as f32
  std::vector<std::vector<std::uint16_t>> dequantized;  // BF16 copies of block-quantized embedding / lm_head
  std::size_t matrix_bytes = 0;             // bytes of matrix storage used for compute
  std::optional<io::MappedFile> pack_cache;  // the packed layer matrices, when mapped from a cache file
  std::string pack_cache_status;             // ModelInfo::pack_cache
};

// Throws Error kMissingTensor / kShapeMismatch naming the tensor. Packs on `pool`, or maps the
// packed matrices from `pack_cache_dir` when it holds them (and writes them there otherwise);
// an empty directory means no cache.
Weights bind_weights(const io::Checkpoint& checkpoint, const Config& config, WeightFormat format,
                     const std::string& pack_cache_dir, kernels::ThreadPool& pool);

}  // namespace qguard::model
