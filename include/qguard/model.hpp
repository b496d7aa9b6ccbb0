// Low-level access to a loaded Qwen3 checkpoint: shape information and raw logits. Most programs
// want qguard::Classifier instead; this is what `qguard logits` / `qguard info` and tests use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "qguard/export.h"

namespace qguard {

// How weight matrices are held in memory. kAuto keeps the checkpoint's dtype (BF16 stays BF16 and
// is widened on the fly; F16 is widened to f32 at load); with kAuto, kF32 and kBF16 computation is
// f32, the reference path. kInt8 quantizes the layer matrices at load (one scale per output row) and
// the activations on the fly (one scale per token and 64 inputs), summing products exactly in
// int32, with attention on BF16 operands: about half the memory traffic of BF16 and twice the
// arithmetic rate on AVX2, at the cost of small deviations from the reference (`qguard bench
// --weights int8` reports them; docs/model.md, "The int8 scheme"). The embedding and lm_head stay
// in the file, whatever their type: rows in other encodings than F32/BF16 are decoded exactly when
// used. Block-quantized GGUF layer matrices (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K): kAuto reads them in
// place from the file, decoding panels of rows during each product (memory near the file's size,
// results those of kF32 bit for bit, but each product pays the decoding); kF32 holds them decoded
// (4 bytes per weight); kInt8 decodes and re-quantizes them at load (about 1 byte per weight, the
// fastest, approximate); kBF16 holds them rounded to BF16.
enum class WeightFormat { kAuto, kF32, kBF16, kInt8 };

struct ModelInfo {
  std::string architecture;  // "Qwen3ForCausalLM"
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int vocab_size = 0;
  int max_position_embeddings = 0;
  bool tie_word_embeddings = false;
  std::int64_t parameters = 0;
  std::string file_format;               // "safetensors" or "GGUF v3"
  std::vector<std::string> file_dtypes;  // distinct tensor types in the files, e.g. {"BF16"}, {"F32", "Q4_K", "Q6_K"}
  // Per tensor type: how many tensors, their bytes in the file and which tensors they are, e.g.
  // "Q4_K: 84 tensors, 95.2 MiB (mlp.gate_proj, mlp.up_proj, self_attn.q_proj, ...)".
  std::vector<std::string> file_tensor_types;
  // How layer matrices are held: "F32", "BF16", "INT8", or read in place from a GGUF file's blocks,
  // e.g. "Q4_K, Q6_K blocks in place".
  std::string weight_format;
  std::size_t bytes_mapped = 0;          // size of the memory-mapped checkpoint files
  std::size_t weight_bytes = 0;          // bytes of matrix storage used for compute
  // Options::pack_cache_dir at this load: "off", "read <file>", "written <file>",
  // "not written: <reason>" (the load succeeded; only the cache failed), or "not used: ..." when no
  // layer matrix is packed (all read in place from a GGUF file).
  std::string pack_cache;
};

class QGUARD_API Model {
 public:
  struct Options {
    int threads = 0;  // worker threads for one forward pass, the caller included; 0 = one per core
    WeightFormat weights = WeightFormat::kAuto;
    // Where packed layer matrices are kept between loads (created if missing). Empty: pack at every
    // load. With a directory, the first load packs and writes a file there (~0.9 GB for 0.6B in
    // BF16); later loads of the same checkpoint read that file instead, several times faster. A
    // changed checkpoint or option gets a new file; old ones are not deleted.
    std::string pack_cache_dir;
  };

  // Loads `dir` (config.json + model.safetensors or a sharded index), or a GGUF file (architecture
  // qwen3; F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K tensors) or a directory holding one, or a
  // Hugging Face Hub repository id "ORG/NAME[@REVISION]" (safetensors) downloaded into the Hub's
  // cache on first use (docs/hub.md; a local path always wins). Throws qguard::Error.
  static std::shared_ptr<const Model> load(const std::string& dir, const Options& options);
  static std::shared_ptr<const Model> load(const std::string& dir) { return load(dir, Options{}); }

  ~Model();
  const ModelInfo& info() const;

  // Logits for `ids` run from position 0: the last position's [vocab_size] values, or with
  // `all_positions` every position's, row-major [ids.size(), vocab_size].
  std::vector<float> logits(const std::vector<std::int32_t>& ids, bool all_positions = false) const;

  // An incremental run over one growing token sequence (prefill, then decode steps), keeping its
  // own KV cache. One Session is for one thread; any number of Sessions may share a Model.
  class Session {
   public:
    explicit Session(std::shared_ptr<const Model> model);
    Session(Session&&) noexcept;
    ~Session();
    // Runs `ids` after the tokens appended so far; returns the last one's logits [vocab_size].
    std::vector<float> append(const std::vector<std::int32_t>& ids);
    int length() const;  // tokens appended so far
    // Makes room for `positions` tokens in all, so that appending up to that many allocates and
    // copies nothing (the cache otherwise grows by half at a time). Error(kInputTooLong) past the
    // model's max_position_embeddings, kInvalidArgument below 0.
    void reserve(int positions);

   private:
    struct State;
    std::unique_ptr<State> state_;
  };

 private:
  struct State;
  friend struct ModelAccess;  // the library's other rooms reach the decoder through it
  explicit Model(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace qguard
