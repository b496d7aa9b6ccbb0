#!/usr/bin/python3
"""GGUF files for the tests, written from the published format description (ggml's docs/gguf.md and
the block layouts of its quantization types), independently of qguard's C++ reader.

    writer:       write_gguf(path, metadata, tensors)   metadata: [(key, type, value)], tensors: [(name, type, raw)]
    quantizers:   quantize(type, rows)  -> raw block bytes of float32 rows
    reference:    dequantize(type, raw, count) -> float32 values, as the format defines them
"""
import struct

import numpy as np

# gguf_type: metadata value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
_SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<?",
           U64: "<Q", I64: "<q", F64: "<d"}

# ggml_type numbers, and (values per block, bytes per block)
GGML_TYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q8_0": 8, "Q4_K": 12, "Q5_K": 13, "Q6_K": 14, "BF16": 30}
BLOCKS = {"F32": (1, 4), "F16": (1, 2), "BF16": (1, 2), "Q4_0": (32, 18), "Q8_0": (32, 34),
          "Q4_K": (256, 144), "Q5_K": (256, 176), "Q6_K": (256, 210)}
QUANTIZED = ("Q4_0", "Q8_0", "Q4_K", "Q5_K", "Q6_K")
ALIGNMENT = 32  # the default, when general.alignment is absent


def _string(text):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return struct.pack("<Q", len(data)) + data


def _value(kind, value):
    if kind == STRING:
        return _string(value)
    if kind == ARRAY:
        element_kind, items = value
        out = struct.pack("<IQ", element_kind, len(items))
        if element_kind == STRING:
            return out + b"".join(_string(item) for item in items)
        return out + np.asarray(items, dtype=np.dtype(_SCALAR[element_kind])).tobytes()
    return struct.pack(_SCALAR[kind], value)


def gguf_bytes(metadata, tensors, alignment=ALIGNMENT, version=3):
    """metadata: [(key, kind, value)] (arrays: value = (element kind, items)); tensors: [(name, ggml type
    name, shape as [rows, ..., cols], raw bytes)]. Tensor data follows the tensor infos, each tensor at an
    offset (from the data section's start) that is a multiple of `alignment`."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(metadata)))
    for key, kind, value in metadata:
        out += _string(key) + struct.pack("<I", kind) + _value(kind, value)
    offset = 0
    for name, type_name, shape, raw in tensors:
        dims = list(reversed(shape))  # ne[0], the contiguous dimension, first
        out += _string(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
        out += struct.pack("<IQ", GGML_TYPES[type_name], offset)
        offset += -(-len(raw) // alignment) * alignment
    out += bytes(-len(out) % alignment)
    for _, _, _, raw in tensors:  # each at its offset: the sizes before it, rounded up to the alignment
        out += raw + bytes(-len(raw) % alignment)
    return bytes(out)


def write_gguf(path, metadata, tensors, alignment=ALIGNMENT):
    with open(path, "wb") as f:
        f.write(gguf_bytes(metadata, tensors, alignment))


# ---------------------------------------------------------------------------------------------
# Block layouts. d, dmin: float16 scales; all arithmetic in float32, in the order the format states.

def _f16(raw):
    return np.frombuffer(raw.tobytes(), dtype="<f2").astype(np.float32)


def _blocks(raw, type_name, count):
    values, size = BLOCKS[type_name]
    assert count % values == 0 and len(raw) == count // values * size
    return np.frombuffer(raw, dtype=np.uint8).reshape(count // values, size)


def _k_scales_mins(scales):
    """The 6-bit scales and mins of the 8 sub-blocks of Q4_K / Q5_K, from their 12 packed bytes:
    sub-blocks 0-3 in the low 6 bits of bytes 0-3 (scales) and 4-7 (mins); sub-blocks 4-7 in the low
    (scales) and high (mins) nibbles of bytes 8-11, with their top two bits in the top two bits of
    bytes 0-3 (scales) and 4-7 (mins)."""
    s = scales.astype(np.int32)
    sc = np.concatenate([s[:, 0:4] & 63, (s[:, 8:12] & 0xF) | ((s[:, 0:4] >> 6) << 4)], axis=1)
    mn = np.concatenate([s[:, 4:8] & 63, (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)], axis=1)
    return sc, mn


def _k_quant_values(nibbles, high):
    """Q4_K / Q5_K quantized values [blocks, 256] from 128 bytes of nibbles (4 runs of 32 bytes: low
    nibbles are values 0-31 of the run's 64, high nibbles values 32-63) and, for Q5_K, 32 bytes whose
    bit j is the fifth bit (16) of sub-block j's values."""
    q = np.empty((nibbles.shape[0], 8, 32), dtype=np.int32)
    runs = nibbles.reshape(-1, 4, 32).astype(np.int32)
    q[:, 0::2] = runs & 0xF
    q[:, 1::2] = runs >> 4
    if high is not None:
        for j in range(8):
            q[:, j] += ((high.astype(np.int32) >> j) & 1) * 16
    return q


def dequantize(type_name, raw, count):
    """float32 values of `count` values stored as `type_name` in `raw`."""
    if type_name == "F32":
        return np.frombuffer(raw, dtype="<f4").copy()
    if type_name == "F16":
        return np.frombuffer(raw, dtype="<f2").astype(np.float32)
    if type_name == "BF16":
        return (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    b = _blocks(raw, type_name, count)
    if type_name == "Q8_0":  # d, 32 int8
        return (_f16(b[:, 0:2])[:, None] * b[:, 2:].view(np.int8).astype(np.float32)).reshape(-1)
    if type_name == "Q4_0":  # d, 16 bytes: low nibbles values 0-15, high nibbles 16-31, offset 8
        q = np.concatenate([b[:, 2:] & 0xF, b[:, 2:] >> 4], axis=1).astype(np.int32) - 8
        return (q.astype(np.float32) * _f16(b[:, 0:2])[:, None]).reshape(-1)
    if type_name in ("Q4_K", "Q5_K"):  # d, dmin, 12 scale bytes, [Q5_K: 32 high-bit bytes], 128 nibble bytes
        d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])
        sc, mn = _k_scales_mins(b[:, 4:16])
        high, nibbles = (None, b[:, 16:144]) if type_name == "Q4_K" else (b[:, 16:48], b[:, 48:176])
        q = _k_quant_values(nibbles, high)
        step = (d[:, None] * sc.astype(np.float32))[:, :, None]
        offset = (dmin[:, None] * mn.astype(np.float32))[:, :, None]
        return (step * q.astype(np.float32) - offset).astype(np.float32).reshape(-1)
    if type_name == "Q6_K":  # 128 low-nibble bytes, 64 high-bit bytes, 16 int8 scales, d
        ql, qh, scales, d = b[:, 0:128], b[:, 128:192], b[:, 192:208].view(np.int8), _f16(b[:, 208:210])
        q = np.empty((b.shape[0], 2, 4, 32), dtype=np.int32)
        for half in range(2):
            low = ql[:, 64 * half:64 * half + 64].astype(np.int32)
            hi = qh[:, 32 * half:32 * half + 32].astype(np.int32)
            for k in range(4):
                nib = low[:, 32 * (k % 2):32 * (k % 2) + 32]
                nib = nib & 0xF if k < 2 else nib >> 4
                q[:, half, k] = (nib | (((hi >> (2 * k)) & 3) << 4)) - 32
        scale = (d[:, None] * scales.astype(np.float32)).reshape(-1, 2, 4, 2, 1)  # 16 values per scale
        return (scale * q.reshape(-1, 2, 4, 2, 16).astype(np.float32)).astype(np.float32).reshape(-1)
    raise ValueError(type_name)


# ---------------------------------------------------------------------------------------------
# Quantizers: any valid encoding works (the tests check the decoding); these are simple round-to-nearest ones.

def _to_f16(values):
    return np.asarray(values, dtype=np.float32).astype(np.float16)


def _safe_div(a, b):
    return np.where(b != 0, a / np.where(b != 0, b, 1), 0).astype(np.float32)


def _pack_k_scales(sc, mn):
    out = np.zeros((sc.shape[0], 12), dtype=np.uint8)
    out[:, 0:4] = (sc[:, 0:4] & 63) | ((sc[:, 4:8] >> 4) << 6)
    out[:, 4:8] = (mn[:, 0:4] & 63) | ((mn[:, 4:8] >> 4) << 6)
    out[:, 8:12] = (sc[:, 4:8] & 0xF) | ((mn[:, 4:8] & 0xF) << 4)
    return out


def quantize(type_name, values):
    """Raw bytes of float32 `values` (a multiple of the block size) in `type_name`."""
    x = np.asarray(values, dtype=np.float32).reshape(-1)
    if type_name == "F32":
        return x.astype("<f4").tobytes()
    if type_name == "F16":
        return x.astype("<f2").tobytes()
    if type_name == "BF16":
        bits = x.view(np.uint32).astype(np.uint64)
        return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2").tobytes()
    n = BLOCKS[type_name][0]
    x = x.reshape(-1, n)
    if type_name in ("Q8_0", "Q4_0"):
        levels = 127 if type_name == "Q8_0" else 7
        d = _to_f16(np.abs(x).max(axis=1) / levels)
        q = np.clip(np.rint(_safe_div(x, d.astype(np.float32)[:, None])), -levels, levels).astype(np.int32)
        if type_name == "Q8_0":
            body = q.astype(np.int8).view(np.uint8)
        else:
            u = (q + 8).astype(np.uint8)
            body = u[:, :16] | (u[:, 16:] << 4)
        return np.concatenate([d.view(np.uint8).reshape(-1, 2), body], axis=1).tobytes()
    if type_name in ("Q4_K", "Q5_K"):
        top = 15 if type_name == "Q4_K" else 31
        sub = x.reshape(-1, 8, 32)
        low = np.minimum(sub.min(axis=2), 0)
        scale, minimum = (sub.max(axis=2) - low) / top, -low
        d, dmin = _to_f16(scale.max(axis=1) / 63), _to_f16(minimum.max(axis=1) / 63)
        sc = np.clip(np.rint(_safe_div(scale, d.astype(np.float32)[:, None])), 0, 63).astype(np.int32)
        mn = np.clip(np.rint(_safe_div(minimum, dmin.astype(np.float32)[:, None])), 0, 63).astype(np.int32)
        step = d.astype(np.float32)[:, None] * sc
        offset = dmin.astype(np.float32)[:, None] * mn
        q = np.clip(np.rint(_safe_div(sub + offset[:, :, None], step[:, :, None])), 0, top).astype(np.int32)
        runs = q.reshape(-1, 4, 2, 32)
        nibbles = ((runs[:, :, 0] & 0xF) | ((runs[:, :, 1] & 0xF) << 4)).reshape(-1, 128).astype(np.uint8)
        parts = [d.view(np.uint8).reshape(-1, 2), dmin.view(np.uint8).reshape(-1, 2), _pack_k_scales(sc, mn)]
        if type_name == "Q5_K":
            high = np.zeros((x.shape[0], 32), dtype=np.int32)
            for j in range(8):
                high |= ((q[:, j] >> 4) & 1) << j
            parts.append(high.astype(np.uint8))
        return np.concatenate(parts + [nibbles], axis=1).tobytes()
    if type_name == "Q6_K":
        sub = x.reshape(-1, 16, 16)
        scale = np.abs(sub).max(axis=2) / 31
        d = _to_f16(scale.max(axis=1) / 127)
        sc = np.clip(np.rint(_safe_div(scale, d.astype(np.float32)[:, None])), -128, 127).astype(np.int32)
        step = d.astype(np.float32)[:, None] * sc
        q = (np.clip(np.rint(_safe_div(sub, step[:, :, None])), -32, 31) + 32).astype(np.int32)
        q = q.reshape(-1, 2, 4, 32)  # half, k, l
        ql = np.zeros((x.shape[0], 2, 64), dtype=np.int32)
        qh = np.zeros((x.shape[0], 2, 32), dtype=np.int32)
        for k in range(4):
            shift = 0 if k < 2 else 4
            ql[:, :, 32 * (k % 2):32 * (k % 2) + 32] |= (q[:, :, k] & 0xF) << shift
            qh |= (q[:, :, k] >> 4) << (2 * k)
        return np.concatenate([ql.reshape(-1, 128).astype(np.uint8), qh.reshape(-1, 64).astype(np.uint8),
                               sc.astype(np.int8).view(np.uint8), d.view(np.uint8).reshape(-1, 2)], axis=1).tobytes()
    raise ValueError(type_name)
