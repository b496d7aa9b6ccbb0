#!/usr/bin/python3
"""Writes the small random checkpoints the reference comparisons run on (the ctest fixture).

    make_test_checkpoints.py OUT_DIR     creates OUT_DIR/<case> for every case below
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "tools"))
import make_checkpoint  # noqa: E402

# head_dim 32 differs from hidden/heads = 16, as in the real models; 6 heads over 2 kv heads is 3:1 GQA.
SMALL_4_2 = {"hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "head_dim": 32, "vocab_size": 1000}
SMALL_6_2 = {"hidden_size": 96, "intermediate_size": 192, "num_hidden_layers": 3, "num_attention_heads": 6,
             "num_key_value_heads": 2, "head_dim": 24, "vocab_size": 1200}
CASES = {  # name: (shape, tied, lm_head present, dtype, shards)
    "tied_bf16": (SMALL_4_2, True, False, "bf16", 1),
    "tied_lmhead_f32": (SMALL_4_2, True, True, "f32", 1),
    "untied_gqa3_f32": (SMALL_6_2, False, False, "f32", 1),
    "untied_gqa3_bf16_sharded": (SMALL_6_2, False, False, "bf16", 3),
}


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 1
    template = make_checkpoint.load_presets(make_checkpoint.SPEC_CONFIGS)[make_checkpoint.TEMPLATE_PRESET]
    for seed, (name, (shape, tied, lm_head, dtype, shards)) in enumerate(CASES.items(), start=1):
        cfg = dict(template, **shape, tie_word_embeddings=tied)
        make_checkpoint.write_checkpoint(os.path.join(argv[1], name), cfg, dtype, shards, seed, lm_head)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
