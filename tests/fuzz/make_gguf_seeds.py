#!/usr/bin/python3
"""Writes the seed corpus of the gguf fuzzer (tests/fuzz/corpus/gguf), a few KB per file, with the
tests' GGUF writer (tests/gguf/gguf_format.py, written from the format description):

    blocks.gguf          one 256-value tensor of every tensor type qguard reads, no model metadata
    model_q8_0.gguf      a one-layer qwen3 model (hidden size 32, 32 tokens), tied, Q8_0 matrices
    model_mixed.gguf     the same shape untied, matrices in Q4_0, F16, BF16 and F32, with a small tokenizer
    tokenizer.gguf       only tokenizer metadata: 26 letters, a space, one merge, two control tokens

    make_gguf_seeds.py OUT_DIR
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir, "gguf"))
sys.path.insert(0, os.path.join(HERE, os.pardir, os.pardir, "tools"))
import gguf_format as g  # noqa: E402
import make_checkpoint  # noqa: E402
import make_gguf_fixtures as fixtures  # noqa: E402

SHAPE = {"hidden_size": 32, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
         "num_key_value_heads": 1, "head_dim": 16, "vocab_size": 32, "max_position_embeddings": 64}
MIXED = {"attn_q": "Q4_0", "attn_k": "F16", "attn_v": "BF16", "attn_output": "F32", "ffn_gate": "Q8_0",
         "ffn_up": "Q4_0", "ffn_down": "F16", "token_embd": "Q8_0", "output": "BF16"}


def tokenizer():
    """tokenizer.ggml.* of a byte-level BPE vocabulary: the letters, 'Ġ' (a space), "he", two control tokens."""
    tokens = [(chr(c), 1) for c in range(ord("a"), ord("z") + 1)] + [("\u0120", 1), ("he", 1)]
    tokens += [("<|im_start|>", 3), ("<|im_end|>", 3)]
    tokens += [(f"[PAD{i}]", 5) for i in range(len(tokens), SHAPE["vocab_size"])]
    return [("tokenizer.ggml.model", g.STRING, "gpt2"), ("tokenizer.ggml.pre", g.STRING, "qwen2"),
            ("tokenizer.ggml.tokens", g.ARRAY, (g.STRING, [t for t, _ in tokens])),
            ("tokenizer.ggml.token_type", g.ARRAY, (g.I32, [k for _, k in tokens])),
            ("tokenizer.ggml.merges", g.ARRAY, (g.STRING, ["h e"]))]


def model(path, tied, types, extra_metadata=()):
    template = make_checkpoint.load_presets(make_checkpoint.SPEC_CONFIGS)[make_checkpoint.TEMPLATE_PRESET]
    cfg = dict(template, **SHAPE, tie_word_embeddings=tied)
    rng = np.random.default_rng(5)
    tensors = []
    for name, shape, _ in make_checkpoint.tensor_specs(cfg, not tied):
        gguf = fixtures.gguf_name(name)
        kind = "F32" if len(shape) == 1 else types(gguf.split(".")[-2])
        tensors.append((gguf, kind, list(shape), g.quantize(kind, rng.standard_normal(shape).astype(np.float32) * 0.1)))
    g.write_gguf(path, fixtures.model_metadata(cfg) + list(extra_metadata), tensors)


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 1
    out = argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(3)
    blocks = [(f"blocks.{t}", t, [256], g.quantize(t, rng.standard_normal(256).astype(np.float32))) for t in g.BLOCKS]
    g.write_gguf(os.path.join(out, "blocks.gguf"), [("general.architecture", g.STRING, "none")], blocks)
    model(os.path.join(out, "model_q8_0.gguf"), True, lambda _: "Q8_0")
    model(os.path.join(out, "model_mixed.gguf"), False, MIXED.get, tokenizer())
    g.write_gguf(os.path.join(out, "tokenizer.gguf"), tokenizer(), [])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
