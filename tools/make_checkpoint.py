#!/usr/bin/python3
"""Write a random-weight Qwen3 checkpoint directory (config.json + safetensors) of any shape.

The weights are deterministic in --seed and in the tensor's name only, so the same seed gives the
same values whatever the dtype or sharding: a BF16 file is exactly the BF16 rounding of the F32 file
of the same seed, and a sharded checkpoint holds the same tensors as a single-file one.

Scales keep activations O(1) through the layers and the logits spread out: linear weights and
embeddings ~ N(0, 1/in_features) (H for the embedding), norm weights ~ 1 + 0.1 N(0, 1). An embedding
as large as N(0, 1) would dominate the residual stream, and a tied model would then mostly predict
its input token back, which makes argmax agreement meaningless.

Tensors are generated and written one at a time (large ones in row chunks), so the real 0.6B shape
fits comfortably in memory.
"""
import argparse
import json
import os
import struct
import sys
import zlib

import numpy as np

# The real Qwen3Guard-Gen configs (config.json fields per model size), the presets of --preset.
SPEC_CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                            "tests", "reference", "qwen3_configs.json")
TEMPLATE_PRESET = "Qwen3Guard-Gen-0.6B"
SHAPE_KEYS = {  # command-line option -> config.json key
    "hidden_size": "hidden_size",
    "intermediate_size": "intermediate_size",
    "layers": "num_hidden_layers",
    "heads": "num_attention_heads",
    "kv_heads": "num_key_value_heads",
    "head_dim": "head_dim",
    "vocab_size": "vocab_size",
}
DTYPES = {"bf16": ("BF16", 2, "bfloat16"), "f32": ("F32", 4, "float32")}
CHUNK_ELEMENTS = 1 << 24  # rows are generated in chunks of about this many values


class CheckpointError(Exception):
    pass


def load_presets(path):
    with open(path, encoding="utf-8") as f:
        presets = json.load(f)
    return {name: cfg for name, cfg in presets.items() if not name.startswith("_")}


def tensor_specs(cfg, write_lm_head):
    """(name, shape, kind) for every tensor, in file order. kind selects the initialisation."""
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh, nkv, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    specs = [("model.embed_tokens.weight", (V, H), "embedding")]
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        specs += [
            (p + "input_layernorm.weight", (H,), "norm"),
            (p + "self_attn.q_proj.weight", (nh * hd, H), "linear"),
            (p + "self_attn.k_proj.weight", (nkv * hd, H), "linear"),
            (p + "self_attn.v_proj.weight", (nkv * hd, H), "linear"),
            (p + "self_attn.o_proj.weight", (H, nh * hd), "linear"),
            (p + "self_attn.q_norm.weight", (hd,), "norm"),
            (p + "self_attn.k_norm.weight", (hd,), "norm"),
            (p + "post_attention_layernorm.weight", (H,), "norm"),
            (p + "mlp.gate_proj.weight", (I, H), "linear"),
            (p + "mlp.up_proj.weight", (I, H), "linear"),
            (p + "mlp.down_proj.weight", (H, I), "linear"),
        ]
    specs.append(("model.norm.weight", (H,), "norm"))
    if not cfg["tie_word_embeddings"]:
        specs.append(("lm_head.weight", (V, H), "linear"))
    elif write_lm_head:
        # A duplicate of the embedding, as in Qwen3-0.6B's file: same values, same stream.
        specs.append(("lm_head.weight", (V, H), "embedding_copy"))
    return specs


def tensor_rng(seed, name):
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, zlib.crc32(name.encode())])))


def generate_chunks(seed, name, shape, kind):
    """Yields the tensor's float32 values as consecutive row blocks."""
    stream_name = "model.embed_tokens.weight" if kind == "embedding_copy" else name
    rng = tensor_rng(seed, stream_name)
    rows = shape[0]
    row_len = int(np.prod(shape[1:], dtype=np.int64))
    rows_per_chunk = max(1, CHUNK_ELEMENTS // max(1, row_len))
    for start in range(0, rows, rows_per_chunk):
        block = rng.standard_normal((min(rows_per_chunk, rows - start),) + tuple(shape[1:]), dtype=np.float32)
        if kind != "norm":
            block *= np.float32(1.0 / np.sqrt(shape[1]))
        elif kind == "norm":
            block = np.float32(1.0) + np.float32(0.1) * block
        yield block


def to_bf16_bits(values):
    """float32 -> BF16 bit patterns, rounding to nearest, ties to even (values are finite here)."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def encode(block, dtype):
    if dtype == "BF16":
        return to_bf16_bits(block).astype("<u2").tobytes()
    return np.ascontiguousarray(block, dtype="<f4").tobytes()


def split_into_shards(specs, itemsize, shards):
    """Contiguous groups of tensors with roughly equal byte sizes."""
    if shards < 1 or shards > len(specs):
        raise CheckpointError(f"--shards must be between 1 and {len(specs)} (the number of tensors)")
    sizes = [int(np.prod(shape, dtype=np.int64)) * itemsize for _, shape, _ in specs]
    total = sum(sizes)
    groups, current, done = [], [], 0
    for i, spec in enumerate(specs):
        current.append(spec)
        done += sizes[i]
        remaining_tensors = len(specs) - i - 1
        remaining_groups = shards - len(groups) - 1
        target = total * (len(groups) + 1) / shards
        if remaining_groups > 0 and (done >= target or remaining_tensors == remaining_groups):
            groups.append(current)
            current = []
    groups.append(current)
    return groups


def safetensors_header(specs, dtype, itemsize):
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape, _ in specs:
        nbytes = int(np.prod(shape, dtype=np.int64)) * itemsize
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return text, offset


def write_safetensors(path, specs, dtype, itemsize, seed):
    header, data_size = safetensors_header(specs, dtype, itemsize)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)))
        f.write(header)
        for name, shape, kind in specs:
            for block in generate_chunks(seed, name, shape, kind):
                f.write(encode(block, dtype))
    return data_size


def build_config(args, presets):
    if args.preset is not None:
        if args.preset not in presets:
            raise CheckpointError(f"unknown preset {args.preset!r}; known: {', '.join(presets)}")
        cfg = dict(presets[args.preset])
    else:
        if TEMPLATE_PRESET not in presets:
            raise CheckpointError(f"the spec configs lack {TEMPLATE_PRESET}, the template for non-shape keys")
        cfg = dict(presets[TEMPLATE_PRESET])
        missing = [opt for opt in SHAPE_KEYS if getattr(args, opt) is None]
        if missing:
            raise CheckpointError("without --preset, give every shape option; missing: "
                                  + ", ".join("--" + m.replace("_", "-") for m in missing))
    for opt, key in SHAPE_KEYS.items():
        value = getattr(args, opt)
        if value is not None:
            if value <= 0:
                raise CheckpointError(f"--{opt.replace('_', '-')} must be positive")
            cfg[key] = value
    if args.tied is not None:
        cfg["tie_word_embeddings"] = args.tied
    if cfg["num_attention_heads"] % cfg["num_key_value_heads"]:
        raise CheckpointError("--heads must be a multiple of --kv-heads")
    if cfg["head_dim"] % 2:
        raise CheckpointError("--head-dim must be even (rotary halves)")
    if args.lm_head_in_tied and not cfg["tie_word_embeddings"]:
        raise CheckpointError("--lm-head-in-tied needs a tied model")
    cfg["model_type"] = "qwen3"
    cfg["architectures"] = ["Qwen3ForCausalLM"]
    return cfg


def write_checkpoint(out_dir, cfg, dtype_option="bf16", shards=1, seed=0, lm_head_in_tied=False):
    """Writes config.json and the safetensors file(s); returns the number of parameters written."""
    dtype, itemsize, torch_dtype = DTYPES[dtype_option]
    cfg = dict(cfg, torch_dtype=torch_dtype)
    specs = tensor_specs(cfg, lm_head_in_tied)
    groups = split_into_shards(specs, itemsize, shards)
    os.makedirs(out_dir, exist_ok=True)
    for stale in os.listdir(out_dir):  # a previous checkpoint's files would confuse readers
        if stale.startswith("model") and stale.endswith((".safetensors", ".safetensors.index.json")):
            os.remove(os.path.join(out_dir, stale))
    with open(os.path.join(out_dir, "config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    if shards == 1:
        write_safetensors(os.path.join(out_dir, "model.safetensors"), specs, dtype, itemsize, seed)
    else:
        weight_map, total = {}, 0
        for i, group in enumerate(groups):
            file_name = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
            total += write_safetensors(os.path.join(out_dir, file_name), group, dtype, itemsize, seed)
            weight_map.update({name: file_name for name, _, _ in group})
        with open(os.path.join(out_dir, "model.safetensors.index.json"), "w", encoding="utf-8") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
            f.write("\n")
    return sum(int(np.prod(shape, dtype=np.int64)) for _, shape, _ in specs)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="checkpoint directory to create or overwrite")
    p.add_argument("--preset", help="a model name from the spec configs, e.g. Qwen3Guard-Gen-0.6B")
    p.add_argument("--spec-configs", default=None,
                   help="qwen3_configs.json (default: the repo's copy of the spec's)")
    for opt in SHAPE_KEYS:
        p.add_argument("--" + opt.replace("_", "-"), dest=opt, type=int)
    tie = p.add_mutually_exclusive_group()
    tie.add_argument("--tied", dest="tied", action="store_const", const=True)
    tie.add_argument("--untied", dest="tied", action="store_const", const=False)
    p.add_argument("--lm-head-in-tied", action="store_true",
                   help="also write lm_head.weight (equal to the embedding) in a tied model")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--summary", action="store_true", help="print a one-line summary")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = build_config(args, load_presets(args.spec_configs or SPEC_CONFIGS))
        params = write_checkpoint(args.out, cfg, args.dtype, args.shards, args.seed, args.lm_head_in_tied)
    except (CheckpointError, OSError, ValueError, KeyError) as e:
        print(f"make_checkpoint: error: {e}", file=sys.stderr)
        return 1
    if args.summary:
        print(f"wrote {args.out}: {params} parameters, {args.dtype}, {args.shards} file(s), seed {args.seed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
