// The Qwen3 hyper-parameters qguard reads from a checkpoint's config.json.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace qguard::model {

struct Config {
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;  // 128 for every Qwen3 size; not hidden_size / num_heads for 0.6B
  int vocab_size = 0;
  int max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 1e6;
  bool tie_word_embeddings = false;
  int bos_token_id = -1;
  int eos_token_id = -1;
  std::string torch_dtype;

  int q_dim() const { return num_heads * head_dim; }
  int kv_dim() const { return num_kv_heads * head_dim; }
  std::int64_t parameter_count() const;  // counting lm_head once when tied
};

// The largest size or count a config may give (sizes are ints throughout the model).
inline constexpr std::int64_t kMaxConfigInt = std::int64_t{1} << 30;

// What makes `config`'s sizes unusable (heads not a multiple of kv heads, odd head_dim, ...), or
// nullopt when they are consistent.
std::optional<std::string> config_problem(const Config& config);

// Reads and validates `model_dir`/config.json. Throws Error kNotFound, kMalformedJson, or
// kUnsupportedModel (not a Qwen3ForCausalLM, or a feature qguard does not implement).
Config load_config(const std::filesystem::path& model_dir);

}  // namespace qguard::model
