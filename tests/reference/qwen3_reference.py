#!/usr/bin/python3
"""Independent float64 numpy reference of the Qwen3 forward pass.

Written only from docs/spec/qwen3_forward.md (Hugging Face Qwen3ForCausalLM semantics), with its
own safetensors reader, so that qguard's C++ forward can be checked against something that shares
none of its code. Memory-conscious: weights are memory-mapped and converted to float64 one layer at
a time; the embedding is gathered by row and the output projection applied in vocabulary chunks.

    qwen3_reference.py --model DIR --ids 1,2,3     prints {"logits": [[...], ...]} (every position)

With an Int8Scheme (--int8) every layer matrix product follows qguard's documented int8 scheme
(include/qguard/model.hpp, docs/performance.md) instead: weights quantized per output row, inputs per
token and per INT8_BLOCK of them, both symmetric in [-127, 127] with scale max|v| / 127 and q =
round-half-even(v * (127 / max|v|)) in float32; the integer products are summed exactly and scaled.
Its attention multiplies BF16 operands: keys and values, the queries times 1/sqrt(head_dim) (in
float32) and the softmax numerators exp(s - max) are rounded to BF16 (nearest, ties to even) before
their products; the numerators' sum is not rounded.
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np

LM_HEAD_CHUNK_ROWS = 8192
INT8_BLOCK = 64
# safetensors dtype -> (numpy storage dtype, decoder to float64)
_DECODERS = {
    "F32": ("<f4", lambda raw: raw.astype(np.float64)),
    "F16": ("<f2", lambda raw: raw.astype(np.float64)),
    # BF16 is the upper half of an IEEE float32.
    "BF16": ("<u2", lambda raw: (raw.astype(np.uint32) << 16).view(np.float32).astype(np.float64)),
}


class ReferenceError(Exception):
    pass


class SafetensorsFile:
    """One .safetensors file: 8-byte little-endian header length, JSON header, then raw data."""

    def __init__(self, path):
        self.path = path
        file_size = os.path.getsize(path)
        with open(path, "rb") as f:
            prefix = f.read(8)
            if len(prefix) != 8:
                raise ReferenceError(f"{path}: shorter than the 8-byte header length")
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > file_size - 8:
                raise ReferenceError(f"{path}: header length {header_len} exceeds the file ({file_size} bytes)")
            try:
                header = json.loads(f.read(header_len).decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                raise ReferenceError(f"{path}: header is not JSON: {e}") from None
        if not isinstance(header, dict):
            raise ReferenceError(f"{path}: header is not a JSON object")
        self.data_start = 8 + header_len
        data_size = file_size - self.data_start
        self.tensors = {}
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            self.tensors[name] = self._check_entry(name, entry, data_size)

    def _check_entry(self, name, entry, data_size):
        where = f"{self.path}: tensor {name!r}"
        if not isinstance(entry, dict):
            raise ReferenceError(f"{where}: entry is not an object")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in _DECODERS:
            raise ReferenceError(f"{where}: unsupported dtype {dtype!r} (supported: {', '.join(_DECODERS)})")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ReferenceError(f"{where}: bad shape {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) for o in offsets) or not 0 <= offsets[0] <= offsets[1] <= data_size):
            raise ReferenceError(f"{where}: data_offsets {offsets!r} outside the data ({data_size} bytes)")
        storage = np.dtype(_DECODERS[dtype][0])
        if offsets[1] - offsets[0] != math.prod(shape) * storage.itemsize:
            raise ReferenceError(f"{where}: {offsets[1] - offsets[0]} bytes do not match shape {shape} of {dtype}")
        return dtype, tuple(shape), offsets[0]

    def raw(self, name):
        """The stored values, memory-mapped (not yet converted)."""
        dtype, shape, offset = self.tensors[name]
        if math.prod(shape) == 0:
            return np.zeros(shape, dtype=_DECODERS[dtype][0])
        return np.memmap(self.path, dtype=_DECODERS[dtype][0], mode="r",
                         offset=self.data_start + offset, shape=shape)

    def dtype(self, name):
        return self.tensors[name][0]


class Checkpoint:
    """config.json plus model.safetensors, or shards listed by model.safetensors.index.json."""

    def __init__(self, model_dir):
        self.config = _load_json(os.path.join(model_dir, "config.json"))
        index_path = os.path.join(model_dir, "model.safetensors.index.json")
        files = {}
        self.location = {}
        if os.path.exists(index_path):
            weight_map = _load_json(index_path).get("weight_map")
            if not isinstance(weight_map, dict):
                raise ReferenceError(f"{index_path}: no \"weight_map\" object")
            for name, file_name in weight_map.items():
                if not isinstance(file_name, str) or os.path.basename(file_name) != file_name:
                    raise ReferenceError(f"{index_path}: bad shard file name {file_name!r} for {name!r}")
                if file_name not in files:
                    files[file_name] = SafetensorsFile(os.path.join(model_dir, file_name))
                if name not in files[file_name].tensors:
                    raise ReferenceError(f"{index_path}: {name!r} is not in {file_name}")
                self.location[name] = files[file_name]
        else:
            single = SafetensorsFile(os.path.join(model_dir, "model.safetensors"))
            self.location = {name: single for name in single.tensors}

    def has(self, name):
        return name in self.location

    def raw(self, name, shape):
        if name not in self.location:
            raise ReferenceError(f"tensor {name!r} is missing from the checkpoint")
        raw = self.location[name].raw(name)
        if raw.shape != tuple(shape):
            raise ReferenceError(f"tensor {name!r} has shape {list(raw.shape)}, expected {list(shape)}")
        return raw, self.location[name].dtype(name)

    def tensor(self, name, shape):
        """The whole tensor as float64."""
        raw, dtype = self.raw(name, shape)
        return _DECODERS[dtype][1](np.asarray(raw))

    def rows(self, name, shape, rows):
        """Selected rows of a 2-D tensor as float64 (reads only those rows)."""
        raw, dtype = self.raw(name, shape)
        return _DECODERS[dtype][1](np.asarray(raw[rows]))


def _load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise ReferenceError(f"cannot read {path}: {e.strerror}") from None
    except ValueError as e:
        raise ReferenceError(f"{path}: not JSON: {e}") from None


class Config:
    def __init__(self, cfg):
        def positive_int(key):
            value = cfg.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ReferenceError(f"config.json: {key} must be a positive integer, got {value!r}")
            return value

        self.hidden = positive_int("hidden_size")
        self.intermediate = positive_int("intermediate_size")
        self.layers = positive_int("num_hidden_layers")
        self.heads = positive_int("num_attention_heads")
        self.kv_heads = positive_int("num_key_value_heads")
        self.head_dim = positive_int("head_dim")
        self.vocab = positive_int("vocab_size")
        self.eps = float(cfg.get("rms_norm_eps", 1e-6))
        self.rope_theta = float(cfg.get("rope_theta", 1e6))
        self.tied = bool(cfg.get("tie_word_embeddings", False))
        if self.heads % self.kv_heads:
            raise ReferenceError("config.json: num_attention_heads is not a multiple of num_key_value_heads")
        if self.head_dim % 2:
            raise ReferenceError("config.json: head_dim must be even for rotary embeddings")


def rmsnorm(x, weight, eps):
    """Normalises over the last axis."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rope(z, positions, theta):
    """Rotate-half rotary embedding. z: [T, heads, hd]; positions: [T]."""
    hd = z.shape[-1]
    half = hd // 2
    inv_freq = theta ** (-2.0 * np.arange(half) / hd)
    angle = np.asarray(positions, dtype=np.float64)[:, None] * inv_freq[None, :]  # [T, hd/2]
    cos, sin = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]
    z1, z2 = z[..., :half], z[..., half:]
    return np.concatenate([z1 * cos - z2 * sin, z2 * cos + z1 * sin], axis=-1)


def silu(x):
    return x / (1.0 + np.exp(-x))


def round_bf16(x):
    """x rounded to the nearest BF16 value (the upper half of a float32), ties to even, as float64."""
    bits = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return rounded.astype(np.uint32).view(np.float32).astype(np.float64)


def attention(q, k, v, bf16=False):
    """Causal grouped-query attention. q: [T, nh, hd]; k, v: [T, nkv, hd] -> [T, nh * hd].
    With bf16, the int8 scheme's: BF16 operands (see the module's docstring)."""
    T, nh, hd = q.shape
    group = nh // k.shape[1]
    future = np.triu(np.ones((T, T), dtype=bool), k=1)
    if bf16:
        scale = np.float32(1) / np.sqrt(np.float32(hd))
        q, k, v = round_bf16(q.astype(np.float32) * scale), round_bf16(k), round_bf16(v)
    out = np.empty((T, nh, hd))
    for j in range(nh):
        kv = j // group
        scores = q[:, j, :] @ k[:, kv, :].T  # [T query, T key]
        if not bf16:
            scores /= math.sqrt(hd)
        scores[future] = -np.inf
        scores -= scores.max(axis=1, keepdims=True)
        weights = np.exp(scores)
        total = weights.sum(axis=1, keepdims=True)
        out[:, j, :] = (round_bf16(weights) if bf16 else weights) @ v[:, kv, :] / total
    return out.reshape(T, nh * hd)


class Int8Scheme:
    """Layer products by the int8 scheme. An activation whose scaled value lies within float32 noise
    of a rounding boundary may round either way in qguard's float32 forward; min_margin records how
    close the closest one came, so a comparison can tell a real mismatch from such a tie. (Weights
    are quantized from the same float32 values on both sides, so their ties round alike.)"""

    def __init__(self):
        self.min_margin = math.inf

    def quantize(self, v, activation):
        """(q, scale) per row of v: symmetric int8 with scale max|v| / 127, computed in float32."""
        v = np.asarray(v, dtype=np.float32)
        amax = np.abs(v).max(axis=-1, keepdims=True)
        inverse = np.divide(np.float32(127), amax, out=np.zeros_like(amax), where=amax > 0)
        scaled = v * inverse
        if activation:
            margin = np.abs(np.abs(scaled - np.floor(scaled)) - 0.5).min()
            self.min_margin = min(self.min_margin, float(margin))
        return np.rint(scaled).astype(np.int64), amax.astype(np.float64) / 127

    def linear(self, h, w):
        qw, w_scale = self.quantize(w, activation=False)  # [out, in], [out, 1]
        out = np.zeros((h.shape[0], w.shape[0]))
        for start in range(0, h.shape[1], INT8_BLOCK):
            stop = min(start + INT8_BLOCK, h.shape[1])
            qh, h_scale = self.quantize(h[:, start:stop], activation=True)  # [T, block], [T, 1]
            out += (qh @ qw[:, start:stop].T).astype(np.float64) * h_scale
        return out * w_scale.T


def linear(h, w, int8):
    """h @ w.T, exactly (float64), or by the int8 scheme `int8` (an Int8Scheme) if given."""
    return h @ w.T if int8 is None else int8.linear(h, w)


def decoder_layer(x, ckpt, cfg, layer, int8=None):
    H, I, nh, nkv, hd = cfg.hidden, cfg.intermediate, cfg.heads, cfg.kv_heads, cfg.head_dim
    T = x.shape[0]
    p = f"model.layers.{layer}."
    positions = np.arange(T)

    h = rmsnorm(x, ckpt.tensor(p + "input_layernorm.weight", (H,)), cfg.eps)
    q = linear(h, ckpt.tensor(p + "self_attn.q_proj.weight", (nh * hd, H)), int8).reshape(T, nh, hd)
    k = linear(h, ckpt.tensor(p + "self_attn.k_proj.weight", (nkv * hd, H)), int8).reshape(T, nkv, hd)
    v = linear(h, ckpt.tensor(p + "self_attn.v_proj.weight", (nkv * hd, H)), int8).reshape(T, nkv, hd)
    q = rmsnorm(q, ckpt.tensor(p + "self_attn.q_norm.weight", (hd,)), cfg.eps)
    k = rmsnorm(k, ckpt.tensor(p + "self_attn.k_norm.weight", (hd,)), cfg.eps)
    q, k = rope(q, positions, cfg.rope_theta), rope(k, positions, cfg.rope_theta)
    x = x + linear(attention(q, k, v, bf16=int8 is not None), ckpt.tensor(p + "self_attn.o_proj.weight", (H, nh * hd)),
                   int8)

    h = rmsnorm(x, ckpt.tensor(p + "post_attention_layernorm.weight", (H,)), cfg.eps)
    gate = linear(h, ckpt.tensor(p + "mlp.gate_proj.weight", (I, H)), int8)
    up = linear(h, ckpt.tensor(p + "mlp.up_proj.weight", (I, H)), int8)
    return x + linear(silu(gate) * up, ckpt.tensor(p + "mlp.down_proj.weight", (H, I)), int8)


def logits(model_dir, ids, int8=None):
    """float64 logits [T, vocab_size] for every position of the token sequence ids."""
    ckpt = Checkpoint(model_dir)
    cfg = Config(ckpt.config)
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 1 or ids.size == 0:
        raise ReferenceError("ids must be a non-empty sequence")
    if ids.min() < 0 or ids.max() >= cfg.vocab:
        raise ReferenceError(f"token ids must be in [0, {cfg.vocab})")

    x = ckpt.rows("model.embed_tokens.weight", (cfg.vocab, cfg.hidden), ids)
    for layer in range(cfg.layers):
        x = decoder_layer(x, ckpt, cfg, layer, int8)
    x = rmsnorm(x, ckpt.tensor("model.norm.weight", (cfg.hidden,)), cfg.eps)

    head = "lm_head.weight"
    if not ckpt.has(head):
        if not cfg.tied:
            raise ReferenceError("lm_head.weight is missing and tie_word_embeddings is false")
        head = "model.embed_tokens.weight"
    out = np.empty((ids.size, cfg.vocab))
    for start in range(0, cfg.vocab, LM_HEAD_CHUNK_ROWS):
        stop = min(start + LM_HEAD_CHUNK_ROWS, cfg.vocab)
        out[:, start:stop] = x @ ckpt.rows(head, (cfg.vocab, cfg.hidden), slice(start, stop)).T
    return out


def parse_ids(text):
    try:
        ids = [int(part) for part in text.split(",")]
    except ValueError:
        raise ReferenceError(f"--ids must be comma-separated integers, got {text!r}") from None
    return ids


def main(argv=None):
    p = argparse.ArgumentParser(description="float64 numpy reference logits of a Qwen3 checkpoint")
    p.add_argument("--model", required=True, help="checkpoint directory")
    p.add_argument("--ids", required=True, help="comma-separated token ids")
    p.add_argument("--int8", action="store_true", help="layer products by qguard's int8 scheme")
    args = p.parse_args(argv)
    try:
        result = logits(args.model, parse_ids(args.ids), Int8Scheme() if args.int8 else None)
    except ReferenceError as e:
        print(f"qwen3_reference: error: {e}", file=sys.stderr)
        return 1
    json.dump({"logits": result.tolist()}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
