#include <set>

#include "hub/hub.hpp"
#include "model/model_impl.hpp"
#include "qguard/error.hpp"

namespace qguard {
namespace {

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
  std::set<std::string> file_dtypes;
  for (const auto& [name, tensor] : decoder.checkpoint().tensors()) file_dtypes.emplace(dtype_name(tensor.dtype));
  info.file_dtypes.assign(file_dtypes.begin(), file_dtypes.end());
  // Layer matrices carry nearly all the compute; the embedding is read row by row in place.
  switch (decoder.weights().layers.front().q_proj.packing) {
    case kernels::Packing::kF32: info.weight_format = "F32"; break;
    case kernels::Packing::kBF16: info.weight_format = "BF16"; break;
    case kernels::Packing::kInt8: info.weight_format = "INT8"; break;
  }
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
  const std::vector<float> hidden = decoder.forward(ids, cache);
  const int rows = all_positions ? static_cast<int>(ids.size()) : 1;
  const float* first = hidden.data() + (ids.size() - rows) * decoder.config().hidden_size;
  return decoder.logits(first, rows);
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
  const std::vector<float> hidden = decoder.forward(ids, state_->cache);
  return decoder.logits(hidden.data() + (ids.size() - 1) * decoder.config().hidden_size, 1);
}

int Model::Session::length() const { return state_->cache.length(); }

}  // namespace qguard
