#include <map>
#include <set>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "hub/hub.hpp"
#include "model/model_impl.hpp"
#include "qguard/error.hpp"

namespace qguard {
namespace {

// What a tensor is, the same in every layer: "self_attn.q_proj" for model.layers.7.self_attn.q_proj.weight.
std::string tensor_role(std::string_view name) {
  constexpr std::string_view kLayers = "model.layers.", kModel = "model.", kWeight = ".weight";
  if (name.starts_with(kLayers)) name.remove_prefix(name.find('.', kLayers.size()) + 1);
  if (name.starts_with(kModel)) name.remove_prefix(kModel.size());
  if (name.ends_with(kWeight)) name.remove_suffix(kWeight.size());
  return std::string(name);
}

// How the layer matrices are held: "INT8", "F32", or for matrices read in place their encodings,
// "Q4_K, Q6_K blocks in place" (a list when they differ: "F32; Q4_K blocks in place").
std::string held_as(const std::vector<model::LayerWeights>& layers) {
  std::set<std::string> packed, in_place;
  for (const model::LayerWeights& layer : layers) {
    for (const kernels::PackedMatrix* m : {&layer.q_proj, &layer.k_proj, &layer.v_proj, &layer.o_proj, &layer.gate_proj,
                                           &layer.up_proj, &layer.down_proj}) {
      switch (m->packing) {
        case kernels::Packing::kF32: packed.insert("F32"); break;
        case kernels::Packing::kBF16: packed.insert("BF16"); break;
        case kernels::Packing::kInt8: packed.insert("INT8"); break;
        case kernels::Packing::kInPlace:
          in_place.insert(std::string(io::ggml_type_traits(static_cast<std::uint32_t>(m->encoding))->name));
          break;
      }
    }
  }
  if (!in_place.empty()) packed.insert(fmt::format("{} blocks in place", fmt::join(in_place, ", ")));
  return fmt::format("{}", fmt::join(packed, "; "));
}

ModelInfo describe(const model::Qwen3& decoder) {
  const model::Config& c = decoder.config();
  ModelInfo info;
  info.architecture = "Qwen3ForCausalLM";
  info.hidden_size = c.hidden_size;
  info.intermediate_size = c.intermediate_size;
  info.num_layers = c.num_layers;
  info.num_heads = c.num_heads;
  info.num_kv_heads = c.num_kv_heads;
  info.head_dim = c.head_dim;
  info.vocab_size = c.vocab_size;
  info.max_position_embeddings = c.max_position_embeddings;
  info.tie_word_embeddings = c.tie_word_embeddings;
  info.parameters = c.parameter_count();
  info.bytes_mapped = decoder.checkpoint().bytes_mapped();
  info.weight_bytes = decoder.weights().matrix_bytes;
  info.pack_cache = decoder.weights().pack_cache_status;
  info.file_format = decoder.file_format();
  struct TypeUse {
    int tensors = 0;
    std::size_t bytes = 0;
    std::set<std::string> roles;
  };
  std::map<std::string, TypeUse> types;
  for (const auto& [name, tensor] : decoder.checkpoint().tensors()) {
    TypeUse& use = types[std::string(tensor.type_name())];
    ++use.tensors;
    use.bytes += tensor.nbytes;
    use.roles.insert(tensor_role(name));
  }
  for (const auto& [type, use] : types) {
    info.file_dtypes.push_back(type);
    info.file_tensor_types.push_back(fmt::format("{}: {} tensors, {:.1f} MiB ({})", type, use.tensors,
                                                 use.bytes / 1048576.0, fmt::join(use.roles, ", ")));
  }
  // Layer matrices carry nearly all the compute; the embedding is read row by row in place.
  info.weight_format = held_as(decoder.weights().layers);
  return info;
}

}  // namespace

Model::State::State(const std::string& dir, const Model::Options& options)
    : decoder(dir, options.threads, options.weights, options.pack_cache_dir), info(describe(decoder)) {}

Model::Model(std::unique_ptr<State> state) : state_(std::move(state)) {}
Model::~Model() = default;

std::shared_ptr<const Model> Model::load(const std::string& dir, const Options& options) {
  if (options.threads < 0) throw Error(ErrorCode::kInvalidArgument, "Model::Options::threads must be >= 0");
  const std::string local_dir = hub::resolve(dir, hub::Need::kModel);
  return std::shared_ptr<const Model>(new Model(std::make_unique<State>(local_dir, options)));
}

const ModelInfo& Model::info() const { return state_->info; }

std::vector<float> Model::logits(const std::vector<std::int32_t>& ids, bool all_positions) const {
  if (ids.empty()) throw Error(ErrorCode::kInvalidArgument, "logits needs at least one token id");
  const model::Qwen3& decoder = state_->decoder;
  model::KvCache cache = decoder.new_cache();
  const std::vector<float> hidden =
      decoder.forward(ids, cache, all_positions ? model::Qwen3::Outputs::kAll : model::Qwen3::Outputs::kLast);
  return decoder.logits(hidden.data(), static_cast<int>(hidden.size()) / decoder.config().hidden_size);
}

struct Model::Session::State {
  std::shared_ptr<const Model> model;
  model::KvCache cache;
};

Model::Session::Session(std::shared_ptr<const Model> model)
    : state_(new State{model, model->state_->decoder.new_cache()}) {}
Model::Session::Session(Session&&) noexcept = default;
Model::Session::~Session() = default;

std::vector<float> Model::Session::append(const std::vector<std::int32_t>& ids) {
  if (ids.empty()) throw Error(ErrorCode::kInvalidArgument, "Session::append needs at least one token id");
  const model::Qwen3& decoder = state_->model->state_->decoder;
  const std::vector<float> hidden = decoder.forward(ids, state_->cache, model::Qwen3::Outputs::kLast);
  return decoder.logits(hidden.data(), 1);
}

int Model::Session::length() const { return state_->cache.length(); }

void Model::Session::reserve(int positions) {
  if (positions < 0) throw Error(ErrorCode::kInvalidArgument, "Session::reserve needs a count of positions >= 0");
  state_->model->state_->decoder.check_positions(positions);
  state_->cache.reserve(positions);
}

}  // namespace qguard
