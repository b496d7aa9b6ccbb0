#include "model/weights.hpp"

#include <malloc.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <string_view>

#include <fmt/format.h>

#include "qguard/error.hpp"

namespace qguard::model {
namespace {

// How a layer matrix stored as `file` is held. kAuto runs a block-quantized matrix in its file
// encoding, read in place: memory stays at the file's size, and products are exact (docs/model.md,
// "GGUF files").
kernels::Packing held_packing(WeightFormat wanted, const io::TensorView& file) {
  switch (wanted) {
    case WeightFormat::kF32: return kernels::Packing::kF32;
    case WeightFormat::kBF16: return kernels::Packing::kBF16;
    case WeightFormat::kInt8: return kernels::Packing::kInt8;
    case WeightFormat::kAuto: break;
  }
  if (file.quantization) return kernels::Packing::kInPlace;
  return file.dtype == DType::kBF16 ? kernels::Packing::kBF16 : kernels::Packing::kF32;
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

// The decoder layers the checkpoint holds (the N of its "model.layers.N." tensors) must be exactly
// 0 .. num_layers-1; checked before anything is sized by num_layers, so a config that does not
// belong to the weights is named as such rather than allocated for.
void check_layer_count(const io::Checkpoint& checkpoint, const Config& c) {
  constexpr std::string_view kPrefix = "model.layers.";
  std::set<int> layers;
  for (const auto& [name, tensor] : checkpoint.tensors()) {
    if (!name.starts_with(kPrefix)) continue;
    const char* digits = name.data() + kPrefix.size();
    int layer = -1;
    if (std::from_chars(digits, name.data() + name.size(), layer).ec == std::errc()) layers.insert(layer);
  }
  const bool numbered_from_zero =
      !layers.empty() && *layers.begin() == 0 && *layers.rbegin() == static_cast<int>(layers.size()) - 1;
  if (!numbered_from_zero || static_cast<int>(layers.size()) != c.num_layers) {
    throw Error(ErrorCode::kShapeMismatch,
                fmt::format("config.json says num_hidden_layers = {} but the checkpoint's tensors hold {} layer(s){}; "
                            "the config does not belong to these weights (re-download the model directory)",
                            c.num_layers, layers.size(),
                            layers.empty() || numbered_from_zero ? "" : " not numbered 0, 1, 2, ..."));
  }
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

  // Kernels read F32 and BF16 rows in place from the mapping; other encodings are decoded row by
  // row when used, as is BF16 when kF32 asks for f32 everywhere.
  auto row_major = [&](const std::string& name) {
    const io::TensorView& t = checkpoint.get(name, {c.vocab_size, h});
    const bool decode =
        t.quantization || t.dtype == DType::kF16 || (format == WeightFormat::kF32 && t.dtype != DType::kF32);
    w.matrix_bytes += t.nbytes;
    return RowMatrix(t, decode);
  };
  w.embed_tokens = row_major("model.embed_tokens.weight");
  // A tied checkpoint may still carry lm_head.weight (equal to the embedding); the embedding is used.
  w.lm_head = c.tie_word_embeddings ? w.embed_tokens : row_major("lm_head.weight");
  w.final_norm = vector(checkpoint, "model.norm.weight", h);

  // Check every layer tensor first (cheap), then map or pack all matrices.
  check_layer_count(checkpoint, c);
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
      const kernels::Packing packing = held_packing(format, t);
      if (packing == kernels::Packing::kInPlace) {
        target = kernels::in_place(t.encoding(), rows, cols, t.data, t.nbytes);
        w.matrix_bytes += t.nbytes;
      } else {
        matrices.push_back({p + name, &t, packing, &target});
      }
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
  if (!pack_cache_dir.empty() && !matrices.empty()) {
    cache.emplace(pack_cache_dir, checkpoint, matrices);
    w.pack_cache = cache->read(matrices, pool);
  }
  if (w.pack_cache) {
    w.pack_cache_status = "read " + cache->path().string();
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
      w.pack_cache_status =
          pack_cache_dir.empty() ? "off" : "not used: every layer matrix is read in place from the file";
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
