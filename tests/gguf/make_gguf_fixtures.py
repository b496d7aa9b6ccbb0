#!/usr/bin/python3
"""Writes the GGUF test files (the ctest fixture gguf_files) into OUT_DIR:

    blocks.gguf, blocks.f32      one tensor of random blocks per tensor type, and the reference's
                                 decoding of each (float32, concatenated in file order)
    tokenizer.gguf               the Qwen3 tokenizer.json as GGUF tokenizer metadata (no tensors)
    st_bf16/, bf16.gguf          one random model as BF16 safetensors and as GGUF (BF16, norms F32)
    guard/, guard.gguf           a random model with the real vocabulary, as BF16 safetensors with
                                 tokenizer.json and as GGUF with the tokenizer in its metadata
    <case>.gguf, <case>_dequant/ random models quantized per CASES, and the same weights decoded by the
                                 reference, as an F32 safetensors checkpoint for qwen3_reference.py

    make_gguf_fixtures.py OUT_DIR TOKENIZER_JSON
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, os.pardir, os.pardir, "tools"))
sys.path.insert(0, os.path.join(HERE, os.pardir, "reference"))
import gguf_format as g  # noqa: E402
import make_checkpoint  # noqa: E402
import qwen3_reference  # noqa: E402

# Rows of 256 values, so that every type (K-quants: blocks of 256) can hold every matrix.
SHAPE = {"hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "head_dim": 64, "vocab_size": 1000}
# case: (tied, embedding type, lm_head type, layer matrix type, {matrix: type} overrides), as llama.cpp
# mixes types (Q4_K_M: attn_v and ffn_down in Q6_K).
CASES = {
    "q8_0": (True, "Q8_0", None, "Q8_0", {}),
    "q4_0": (True, "Q8_0", None, "Q4_0", {}),
    "q4_k_m": (False, "Q4_K", "Q6_K", "Q4_K", {"attn_v": "Q6_K", "ffn_down": "Q6_K"}),
    "q5_k": (True, "Q6_K", None, "Q5_K", {}),
    "f16": (False, "F16", "F16", "F16", {}),
}
BLOCK_TENSORS = {  # Hugging Face name in a layer -> llama.cpp's
    "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm", "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}


def gguf_name(name):
    if name == "model.embed_tokens.weight":
        return "token_embd.weight"
    if name == "model.norm.weight":
        return "output_norm.weight"
    if name == "lm_head.weight":
        return "output.weight"
    layer, rest = name[len("model.layers."):].split(".", 1)
    return f"blk.{layer}.{BLOCK_TENSORS[rest[:-len('.weight')]]}.weight"


def model_metadata(cfg, alignment=None):
    a = "qwen3."
    meta = [("general.architecture", g.STRING, "qwen3"), ("general.name", g.STRING, "qguard test model"),
            (a + "block_count", g.U32, cfg["num_hidden_layers"]),
            (a + "context_length", g.U32, cfg["max_position_embeddings"]),
            (a + "embedding_length", g.U32, cfg["hidden_size"]),
            (a + "feed_forward_length", g.U32, cfg["intermediate_size"]),
            (a + "attention.head_count", g.U32, cfg["num_attention_heads"]),
            (a + "attention.head_count_kv", g.U32, cfg["num_key_value_heads"]),
            (a + "attention.key_length", g.U32, cfg["head_dim"]),
            (a + "attention.value_length", g.U32, cfg["head_dim"]),
            (a + "rope.freq_base", g.F32, cfg["rope_theta"]),
            (a + "attention.layer_norm_rms_epsilon", g.F32, cfg["rms_norm_eps"])]
    if alignment:
        meta.append(("general.alignment", g.U32, alignment))
    return meta


def tokenizer_metadata(tokenizer_json, padded_size=None):
    """tokenizer.ggml.* from tokenizer.json: every id's token, its type (1 normal, 3 control for special
    added tokens, 4 user-defined for the others, 5 unused padding up to `padded_size`), the merges."""
    with open(tokenizer_json, encoding="utf-8") as f:
        spec = json.load(f)
    by_id = {i: (text, 1) for text, i in spec["model"]["vocab"].items()}
    for added in spec["added_tokens"]:
        by_id[added["id"]] = (added["content"], 3 if added["special"] else 4)
    assert sorted(by_id) == list(range(len(by_id))), "tokenizer.json ids are not 0..N-1"
    tokens = [by_id[i] for i in range(len(by_id))]
    tokens += [(f"[PAD{i}]", 5) for i in range(len(tokens), padded_size or len(tokens))]
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    return [("tokenizer.ggml.model", g.STRING, "gpt2"), ("tokenizer.ggml.pre", g.STRING, "qwen2"),
            ("tokenizer.ggml.tokens", g.ARRAY, (g.STRING, [t for t, _ in tokens])),
            ("tokenizer.ggml.token_type", g.ARRAY, (g.I32, [k for _, k in tokens])),
            ("tokenizer.ggml.merges", g.ARRAY, (g.STRING, merges))]


def write_safetensors_f32(path, tensors):
    header, offset = {}, 0
    for name, values in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(values.shape), "data_offsets": [offset, offset + values.nbytes]}
        offset += values.nbytes
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for values in tensors.values():
            f.write(np.ascontiguousarray(values, dtype="<f4").tobytes())


def source_model(out_dir, cfg, dtype, seed):
    """A random safetensors checkpoint and its tensors as float32, in file order."""
    make_checkpoint.write_checkpoint(out_dir, cfg, dtype, 1, seed, False)
    ckpt = qwen3_reference.Checkpoint(out_dir)
    names = [name for name, _, _ in make_checkpoint.tensor_specs(cfg, False)]
    return {name: ckpt.tensor(name, ckpt.location[name].tensors[name][1]).astype(np.float32) for name in names}


def tensor_type(name, case):
    tied, embedding, lm_head, matrix, overrides = case
    if name == "model.embed_tokens.weight":
        return embedding
    if name == "lm_head.weight":
        return lm_head
    if name.endswith("norm.weight"):
        return "F32"  # llama.cpp keeps 1-D tensors in F32
    return overrides.get(gguf_name(name).split(".")[2], matrix)


def write_blocks(out):
    """Random blocks of every type: random bytes, with every float16 scale a random finite value
    (normal or subnormal, either sign)."""
    rng = np.random.default_rng(13)
    tensors, expected = [], []
    for type_name in g.BLOCKS:
        values, size = g.BLOCKS[type_name]
        count = 8 * 256
        if type_name in g.QUANTIZED:
            raw = rng.integers(0, 256, (count // values, size), dtype=np.uint8)
            scales = rng.standard_normal((count // values, 2)).astype(np.float32) * np.float32(0.01)
            scales[::7] *= np.float32(1e-4)  # subnormal float16
            f16 = scales.astype(np.float16).view(np.uint8).reshape(-1, 4)
            if type_name == "Q6_K":
                raw[:, 208:210] = f16[:, 0:2]
            elif type_name in ("Q4_K", "Q5_K"):
                raw[:, 0:4] = f16
            else:
                raw[:, 0:2] = f16[:, 0:2]
            raw = raw.tobytes()
        else:
            raw = g.quantize(type_name, rng.standard_normal(count).astype(np.float32))
        tensors.append((f"blocks.{type_name}", type_name, [8, 256], raw))
        expected.append(g.dequantize(type_name, raw, count))
    g.write_gguf(os.path.join(out, "blocks.gguf"), [("general.architecture", g.STRING, "none")], tensors)
    np.concatenate(expected).astype("<f4").tofile(os.path.join(out, "blocks.f32"))


def write_model_gguf(path, cfg, weights, case, extra_metadata=(), alignment=None):
    """The GGUF of `weights` typed per `case`; returns the weights as the reference decodes them."""
    tensors, decoded = [], {}
    for name, values in weights.items():
        if name == "lm_head.weight" and case[0]:
            continue
        type_name = tensor_type(name, case)
        raw = g.quantize(type_name, values)
        tensors.append((gguf_name(name), type_name, list(values.shape), raw))
        decoded[name] = g.dequantize(type_name, raw, values.size).reshape(values.shape)
    g.write_gguf(path, model_metadata(cfg, alignment) + list(extra_metadata), tensors, alignment or g.ALIGNMENT)
    return decoded


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 1
    out, tokenizer_json = argv[1], argv[2]
    os.makedirs(out, exist_ok=True)
    write_blocks(out)
    g.write_gguf(os.path.join(out, "tokenizer.gguf"), tokenizer_metadata(tokenizer_json, 151936), [])

    template = make_checkpoint.load_presets(make_checkpoint.SPEC_CONFIGS)[make_checkpoint.TEMPLATE_PRESET]
    cfg = dict(template, **SHAPE, tie_word_embeddings=True)
    bf16 = source_model(os.path.join(out, "st_bf16"), cfg, "bf16", 31)
    write_model_gguf(os.path.join(out, "bf16.gguf"), cfg, bf16, (True, "BF16", None, "BF16", {}), alignment=64)

    guard_cfg = dict(cfg, hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2,
                     head_dim=32, vocab_size=151936)
    guard = source_model(os.path.join(out, "guard"), guard_cfg, "bf16", 7)
    shutil.copy(tokenizer_json, os.path.join(out, "guard", "tokenizer.json"))
    write_model_gguf(os.path.join(out, "guard.gguf"), guard_cfg, guard, (True, "BF16", None, "BF16", {}),
                     tokenizer_metadata(tokenizer_json, guard_cfg["vocab_size"]))

    for seed, (name, case) in enumerate(CASES.items(), start=40):
        case_cfg = dict(cfg, tie_word_embeddings=case[0])
        source_dir = os.path.join(out, f"{name}_source")
        weights = source_model(source_dir, case_cfg, "f32", seed)
        decoded = write_model_gguf(os.path.join(out, f"{name}.gguf"), case_cfg, weights, case)
        dequant_dir = os.path.join(out, f"{name}_dequant")
        os.makedirs(dequant_dir, exist_ok=True)
        shutil.copy(os.path.join(source_dir, "config.json"), dequant_dir)
        write_safetensors_f32(os.path.join(dequant_dir, "model.safetensors"), decoded)
        shutil.rmtree(source_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
