// Where a model's hyper-parameters and tensors come from: the one place that chooses by file type.
#pragma once

#include <filesystem>
#include <string>

#include "io/checkpoint.hpp"
#include "model/config.hpp"

namespace qguard::model {

struct ModelFiles {
  Config config;
  io::Checkpoint checkpoint;  // tensors under Hugging Face names, whatever the file format
  std::string format;         // "safetensors" or "GGUF v3"
};

// `path`: a Hugging Face model directory (config.json + safetensors), or a GGUF file, or a directory
// holding one GGUF file and no safetensors checkpoint. A GGUF file's hyper-parameters come from its
// metadata (architecture qwen3) and its tensors are renamed from llama.cpp's names (token_embd,
// blk.N.attn_q, ...) to Hugging Face's, with their dimensions reversed to [rows, columns].
// Throws qguard::Error as load_config, io::Checkpoint::open and io::GgufFile::open do.
ModelFiles open_model_files(const std::filesystem::path& path);

}  // namespace qguard::model
