#include "model/config.hpp"

#include <fmt/format.h>

#include "qguard/error.hpp"
#include "util/json.hpp"

namespace qguard::model {
namespace {

[[noreturn]] void unsupported(const std::filesystem::path& file, const std::string& why) {
  throw Error(ErrorCode::kUnsupportedModel, fmt::format("'{}': {}; qguard runs Qwen3ForCausalLM checkpoints "
                                                        "(Qwen3Guard-Gen 0.6B/4B/8B)", file.string(), why));
}

// A positive integer field that must be present.
int required_int(simdjson::dom::object obj, const std::filesystem::path& file, const char* key) {
  int64_t value = 0;
  if (obj[key].get_int64().get(value) != simdjson::SUCCESS) {
    throw Error(ErrorCode::kMalformedJson, fmt::format("'{}': missing or non-integer \"{}\"", file.string(), key));
  }
  if (value <= 0 || value > kMaxConfigInt) {
    unsupported(file, fmt::format("\"{}\" = {} is out of range", key, value));
  }
  return static_cast<int>(value);
}

double optional_number(simdjson::dom::object obj, const char* key, double fallback) {
  double value = 0;
  return obj[key].get_double().get(value) == simdjson::SUCCESS ? value : fallback;
}

}  // namespace

std::int64_t Config::parameter_count() const {
  const std::int64_t h = hidden_size;
  const std::int64_t per_layer = h * q_dim() + 2 * h * kv_dim() + q_dim() * h  // attention projections
                                 + 3 * h * intermediate_size                   // gate, up, down
                                 + 2 * h + 2 * head_dim;                      // norms
  const std::int64_t embed = std::int64_t{vocab_size} * h;
  return embed * (tie_word_embeddings ? 1 : 2) + per_layer * num_layers + h;
}

std::optional<std::string> config_problem(const Config& c) {
  if (c.num_heads % c.num_kv_heads != 0) {
    return fmt::format("num_attention_heads {} is not a multiple of num_key_value_heads {}", c.num_heads,
                       c.num_kv_heads);
  }
  if (c.head_dim % 2 != 0) return fmt::format("head_dim {} is odd; RoPE needs pairs", c.head_dim);
  if (!(c.rms_norm_eps > 0) || !(c.rope_theta > 0)) return "rms_norm_eps and rope_theta must be positive";
  return std::nullopt;
}

Config load_config(const std::filesystem::path& model_dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(model_dir, ec)) {
    throw Error(ErrorCode::kNotFound, fmt::format("model directory '{}' does not exist or is not a directory",
                                                  model_dir.string()));
  }
  const auto file = model_dir / "config.json";
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (util::parse_json_file(parser, file).get_object().get(obj) != simdjson::SUCCESS) {
    throw Error(ErrorCode::kMalformedJson, fmt::format("'{}': the top level is not a JSON object", file.string()));
  }

  std::string_view model_type;
  if (obj["model_type"].get_string().get(model_type) != simdjson::SUCCESS) {
    throw Error(ErrorCode::kMalformedJson, fmt::format("'{}': missing \"model_type\"", file.string()));
  }
  if (model_type != "qwen3") unsupported(file, fmt::format("model_type is \"{}\", not \"qwen3\"", model_type));
  simdjson::dom::array architectures;
  if (obj["architectures"].get_array().get(architectures) == simdjson::SUCCESS) {
    bool causal_lm = false;
    for (auto arch : architectures) {
      std::string_view name;
      causal_lm |= arch.get_string().get(name) == simdjson::SUCCESS && name == "Qwen3ForCausalLM";
    }
    if (!causal_lm) unsupported(file, "\"architectures\" does not list Qwen3ForCausalLM");
  }

  Config c;
  c.hidden_size = required_int(obj, file, "hidden_size");
  c.intermediate_size = required_int(obj, file, "intermediate_size");
  c.num_layers = required_int(obj, file, "num_hidden_layers");
  c.num_heads = required_int(obj, file, "num_attention_heads");
  c.num_kv_heads = required_int(obj, file, "num_key_value_heads");
  c.vocab_size = required_int(obj, file, "vocab_size");
  // Older configs omit head_dim; Hugging Face then uses hidden_size / num_attention_heads.
  c.head_dim = obj["head_dim"].error() == simdjson::SUCCESS ? required_int(obj, file, "head_dim")
                                                           : c.hidden_size / c.num_heads;
  c.max_position_embeddings = obj["max_position_embeddings"].error() == simdjson::SUCCESS
                                  ? required_int(obj, file, "max_position_embeddings") : 40960;
  c.rms_norm_eps = optional_number(obj, "rms_norm_eps", 1e-6);
  c.rope_theta = optional_number(obj, "rope_theta", 1e6);
  bool tied = false;
  c.tie_word_embeddings = obj["tie_word_embeddings"].get_bool().get(tied) == simdjson::SUCCESS && tied;
  int64_t token = -1;
  if (obj["bos_token_id"].get_int64().get(token) == simdjson::SUCCESS) c.bos_token_id = static_cast<int>(token);
  if (obj["eos_token_id"].get_int64().get(token) == simdjson::SUCCESS) c.eos_token_id = static_cast<int>(token);
  std::string_view dtype;
  if (obj["torch_dtype"].get_string().get(dtype) == simdjson::SUCCESS) c.torch_dtype = dtype;

  if (const auto problem = config_problem(c)) unsupported(file, *problem);
  // Features Qwen3Guard does not use; refusing them beats computing something else silently.
  bool flag = false;
  if (obj["use_sliding_window"].get_bool().get(flag) == simdjson::SUCCESS && flag) {
    unsupported(file, "sliding-window attention is not implemented");
  }
  if (obj["attention_bias"].get_bool().get(flag) == simdjson::SUCCESS && flag) {
    unsupported(file, "attention biases are not implemented");
  }
  simdjson::dom::element rope_scaling;
  if (obj["rope_scaling"].get(rope_scaling) == simdjson::SUCCESS && !rope_scaling.is_null()) {
    unsupported(file, "rope_scaling is not implemented");
  }
  std::string_view act;
  if (obj["hidden_act"].get_string().get(act) == simdjson::SUCCESS && act != "silu") {
    unsupported(file, fmt::format("hidden_act \"{}\" is not silu", act));
  }
  return c;
}

}  // namespace qguard::model
