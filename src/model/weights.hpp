// Views of a Qwen3 checkpoint's tensors, checked against the config. Matrices point into the
// memory-mapped files where their dtype can be used directly (F32, BF16); only small norm vectors
// and F16 matrices (widened to f32) are copied.
#pragma once

#include <memory>
#include <vector>

#include "io/checkpoint.hpp"
#include "kernels/matmul.hpp"
#include "model/config.hpp"

namespace qguard::model {

// How matrices are held in memory. kAuto keeps the checkpoint's dtype (F16 becomes f32).
enum class WeightDtype { kAuto, kF32, kBF16 };

struct LayerWeights {
  std::vector<float> input_norm, q_norm, k_norm, post_attention_norm;
  kernels::MatrixView q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj;
};

struct Weights {
  kernels::MatrixView embed_tokens, lm_head;  // lm_head aliases embed_tokens when tied
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;
  std::vector<std::unique_ptr<std::uint16_t[]>> owned_bf16;  // storage of converted matrices
  std::vector<std::unique_ptr<float[]>> owned_f32;
  std::size_t matrix_bytes = 0;  // bytes of matrix storage as held (mapped or owned)
};

// Throws Error kMissingTensor / kShapeMismatch naming the tensor.
Weights bind_weights(const io::Checkpoint& checkpoint, const Config& config, WeightDtype dtype);

}  // namespace qguard::model
