// The weights of a Qwen3 checkpoint, checked against the config. Layer matrices are packed once at
// load into the layout of the matrix-product kernel (kernels/packed_matmul.cc) in the dtype they
// are held in, or, GGUF blocks by default, read in place from the memory-mapped file
// (kernels::Packing::kInPlace); the embedding (and an untied lm_head) are read in place whatever
// their encoding (row_matrix.hpp). Norm vectors are copied to f32.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/checkpoint.hpp"
#include "kernels/kernels.hpp"
#include "kernels/thread_pool.hpp"
#include "model/config.hpp"
#include "model/pack_cache.hpp"
#include "model/row_matrix.hpp"
#include "qguard/model.hpp"

namespace qguard::model {

struct LayerWeights {
  std::vector<float> input_norm, q_norm, k_norm, post_attention_norm;
  kernels::PackedMatrix q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj;
};

struct Weights {
  RowMatrix embed_tokens, lm_head;  // lm_head is the embedding when tied
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;
  std::size_t matrix_bytes = 0;  // bytes of matrix storage used for compute (those read in place: in the file)
  kernels::PanelStorage pack_cache;  // the packed layer matrices, when read from a cache file
  std::string pack_cache_status;     // ModelInfo::pack_cache
};

// Throws Error kMissingTensor / kShapeMismatch naming the tensor. Packs on `pool`, or maps the
// packed matrices from `pack_cache_dir` when it holds them (and writes them there otherwise);
// an empty directory means no cache.
Weights bind_weights(const io::Checkpoint& checkpoint, const Config& config, WeightFormat format,
                     const std::string& pack_cache_dir, kernels::ThreadPool& pool);

}  // namespace qguard::model
