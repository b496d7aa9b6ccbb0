#include "model/weights.hpp"

#include <malloc.h>

#include <algorithm>
#include <type_traits>

#include <fmt/format.h>

#include "kernels/convert.hpp"

namespace qguard::model {
namespace {

// How a layer matrix stored as `file` is held. kAuto keeps a block-quantized matrix near its
// size as int8 with one scale per row (docs/model.md, "GGUF files").
kernels::Packing held_packing(WeightFormat wanted, const io::TensorView& file) {
  switch (wanted) {
    case WeightFormat::kF32: return kernels::Packing::kF32;
    case WeightFormat::kBF16: return kernels::Packing::kBF16;
    case WeightFormat::kInt8: return kernels::Packing::kInt8;
    case WeightFormat::kAuto: break;
  }
  if (file.quantization) return kernels::Packing::kInt8;
  return file.dtype == DType::kBF16 ? kernels::Packing::kBF16 : kernels::Packing::kF32;
}

// `t` decoded to f32 (T = float) or rounded on to BF16 bits (T = std::uint16_t), chunks of rows
// spread over `pool`.
template <typename T>
std::vector<T> decode_rows(const io::TensorView& t, kernels::ThreadPool& pool) {
  const auto rows = static_cast<std::size_t>(t.shape[0]), cols = static_cast<std::size_t>(t.shape[1]);
  std::vector<T> out(rows * cols);
  constexpr std::size_t kChunkRows = 1024;
  pool.parallel_for((rows + kChunkRows - 1) / kChunkRows, [&](std::size_t chunk) {
    std::vector<float> row(cols);
    for (std::size_t r = chunk * kChunkRows; r < std::min(rows, (chunk + 1) * kChunkRows); ++r) {
      if constexpr (std::is_same_v<T, float>) {
        io::read_values(t, r * cols, cols, &out[r * cols]);
      } else {
        io::read_values(t, r * cols, cols, row.data());
        for (std::size_t c = 0; c < cols; ++c) out[r * cols + c] = kernels::f32_to_bf16(row[c]);
      }
    }
  });
  return out;
}

kernels::MatrixView view(const io::TensorView& t) {
  return {t.dtype, t.data, static_cast<int>(t.shape[0]), static_cast<int>(t.shape[1])};
}

std::vector<float> vector(const io::Checkpoint& checkpoint, const std::string& name, int size) {
  const auto& t = checkpoint.get(name, {size});
  std::vector<float> values(size);
  io::read_values(t, 0, size, values.data());
  return values;
}

kernels::PackedMatrix pack(const io::TensorView& t, kernels::Packing packing) {
  if (!t.quantization) return kernels::pack(view(t), packing);
  std::vector<float> values(static_cast<std::size_t>(t.shape[0]) * t.shape[1]);
  io::read_values(t, 0, values.size(), values.data());
  return kernels::pack({DType::kF32, values.data(), static_cast<int>(t.shape[0]), static_cast<int>(t.shape[1])},
                       packing);
}

}  // namespace

Weights bind_weights(const io::Checkpoint& checkpoint, const Config& c, WeightFormat format,
                     const std::string& pack_cache_dir, kernels::ThreadPool& pool) {
  Weights w;
  const int h = c.hidden_size;

  // Kernels read F32 and BF16 rows in place from the mapping; F16 is widened, and kF32 asks for
  // f32 everywhere. Block-quantized rows are decoded once, to BF16 unless kF32 asks for f32.
  auto row_major = [&](const std::string& name) {
    const io::TensorView& t = checkpoint.get(name, {c.vocab_size, h});
    kernels::MatrixView m{DType::kF32, t.data, c.vocab_size, h};
    if (t.quantization && format != WeightFormat::kF32) {
      m = {DType::kBF16, w.dequantized.emplace_back(decode_rows<std::uint16_t>(t, pool)).data(), m.rows, m.cols};
      checkpoint.release(t);  // the decoded copy is what is read from now on
    } else if (t.quantization || t.dtype == DType::kF16 || (format == WeightFormat::kF32 && t.dtype != DType::kF32)) {
      m = {DType::kF32, w.widened.emplace_back(decode_rows<float>(t, pool)).data(), m.rows, m.cols};
      checkpoint.release(t);
    } else {
      m = view(t);
    }
    w.matrix_bytes += static_cast<std::size_t>(m.rows) * m.cols * dtype_size(m.dtype);
    return m;
  };
  w.embed_tokens = row_major("model.embed_tokens.weight");
  // A tied checkpoint may still carry lm_head.weight (equal to the embedding); the embedding is used.
  w.lm_head = c.tie_word_embeddings ? w.embed_tokens : row_major("lm_head.weight");
  w.final_norm = vector(checkpoint, "model.norm.weight", h);

  // Check every layer tensor first (cheap), then map or pack all matrices.
  std::vector<PackedTensor> matrices;
  w.layers.resize(c.num_layers);
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    LayerWeights& layer = w.layers[l];
    layer.input_norm = vector(checkpoint, p + "input_layernorm.weight", h);
    layer.post_attention_norm = vector(checkpoint, p + "post_attention_layernorm.weight", h);
    layer.q_norm = vector(checkpoint, p + "self_attn.q_norm.weight", c.head_dim);
    layer.k_norm = vector(checkpoint, p + "self_attn.k_norm.weight", c.head_dim);
    auto matrix = [&](const char* name, kernels::PackedMatrix& target, int rows, int cols) {
      const io::TensorView& t = checkpoint.get(p + name, {rows, cols});
      matrices.push_back({p + name, &t, held_packing(format, t), &target});
    };
    matrix("self_attn.q_proj.weight", layer.q_proj, c.q_dim(), h);
    matrix("self_attn.k_proj.weight", layer.k_proj, c.kv_dim(), h);
    matrix("self_attn.v_proj.weight", layer.v_proj, c.kv_dim(), h);
    matrix("self_attn.o_proj.weight", layer.o_proj, h, c.q_dim());
    matrix("mlp.gate_proj.weight", layer.gate_proj, c.intermediate_size, h);
    matrix("mlp.up_proj.weight", layer.up_proj, c.intermediate_size, h);
    matrix("mlp.down_proj.weight", layer.down_proj, h, c.intermediate_size);
  }

  std::optional<PackCache> cache;
  if (!pack_cache_dir.empty()) {
    cache.emplace(pack_cache_dir, checkpoint, matrices);
    w.pack_cache = cache->map(matrices);
  }
  if (w.pack_cache) {
    w.pack_cache_status = "mapped " + cache->path().string();
  } else {
    pool.parallel_for(matrices.size(), [&](std::size_t i) {
      const PackedTensor& m = matrices[i];
      *m.target = pack(*m.tensor, m.packing);
      checkpoint.release(*m.tensor);  // the packed copy is what is read from now on
    });
    if (cache) {
      const auto failure = cache->write(matrices);
      w.pack_cache_status = failure ? "not written: " + *failure : "written " + cache->path().string();
    } else {
      w.pack_cache_status = "off";
    }
  }
  for (const PackedTensor& m : matrices) w.matrix_bytes += m.target->bytes;
  // Decoding block-quantized matrices allocated and freed an f32 copy of each; glibc keeps such
  // freed chunks in its arenas (resident) unless asked to return them.
  if (std::any_of(matrices.begin(), matrices.end(), [](const PackedTensor& m) { return m.tensor->quantization; })) {
    ::malloc_trim(0);
  }
  return w;
}

}  // namespace qguard::model
