// Each subcommand of the `qguard` tool registers itself on the app; main.cc only wires them up.
#pragma once

#include <CLI/CLI.hpp>

#include "qguard/model.hpp"

namespace qguard::cli {

void add_model_commands(CLI::App& app);  // logits, info
void add_guard_commands(CLI::App& app);  // render, classify
void add_text_commands(CLI::App& app);   // tokenize, detokenize
void add_bench_commands(CLI::App& app);  // bench
void add_serve_commands(CLI::App& app);  // serve

// --weights auto|f32|bf16|int8 and --pack-cache DIR, shared by every command that loads a model.
void add_weight_options(CLI::App& cmd, WeightFormat& format, std::string& pack_cache_dir);

}  // namespace qguard::cli
