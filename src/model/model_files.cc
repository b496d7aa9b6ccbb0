#include "model/model_files.hpp"

#include <array>
#include <charconv>
#include <utility>

#include <fmt/format.h>

#include "io/gguf.hpp"
#include "qguard/error.hpp"

namespace qguard::model {
namespace {

namespace fs = std::filesystem;

// llama.cpp's tensor names of a Qwen3 block, and Hugging Face's.
constexpr std::array<std::pair<std::string_view, std::string_view>, 11> kBlockTensors = {{
    {"attn_norm.weight", "input_layernorm.weight"},
    {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_k.weight", "self_attn.k_proj.weight"},
    {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_output.weight", "self_attn.o_proj.weight"},
    {"attn_q_norm.weight", "self_attn.q_norm.weight"},
    {"attn_k_norm.weight", "self_attn.k_norm.weight"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},
    {"ffn_down.weight", "mlp.down_proj.weight"},
}};

// The Hugging Face name of a GGUF tensor; names qguard does not use are kept as they are.
std::string hugging_face_name(std::string_view name) {
  if (name == "token_embd.weight") return "model.embed_tokens.weight";
  if (name == "output_norm.weight") return "model.norm.weight";
  if (name == "output.weight") return "lm_head.weight";
  constexpr std::string_view kBlock = "blk.";
  if (!name.starts_with(kBlock)) return std::string(name);
  const std::string_view rest = name.substr(kBlock.size());
  int layer = -1;
  const auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), layer);
  if (error != std::errc() || end == rest.data() + rest.size() || *end != '.') return std::string(name);
  const std::string_view suffix(end + 1, rest.data() + rest.size() - end - 1);
  for (const auto& [gguf, hugging_face] : kBlockTensors) {
    if (suffix == gguf) return fmt::format("model.layers.{}.{}", layer, hugging_face);
  }
  return std::string(name);
}

int config_int(const io::GgufFile& gguf, const std::string& key) {
  const std::uint64_t value = gguf.required_unsigned(key);
  if (value == 0 || value > static_cast<std::uint64_t>(kMaxConfigInt)) {
    throw Error(ErrorCode::kUnsupportedModel,
                fmt::format("'{}': metadata '{}' = {} is out of range", gguf.path().string(), key, value));
  }
  return static_cast<int>(value);
}

double required_float(const io::GgufFile& gguf, const std::string& key) {
  const std::optional<double> value = gguf.float_value(key);
  if (!value) {
    throw Error(ErrorCode::kUnsupportedModel,
                fmt::format("'{}' lacks the metadata '{}', which qguard needs", gguf.path().string(), key));
  }
  return *value;
}

Config gguf_config(const io::GgufFile& gguf) {
  const std::string file = gguf.path().string();
  const std::string_view architecture = gguf.required_string("general.architecture");
  if (architecture != "qwen3") {
    throw Error(ErrorCode::kUnsupportedModel,
                fmt::format("'{}' holds a model of architecture '{}'; qguard runs qwen3 models (Qwen3Guard-Gen "
                            "0.6B/4B/8B)",
                            file, architecture));
  }
  const std::string a = "qwen3.";
  Config c;
  c.hidden_size = config_int(gguf, a + "embedding_length");
  c.intermediate_size = config_int(gguf, a + "feed_forward_length");
  c.num_layers = config_int(gguf, a + "block_count");
  c.num_heads = config_int(gguf, a + "attention.head_count");
  c.num_kv_heads = config_int(gguf, a + "attention.head_count_kv");
  c.head_dim = config_int(gguf, a + "attention.key_length");
  if (gguf.find(a + "attention.value_length") && config_int(gguf, a + "attention.value_length") != c.head_dim) {
    throw Error(ErrorCode::kUnsupportedModel,
                fmt::format("'{}': attention.value_length differs from key_length", file));
  }
  c.max_position_embeddings = config_int(gguf, a + "context_length");
  c.rms_norm_eps = required_float(gguf, a + "attention.layer_norm_rms_epsilon");
  c.rope_theta = required_float(gguf, a + "rope.freq_base");
  if (const auto scaling = gguf.string_value(a + "rope.scaling.type"); scaling && *scaling != "none") {
    throw Error(ErrorCode::kUnsupportedModel,
                fmt::format("'{}': rope scaling '{}' is not implemented", file, *scaling));
  }
  if (const auto id = gguf.unsigned_value("tokenizer.ggml.bos_token_id"); id && *id <= kMaxConfigInt) {
    c.bos_token_id = static_cast<int>(*id);
  }
  if (const auto id = gguf.unsigned_value("tokenizer.ggml.eos_token_id"); id && *id <= kMaxConfigInt) {
    c.eos_token_id = static_cast<int>(*id);
  }
  return c;
}

ModelFiles open_gguf(const fs::path& path) {
  io::GgufFile gguf = io::GgufFile::open(path);
  Config config = gguf_config(gguf);
  std::map<std::string, io::TensorView, std::less<>> tensors;
  for (const io::GgufTensor& t : gguf.tensors()) {
    const io::GgmlTypeTraits traits = *io::ggml_type_traits(static_cast<std::uint32_t>(t.type));
    io::TensorView view{
        hugging_face_name(t.name), DType::kF32, {t.dims.rbegin(), t.dims.rend()}, t.data, t.nbytes, std::nullopt};
    if (t.type == io::GgmlType::kF16) view.dtype = DType::kF16;
    if (t.type == io::GgmlType::kBF16) view.dtype = DType::kBF16;
    if (traits.quantized) view.quantization = t.type;
    if (!tensors.emplace(view.name, view).second) {
      throw Error(ErrorCode::kCorruptFile, fmt::format("'{}': two tensors are named '{}'", path.string(), view.name));
    }
  }
  const auto embedding = tensors.find("model.embed_tokens.weight");
  if (embedding == tensors.end() || embedding->second.shape.size() != 2) {
    throw Error(ErrorCode::kMissingTensor, fmt::format("'{}' has no 2-D token_embd.weight", path.string()));
  }
  if (embedding->second.shape[0] > kMaxConfigInt) {
    throw Error(ErrorCode::kUnsupportedModel, fmt::format("'{}': token_embd.weight has {} rows, too many",
                                                          path.string(), embedding->second.shape[0]));
  }
  config.vocab_size = static_cast<int>(embedding->second.shape[0]);
  config.tie_word_embeddings = !tensors.contains("lm_head.weight");
  if (const auto problem = config_problem(config)) {
    throw Error(ErrorCode::kUnsupportedModel, fmt::format("'{}': {}", path.string(), *problem));
  }
  const std::string format = fmt::format("GGUF v{}", gguf.version());
  return {std::move(config), io::Checkpoint::adopt(path, std::move(gguf).take_file(), std::move(tensors)), format};
}

}  // namespace

ModelFiles open_model_files(const fs::path& path) {
  if (const auto gguf = io::find_gguf(path, {"config.json", "model.safetensors", "model.safetensors.index.json"})) {
    return open_gguf(*gguf);
  }
  Config config = load_config(path);
  return {std::move(config), io::Checkpoint::open(path), "safetensors"};
}

}  // namespace qguard::model
