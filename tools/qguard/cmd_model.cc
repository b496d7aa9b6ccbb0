// `qguard logits` and `qguard info`: direct access to a checkpoint, for checks and diagnostics.
#include <cmath>
#include <cstdio>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "commands.hpp"
#include "kernels/cpu.hpp"
#include "qguard/error.hpp"
#include "qguard/model.hpp"

namespace qguard::cli {

void add_weight_options(CLI::App& cmd, WeightFormat& format, std::string& pack_cache_dir) {
  const std::map<std::string, WeightFormat> formats{{"auto", WeightFormat::kAuto},
                                                    {"f32", WeightFormat::kF32},
                                                    {"bf16", WeightFormat::kBF16},
                                                    {"int8", WeightFormat::kInt8}};
  cmd.add_option("--weights", format,
                 "How layer weights are held: auto (as in the file; a quantized GGUF's blocks are read in place: "
                 "memory near the file's size and f32's results, but decoded at every product, ~4-5x slower than "
                 "int8 on an AMX Xeon: docs/model.md), f32, bf16, int8 (quantized at load: the fastest, ~1 byte "
                 "per weight, approximate)")
      ->transform(CLI::CheckedTransformer(formats, CLI::ignore_case));
  cmd.add_option("--pack-cache", pack_cache_dir,
                 "Keep packed weights in this directory: the first load writes them, later loads map them");
}

namespace {

struct ModelArgs {
  std::string dir;
  Model::Options options;
};

void add_model_options(CLI::App& cmd, ModelArgs& args) {
  cmd.add_option("--model", args.dir,
                 "Model directory or GGUF file, or Hugging Face repo id ORG/NAME[@REV] (docs/hub.md)")->required();
  cmd.add_option("--threads", args.options.threads, "Threads, the caller included (0 = one per core)")
      ->check(CLI::NonNegativeNumber);
  add_weight_options(cmd, args.options.weights, args.options.pack_cache_dir);
}

std::shared_ptr<const Model> load(const ModelArgs& args) { return Model::load(args.dir, args.options); }

void print_logits(const std::vector<float>& logits, std::size_t vocab) {
  fmt::memory_buffer out;
  fmt::format_to(std::back_inserter(out), "{{\"logits\": [");
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (!std::isfinite(logits[i])) throw Error(ErrorCode::kInvalidArgument, "the model produced a non-finite logit");
    if (i % vocab == 0) fmt::format_to(std::back_inserter(out), "{}[", i == 0 ? "" : "], ");
    fmt::format_to(std::back_inserter(out), "{}{}", i % vocab == 0 ? "" : ", ", logits[i]);
  }
  fmt::format_to(std::back_inserter(out), "]]}}\n");
  std::fwrite(out.data(), 1, out.size(), stdout);
}

}  // namespace

void add_model_commands(CLI::App& app) {
  auto logits_args = std::make_shared<ModelArgs>();
  auto ids = std::make_shared<std::vector<std::int32_t>>();
  auto all = std::make_shared<bool>(false);
  CLI::App* logits = app.add_subcommand("logits", "Print the float32 logits of token ids as one JSON object");
  add_model_options(*logits, *logits_args);
  logits->add_option("--ids", *ids, "Comma-separated token ids")->required()->delimiter(',');
  logits->add_flag("--all", *all, "Every position's logits, not only the last");
  logits->callback([=] {
    const auto model = load(*logits_args);
    print_logits(model->logits(*ids, *all), model->info().vocab_size);
  });

  auto info_args = std::make_shared<ModelArgs>();
  CLI::App* info = app.add_subcommand("info", "Describe a checkpoint: architecture, shapes, dtypes, memory");
  add_model_options(*info, *info_args);
  info->callback([=] {
    const auto model = load(*info_args);
    const ModelInfo& m = model->info();
    fmt::print("architecture        {}\n", m.architecture);
    fmt::print("hidden_size         {}\nintermediate_size   {}\nlayers              {}\n", m.hidden_size,
               m.intermediate_size, m.num_layers);
    fmt::print("heads (q / kv)      {} / {}\nhead_dim            {}\nvocab_size          {}\n", m.num_heads,
               m.num_kv_heads, m.head_dim, m.vocab_size);
    fmt::print("max positions       {}\ntied embeddings     {}\n", m.max_position_embeddings,
               m.tie_word_embeddings ? "yes" : "no");
    fmt::print("parameters          {} ({:.3f} B)\n", m.parameters, m.parameters / 1e9);
    fmt::print("file format         {}\n", m.file_format);
    fmt::print("file dtypes         {}\n", fmt::join(m.file_dtypes, ", "));
    for (const std::string& line : m.file_tensor_types) fmt::print("  {}\n", line);
    fmt::print("weights held as     {}\n", m.weight_format);
    fmt::print("bytes mapped        {} ({:.1f} MiB)\n", m.bytes_mapped, m.bytes_mapped / 1048576.0);
    fmt::print("weight bytes        {} ({:.1f} MiB)\n", m.weight_bytes, m.weight_bytes / 1048576.0);
    fmt::print("pack cache          {}\n", m.pack_cache);
    fmt::print("kernels             {} (this CPU runs up to {}; QGUARD_CPU caps it)\n",
               kernels::to_string(kernels::active_target()), kernels::to_string(kernels::detected_target()));
  });
}

}  // namespace qguard::cli
