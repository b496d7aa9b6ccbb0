#include "model/weights.hpp"

#include <fmt/format.h>

#include "kernels/convert.hpp"

namespace qguard::model {
namespace {

class Binder {
 public:
  Binder(const io::Checkpoint& checkpoint, WeightDtype dtype, Weights& out)
      : checkpoint_(checkpoint), dtype_(dtype), out_(out) {}

  std::vector<float> vector(const std::string& name, int size) {
    const auto& t = checkpoint_.get(name, {size});
    std::vector<float> values(size);
    kernels::widen(t.data, t.dtype, size, values.data());
    return values;
  }

  kernels::MatrixView matrix(const std::string& name, int rows, int cols) {
    return from_tensor(checkpoint_.get(name, {rows, cols}));
  }

  kernels::MatrixView from_tensor(const io::TensorView& t) {
    kernels::MatrixView m{t.dtype, t.data, static_cast<int>(t.shape[0]), static_cast<int>(t.shape[1])};
    const DType wanted = dtype_ == WeightDtype::kF32 ? DType::kF32
                         : dtype_ == WeightDtype::kBF16 ? DType::kBF16
                         : t.dtype == DType::kF16 ? DType::kF32 : t.dtype;
    const std::size_t count = static_cast<std::size_t>(m.rows) * m.cols;
    if (wanted == DType::kF32 && t.dtype != DType::kF32) {
      auto& storage = out_.owned_f32.emplace_back(new float[count]);
      kernels::widen(t.data, t.dtype, count, storage.get());
      m = {DType::kF32, storage.get(), m.rows, m.cols};
    } else if (wanted == DType::kBF16 && t.dtype != DType::kBF16) {
      auto& storage = out_.owned_bf16.emplace_back(new std::uint16_t[count]);
      std::vector<float> row(m.cols);
      for (int r = 0; r < m.rows; ++r) {
        kernels::copy_row(m, r, row.data());
        kernels::narrow_to_bf16(row.data(), m.cols, storage.get() + static_cast<std::size_t>(r) * m.cols);
      }
      m = {DType::kBF16, storage.get(), m.rows, m.cols};
    }
    out_.matrix_bytes += count * dtype_size(m.dtype);
    return m;
  }

 private:
  const io::Checkpoint& checkpoint_;
  WeightDtype dtype_;
  Weights& out_;
};

}  // namespace

Weights bind_weights(const io::Checkpoint& checkpoint, const Config& c, WeightDtype dtype) {
  Weights w;
  Binder bind(checkpoint, dtype, w);
  const int h = c.hidden_size;
  w.embed_tokens = bind.matrix("model.embed_tokens.weight", c.vocab_size, h);
  // A tied checkpoint may still carry lm_head.weight (equal to the embedding); the embedding is used.
  w.lm_head = c.tie_word_embeddings ? w.embed_tokens : bind.matrix("lm_head.weight", c.vocab_size, h);
  w.final_norm = bind.vector("model.norm.weight", h);
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    LayerWeights& layer = w.layers.emplace_back();
    layer.input_norm = bind.vector(p + "input_layernorm.weight", h);
    layer.post_attention_norm = bind.vector(p + "post_attention_layernorm.weight", h);
    layer.q_norm = bind.vector(p + "self_attn.q_norm.weight", c.head_dim);
    layer.k_norm = bind.vector(p + "self_attn.k_norm.weight", c.head_dim);
    layer.q_proj = bind.matrix(p + "self_attn.q_proj.weight", c.q_dim(), h);
    layer.k_proj = bind.matrix(p + "self_attn.k_proj.weight", c.kv_dim(), h);
    layer.v_proj = bind.matrix(p + "self_attn.v_proj.weight", c.kv_dim(), h);
    layer.o_proj = bind.matrix(p + "self_attn.o_proj.weight", h, c.q_dim());
    layer.gate_proj = bind.matrix(p + "mlp.gate_proj.weight", c.intermediate_size, h);
    layer.up_proj = bind.matrix(p + "mlp.up_proj.weight", c.intermediate_size, h);
    layer.down_proj = bind.matrix(p + "mlp.down_proj.weight", h, c.intermediate_size);
  }
  return w;
}

}  // namespace qguard::model
