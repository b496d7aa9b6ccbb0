#!/usr/bin/python3
"""A GGUF file made elsewhere (e.g. by llama.cpp's llama-quantize) against the numpy reference: its
tensors are decoded by this directory's reference decoder (gguf_format.dequantize, written from the
format description) into an F32 safetensors checkpoint, and `qguard logits --weights f32` on the GGUF
file is compared with qwen3_reference.py on that checkpoint. A manual check (docs/model.md): the
files it is meant for come from llama.cpp, which the tests do not build.

    check_gguf_file.py QGUARD FILE.gguf CONFIG_JSON WORK_DIR [N_IDS [SEED]]

CONFIG_JSON is the Hugging Face config.json of the model the file was made from; WORK_DIR receives
the decoded checkpoint (4 bytes per weight). Exits non-zero when the ratio max|diff| / max|ref|
exceeds 5e-5, the bound of the other f32 comparisons.
"""
import os
import shutil
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, os.pardir, "reference"))
import check_logits  # noqa: E402
import gguf_format as g  # noqa: E402
import make_gguf_fixtures  # noqa: E402

F32_BOUND = 5e-5
TYPE_NAMES = {number: name for name, number in g.GGML_TYPES.items()}


class Reader:
    def __init__(self, data):
        self.data, self.at = data, 0

    def take(self, fmt):
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return values[0]

    def string(self):
        size = self.take("<Q")
        self.at += size
        return bytes(self.data[self.at - size:self.at]).decode("utf-8", errors="replace")

    def value(self, kind):
        if kind == g.STRING:
            return self.string()
        if kind == g.ARRAY:
            item, count = self.take("<I"), self.take("<Q")
            return [self.value(item) for _ in range(count)]
        return self.take(g._SCALAR[kind])


def read_gguf(path):
    """(metadata dict, [(name, type name, dims as [rows, cols] or [n], raw bytes)]) of a GGUF v2/v3 file."""
    with open(path, "rb") as f:
        data = memoryview(f.read())
    r = Reader(data)
    if bytes(data[:4]) != b"GGUF" or struct.unpack_from("<I", data, 4)[0] not in (2, 3):
        raise SystemExit(f"{path}: not a GGUF v2/v3 file")
    r.at = 8
    tensor_count, kv_count = r.take("<Q"), r.take("<Q")
    metadata = {}
    for _ in range(kv_count):
        key = r.string()
        metadata[key] = r.value(r.take("<I"))
    infos = []
    for _ in range(tensor_count):
        name = r.string()
        dims = [r.take("<Q") for _ in range(r.take("<I"))]
        infos.append((name, TYPE_NAMES[r.take("<I")], dims, r.take("<Q")))
    alignment = metadata.get("general.alignment", g.ALIGNMENT)
    start = (r.at + alignment - 1) // alignment * alignment
    tensors = []
    for name, type_name, dims, offset in infos:
        count = int(np.prod(dims))
        values, size = g.BLOCKS[type_name]
        raw = bytes(data[start + offset:start + offset + count // values * size])
        tensors.append((name, type_name, dims[::-1], raw))
    return metadata, tensors


def main(argv):
    if len(argv) not in (5, 6, 7):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    qguard, path, config_json, work = argv[1:5]
    n_ids = int(argv[5]) if len(argv) > 5 else 8
    seed = int(argv[6]) if len(argv) > 6 else 1
    _, tensors = read_gguf(path)
    hugging_face = {make_gguf_fixtures.gguf_name(name): name for name in
                    ["model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"]}
    for layer_name, gguf in make_gguf_fixtures.BLOCK_TENSORS.items():
        hugging_face[f"{gguf}.weight"] = layer_name + ".weight"
    decoded, types = {}, set()
    for name, type_name, shape, raw in tensors:
        parts = name.split(".")
        hf = (f"model.layers.{parts[1]}.{hugging_face['.'.join(parts[2:])]}" if parts[0] == "blk"
              else hugging_face[name])
        decoded[hf] = g.dequantize(type_name, raw, int(np.prod(shape))).reshape(shape)
        types.add(type_name)
    os.makedirs(work, exist_ok=True)
    shutil.copy(config_json, os.path.join(work, "config.json"))
    make_gguf_fixtures.write_safetensors_f32(os.path.join(work, "model.safetensors"), decoded)
    del decoded
    vocab = next(t[2][0] for t in tensors if t[0] == "token_embd.weight")
    ids = np.random.default_rng(seed).integers(0, vocab, n_ids).tolist()
    f = check_logits.check(qguard, path, ids, extra_args=["--weights", "f32"], reference_dir=work)
    print(f"{os.path.basename(path)} ({', '.join(sorted(types))}), {n_ids} ids of seed {seed}: "
          f"max |diff| {f['max_abs_diff']:.3e}, max |ref| {f['max_abs_ref']:.3e}, ratio {f['ratio']:.2e} "
          f"(bound {F32_BOUND:g}), argmax agrees at {f['argmax_agree']}/{f['positions']} positions; "
          f"qguard {f['qguard_seconds']:.0f} s, reference {f['reference_seconds']:.0f} s")
    return 0 if f["max_abs_diff"] <= F32_BOUND * f["max_abs_ref"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
