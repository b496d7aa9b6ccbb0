#!/usr/bin/python3
"""Self-checks of the numpy reference (qwen3_reference.py), the checkpoint writer
(tools/make_checkpoint.py) and the comparison script (check_logits.py), before any of them is
trusted to judge the C++ forward pass.

Expected values come from hand computation, closed forms of specially built models, a second
per-position formulation of the forward pass (complex-number RoPE, explicit loops), or properties
the spec implies (causality, tied = duplicated lm_head, sharding and dtype invariance).
"""
import cmath
import importlib.util
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PYTHON = sys.executable
sys.path.insert(0, HERE)
import qwen3_reference as ref  # noqa: E402


def load_tool(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKE_CHECKPOINT = os.path.join(REPO, "tools", "make_checkpoint.py")
mk = load_tool("make_checkpoint", MAKE_CHECKPOINT)

SMALL = {"hidden_size": 24, "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "head_dim": 10, "vocab_size": 300}


def config_with(shape, tied):
    cfg = dict(mk.load_presets(mk.SPEC_CONFIGS)[mk.TEMPLATE_PRESET])
    cfg.update(shape)
    cfg["tie_word_embeddings"] = tied
    return cfg


def write_f32_safetensors(path, tensors):
    """An F32 safetensors file written independently of make_checkpoint (no padding, sorted names)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(np.shape(tensors[name])),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def write_raw_safetensors(path, header, data):
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def f32(values):
    """Round to float32 and back, as the F32 files store them."""
    return np.asarray(values, dtype=np.float32).astype(np.float64)


class HandModel:
    """A checkpoint built tensor by tensor in the test, with F32-exact random weights."""

    def __init__(self, directory, shape, tied=False, seed=0):
        self.dir, self.cfg = directory, config_with(shape, tied)
        rng = np.random.default_rng(seed)
        H, I, V = shape["hidden_size"], shape["intermediate_size"], shape["vocab_size"]
        nh, nkv, hd = shape["num_attention_heads"], shape["num_key_value_heads"], shape["head_dim"]
        w = {"model.embed_tokens.weight": rng.standard_normal((V, H)),
             "model.norm.weight": 1 + 0.3 * rng.standard_normal(H)}
        for l in range(shape["num_hidden_layers"]):
            p = f"model.layers.{l}."
            w[p + "input_layernorm.weight"] = 1 + 0.3 * rng.standard_normal(H)
            w[p + "post_attention_layernorm.weight"] = 1 + 0.3 * rng.standard_normal(H)
            w[p + "self_attn.q_norm.weight"] = 1 + 0.3 * rng.standard_normal(hd)
            w[p + "self_attn.k_norm.weight"] = 1 + 0.3 * rng.standard_normal(hd)
            for proj, (out, inp) in {"q": (nh * hd, H), "k": (nkv * hd, H), "v": (nkv * hd, H),
                                     "o": (H, nh * hd)}.items():
                w[p + f"self_attn.{proj}_proj.weight"] = rng.standard_normal((out, inp)) / math.sqrt(inp)
            for proj, (out, inp) in {"gate": (I, H), "up": (I, H), "down": (H, I)}.items():
                w[p + f"mlp.{proj}_proj.weight"] = rng.standard_normal((out, inp)) / math.sqrt(inp)
        if not tied:
            w["lm_head.weight"] = rng.standard_normal((V, H)) / math.sqrt(H)
        self.w = {name: f32(value) for name, value in w.items()}

    def write(self):
        os.makedirs(self.dir, exist_ok=True)
        with open(os.path.join(self.dir, "config.json"), "w") as f:
            json.dump(self.cfg, f)
        write_f32_safetensors(os.path.join(self.dir, "model.safetensors"), self.w)
        return self.dir

    def lm_head(self):
        return self.w.get("lm_head.weight", self.w["model.embed_tokens.weight"])


def rms_normalise(vector, weight, eps=1e-6):
    return [v / math.sqrt(sum(u * u for u in vector) / len(vector) + eps) * g for v, g in zip(vector, weight)]


def complex_rope(vector, position, theta):
    """RoPE as complex multiplication: pair (i, i + hd/2) is the number z_i + i z_{i+hd/2}."""
    half = len(vector) // 2
    out = list(vector)
    for i in range(half):
        turned = complex(vector[i], vector[i + half]) * cmath.exp(1j * position * theta ** (-2 * i / len(vector)))
        out[i], out[i + half] = turned.real, turned.imag
    return out


def per_position_forward(model, ids, norm_before_rope=True):
    """The forward pass once more, position by position, with matrix-vector products (W @ v).
    norm_before_rope=False swaps the q/k norm and RoPE (wrong; used to show the tests notice)."""
    c, w = model.cfg, model.w
    nh, nkv, hd = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    eps, theta = c["rms_norm_eps"], c["rope_theta"]
    xs = [w["model.embed_tokens.weight"][i].copy() for i in ids]
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        qs, ks, vs = [], [], []
        for t, x in enumerate(xs):
            h = np.array(rms_normalise(x, w[p + "input_layernorm.weight"], eps))
            q, k, v = (w[p + f"self_attn.{n}_proj.weight"] @ h for n in "qkv")
            def position_head(z, norm_weight):
                if norm_before_rope:
                    return complex_rope(rms_normalise(z, norm_weight, eps), t, theta)
                return rms_normalise(complex_rope(z, t, theta), norm_weight, eps)
            qs.append([position_head(q[j * hd:(j + 1) * hd], w[p + "self_attn.q_norm.weight"]) for j in range(nh)])
            ks.append([position_head(k[g * hd:(g + 1) * hd], w[p + "self_attn.k_norm.weight"]) for g in range(nkv)])
            vs.append([v[g * hd:(g + 1) * hd] for g in range(nkv)])
        new_xs = []
        for t, x in enumerate(xs):
            heads = []
            for j in range(nh):
                g = j * nkv // nh
                scores = [sum(a * b for a, b in zip(qs[t][j], ks[s][g])) / math.sqrt(hd) for s in range(t + 1)]
                top = max(scores)
                weights = [math.exp(s - top) for s in scores]
                heads.append(sum(wt * vs[s][g] for s, wt in enumerate(weights)) / sum(weights))
            x = x + w[p + "self_attn.o_proj.weight"] @ np.concatenate(heads)
            h = np.array(rms_normalise(x, w[p + "post_attention_layernorm.weight"], eps))
            gate, up = w[p + "mlp.gate_proj.weight"] @ h, w[p + "mlp.up_proj.weight"] @ h
            act = np.array([gv / (1 + math.exp(-gv)) * uv for gv, uv in zip(gate, up)])
            new_xs.append(x + w[p + "mlp.down_proj.weight"] @ act)
        xs = new_xs
    return np.array([model.lm_head() @ np.array(rms_normalise(x, w["model.norm.weight"], eps)) for x in xs])


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)


class SafetensorsReaderTest(TempDirTest):
    def test_decodes_bf16_f16_f32_bit_patterns(self):
        bf16 = struct.pack("<4H", 0x3F80, 0xC000, 0x3FC0, 0x4049)  # 1, -2, 1.5, 3.140625
        f16 = struct.pack("<2H", 0x3C00, 0xB800)  # 1, -0.5
        f32_bytes = struct.pack("<f", 0.1)
        header = {"a": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]},
                  "b": {"dtype": "F16", "shape": [2], "data_offsets": [8, 12]},
                  "c": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]},
                  "__metadata__": {"format": "pt"}}
        write_raw_safetensors(self.path("t.safetensors"), header, bf16 + f16 + f32_bytes)
        st = ref.SafetensorsFile(self.path("t.safetensors"))
        decode = lambda name: ref._DECODERS[st.dtype(name)][1](np.asarray(st.raw(name)))
        np.testing.assert_array_equal(decode("a"), [[1.0, -2.0], [1.5, 3.140625]])
        np.testing.assert_array_equal(decode("b"), [1.0, -0.5])
        self.assertEqual(decode("c")[0], float(np.float32(0.1)))

    def test_rejects_malformed_files(self):
        good = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
        cases = {
            "offsets beyond the data": ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 12]}}, 8),
            "size not matching the shape": ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, 8),
            "unsupported dtype": ({"a": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}}, 8),
            "negative dimension": ({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, 8),
            "reversed offsets": ({"a": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}}, 8),
        }
        for what, (header, size) in cases.items():
            with self.subTest(what):
                write_raw_safetensors(self.path("bad.safetensors"), header, bytes(size))
                with self.assertRaises(ref.ReferenceError):
                    ref.SafetensorsFile(self.path("bad.safetensors"))
        with open(self.path("huge.safetensors"), "wb") as f:
            f.write(struct.pack("<Q", 1 << 40) + json.dumps(good).encode() + bytes(8))
        with self.assertRaises(ref.ReferenceError):
            ref.SafetensorsFile(self.path("huge.safetensors"))
        with open(self.path("notjson.safetensors"), "wb") as f:
            f.write(struct.pack("<Q", 4) + b"{{{{")
        with self.assertRaises(ref.ReferenceError):
            ref.SafetensorsFile(self.path("notjson.safetensors"))


class BuildingBlocksTest(unittest.TestCase):
    def test_rmsnorm_by_hand(self):
        # mean of squares of (3, 4) is 12.5
        out = ref.rmsnorm(np.array([3.0, 4.0]), np.array([1.0, 2.0]), 0.0)
        np.testing.assert_allclose(out, [3 / math.sqrt(12.5), 8 / math.sqrt(12.5)], rtol=1e-15)

    def test_int8_scheme_by_hand(self):
        # One row [127, -63.5, 0.2]: scale 1, q = (127, -64 (tie to even), 0); an all-zero row: q = 0.
        q, scale = ref.Int8Scheme().quantize(np.array([[127.0, -63.5, 0.2], [0.0, 0.0, 0.0]]), activation=False)
        np.testing.assert_array_equal(q, [[127, -64, 0], [0, 0, 0]])
        np.testing.assert_array_equal(scale, [[1.0], [0.0]])
        # Inputs are scaled per block of INT8_BLOCK: a block of 2s next to a block of 0.02s keeps both
        # exact (q = 127 each), which one scale for the whole row could not.
        h = np.concatenate([np.full(ref.INT8_BLOCK, 2.0), np.full(ref.INT8_BLOCK, 0.02)])[None, :]
        w = np.ones((1, h.shape[1]))
        self.assertAlmostEqual(ref.Int8Scheme().linear(h, w)[0, 0], ref.INT8_BLOCK * 2.02, places=6)

    def test_int8_scheme_within_its_error_bound(self):
        rng = np.random.default_rng(3)
        h, w = rng.standard_normal((5, 150)), rng.standard_normal((7, 150))
        scheme = ref.Int8Scheme()
        got = scheme.linear(h, w)
        # |Δ| per product <= |h| s_w / 2 + |w| s_h / 2 + s_h s_w / 4, with s = max|block| / 127.
        s_w = np.abs(w).max(axis=1) / 127
        s_h = np.concatenate([np.repeat(np.abs(h[:, i:i + ref.INT8_BLOCK]).max(axis=1, keepdims=True) / 127,
                                        min(ref.INT8_BLOCK, 150 - i), axis=1) for i in range(0, 150, ref.INT8_BLOCK)], axis=1)
        bound = (np.abs(h).sum(axis=1)[:, None] * s_w / 2 + s_h @ np.abs(w).T / 2 + s_h.sum(axis=1)[:, None] * s_w / 4)
        self.assertTrue((np.abs(got - h @ w.T) <= bound * 1.0001).all())
        self.assertGreater(np.abs(got - h @ w.T).max(), 0)  # it does quantize
        self.assertLess(scheme.min_margin, 0.5)

    def test_bf16_rounding_by_hand(self):
        # BF16 keeps 7 fraction bits: near 1 its step is 2^-7. Halfway cases go to the even neighbour.
        u = 2.0 ** -8
        values = [1 + u, 1 + 3 * u, 1 + u + 2.0 ** -20, -(1 + 3 * u), 3.0, 2.0 ** -130]
        np.testing.assert_array_equal(ref.round_bf16(values), [1.0, 1 + 4 * u, 1 + 2 * u, -(1 + 4 * u), 3.0, 2.0 ** -130])

    def test_bf16_attention_stays_close_to_exact_attention(self):
        rng = np.random.default_rng(5)
        q, k, v = rng.standard_normal((6, 4, 32)), rng.standard_normal((6, 2, 32)), rng.standard_normal((6, 2, 32))
        exact, rounded = ref.attention(q, k, v), ref.attention(q, k, v, bf16=True)
        self.assertLess(np.abs(rounded - exact).max(), 0.05)
        self.assertGreater(np.abs(rounded - exact).max(), 0)  # it does round
        # The first position sees itself only: its output is its value, rounded.
        np.testing.assert_array_equal(rounded[0].reshape(4, 32)[0], ref.round_bf16(v[0, 0]))

    def test_rope_is_identity_at_position_zero(self):
        z = np.random.default_rng(0).standard_normal((1, 3, 8))
        np.testing.assert_array_equal(ref.rope(z, [0], 1e6), z)

    def test_rope_by_hand(self):
        # hd = 4, theta = 100: frequencies 1 and 0.1; pairs (0, 2) and (1, 3); position 2.
        z = np.array([[[1.0, 2.0, 3.0, 4.0]]])
        a, b = 2.0, 0.2
        expected = [1 * math.cos(a) - 3 * math.sin(a), 2 * math.cos(b) - 4 * math.sin(b),
                    3 * math.cos(a) + 1 * math.sin(a), 4 * math.cos(b) + 2 * math.sin(b)]
        np.testing.assert_allclose(ref.rope(z, [2], 100.0)[0, 0], expected, rtol=1e-14)

    def test_rope_matches_complex_rotation_and_is_relative(self):
        rng = np.random.default_rng(1)
        q, k = rng.standard_normal((1, 1, 12)), rng.standard_normal((1, 1, 12))
        for pos in (0, 1, 7, 300):
            np.testing.assert_allclose(ref.rope(q, [pos], 1e4)[0, 0], complex_rope(list(q[0, 0]), pos, 1e4),
                                       rtol=1e-12, atol=1e-12)
        dot = lambda m, n: float(ref.rope(q, [m], 1e4)[0, 0] @ ref.rope(k, [n], 1e4)[0, 0])
        self.assertAlmostEqual(dot(5, 2), dot(13, 10), places=12)
        self.assertNotAlmostEqual(dot(5, 2), dot(5, 3), places=3)

    def test_silu_values(self):
        np.testing.assert_allclose(ref.silu(np.array([0.0, 1.0, -2.0])),
                                   [0.0, 1 / (1 + math.exp(-1)), -2 / (1 + math.exp(2))], rtol=1e-15)

    def test_attention_two_positions_by_hand(self):
        # One head, hd = 4: position 1 attends to keys 0 and 1 with scores q.k / 2.
        q = np.zeros((2, 1, 4)); q[1, 0, 0] = 1.0
        k = np.zeros((2, 1, 4)); k[0, 0, 0] = 3.0; k[1, 0, 0] = 1.0
        v = np.array([[[1.0, 0, 0, 0]], [[0, 1.0, 0, 0]]])
        out = ref.attention(q, k, v)
        w0 = 1 / (1 + math.exp((1.0 - 3.0) / 2))
        np.testing.assert_allclose(out[1], [w0, 1 - w0, 0, 0], rtol=1e-14)
        np.testing.assert_allclose(out[0], [1, 0, 0, 0], rtol=1e-14)  # causal: only itself

    def test_attention_uniform_when_queries_vanish_and_heads_share_kv_in_blocks(self):
        # q = 0 makes every allowed key equally likely: position t averages v over 0..t.
        T, nh, nkv, hd = 5, 6, 2, 3
        v = np.random.default_rng(2).standard_normal((T, nkv, hd))
        out = ref.attention(np.zeros((T, nh, hd)), np.ones((T, nkv, hd)), v).reshape(T, nh, hd)
        for t in range(T):
            for j in range(nh):
                np.testing.assert_allclose(out[t, j], v[:t + 1, j // 3].mean(axis=0), rtol=1e-13)


class ClosedFormModelTest(TempDirTest):
    SHAPE = {"hidden_size": 12, "intermediate_size": 20, "num_hidden_layers": 1, "num_attention_heads": 4,
             "num_key_value_heads": 2, "head_dim": 6, "vocab_size": 50}
    IDS = [3, 17, 3, 49, 0, 22]

    def test_without_value_and_down_projections_logits_are_the_normalised_embedding(self):
        m = HandModel(self.path("m"), self.SHAPE, tied=True)
        m.w["model.layers.0.self_attn.v_proj.weight"][:] = 0
        m.w["model.layers.0.mlp.down_proj.weight"][:] = 0
        got = ref.logits(m.write(), self.IDS)
        E = m.w["model.embed_tokens.weight"]
        for t, i in enumerate(self.IDS):
            np.testing.assert_allclose(got[t], E @ rms_normalise(E[i], m.w["model.norm.weight"]), rtol=1e-12)

    def test_vanishing_queries_average_the_values_causally(self):
        m = HandModel(self.path("m"), self.SHAPE, tied=False)
        p = "model.layers.0."
        m.w[p + "self_attn.q_norm.weight"][:] = 0
        m.w[p + "mlp.down_proj.weight"][:] = 0
        got = ref.logits(m.write(), self.IDS)
        E, Wv, Wo = m.w["model.embed_tokens.weight"], m.w[p + "self_attn.v_proj.weight"], m.w[p + "self_attn.o_proj.weight"]
        values = [Wv @ rms_normalise(E[i], m.w[p + "input_layernorm.weight"]) for i in self.IDS]  # [nkv*hd]
        for t, i in enumerate(self.IDS):
            mean = np.mean(values[:t + 1], axis=0)
            heads = np.concatenate([mean[0:6], mean[0:6], mean[6:12], mean[6:12]])  # heads 0,1 -> kv 0
            x = E[i] + Wo @ heads
            np.testing.assert_allclose(got[t], m.lm_head() @ rms_normalise(x, m.w["model.norm.weight"]), rtol=1e-11)

    def test_mlp_alone(self):
        m = HandModel(self.path("m"), self.SHAPE, tied=False)
        p = "model.layers.0."
        m.w[p + "self_attn.v_proj.weight"][:] = 0
        got = ref.logits(m.write(), self.IDS)
        E = m.w["model.embed_tokens.weight"]
        for t, i in enumerate(self.IDS):
            h = rms_normalise(E[i], m.w[p + "post_attention_layernorm.weight"])
            gate, up = m.w[p + "mlp.gate_proj.weight"] @ h, m.w[p + "mlp.up_proj.weight"] @ h
            x = E[i] + m.w[p + "mlp.down_proj.weight"] @ (gate / (1 + np.exp(-gate)) * up)
            np.testing.assert_allclose(got[t], m.lm_head() @ rms_normalise(x, m.w["model.norm.weight"]), rtol=1e-11)

    def test_full_model_matches_per_position_formulation(self):
        shape = dict(self.SHAPE, num_hidden_layers=2, num_attention_heads=6, head_dim=4)  # 6 heads over 2 kv
        for tied in (True, False):
            with self.subTest(tied=tied):
                m = HandModel(self.path(f"m{tied}"), shape, tied=tied, seed=5)
                m.cfg["rope_theta"] = 10.0  # large angles even at small positions
                got = ref.logits(m.write(), self.IDS)
                np.testing.assert_allclose(got, per_position_forward(m, self.IDS), rtol=1e-10, atol=1e-10)

    def test_qk_norm_is_applied_before_rope(self):
        # With non-uniform q/k norm weights the two orders differ, so the agreement above is
        # sensitive to the order: the reference must disagree with rope-then-norm.
        m = HandModel(self.path("m"), self.SHAPE, tied=True, seed=9)
        m.cfg["rope_theta"] = 3.0
        got = ref.logits(m.write(), self.IDS)
        np.testing.assert_allclose(got, per_position_forward(m, self.IDS), rtol=1e-10, atol=1e-10)
        swapped = per_position_forward(m, self.IDS, norm_before_rope=False)
        self.assertGreater(np.abs(swapped - got).max(), 1e-3)


class GeneratedCheckpointTest(TempDirTest):
    """Checkpoints from tools/make_checkpoint.py: file format, determinism, properties."""

    def make(self, name, dtype="f32", shards=1, seed=3, tied=True, lm_head=False, shape=SMALL):
        out = self.path(name)
        mk.write_checkpoint(out, config_with(shape, tied), dtype, shards, seed, lm_head)
        return out

    def test_config_and_tensor_layout(self):
        d = self.make("m", dtype="bf16", tied=False)
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        spec = mk.load_presets(mk.SPEC_CONFIGS)[mk.TEMPLATE_PRESET]
        self.assertEqual(set(cfg), set(spec))
        self.assertEqual((cfg["model_type"], cfg["architectures"]), ("qwen3", ["Qwen3ForCausalLM"]))
        H, I, V, hd = 24, 40, 300, 10
        expected = {"model.embed_tokens.weight": [V, H], "model.norm.weight": [H], "lm_head.weight": [V, H]}
        for l in range(2):
            p = f"model.layers.{l}."
            expected.update({p + "input_layernorm.weight": [H], p + "post_attention_layernorm.weight": [H],
                             p + "self_attn.q_proj.weight": [4 * hd, H], p + "self_attn.k_proj.weight": [2 * hd, H],
                             p + "self_attn.v_proj.weight": [2 * hd, H], p + "self_attn.o_proj.weight": [H, 4 * hd],
                             p + "self_attn.q_norm.weight": [hd], p + "self_attn.k_norm.weight": [hd],
                             p + "mlp.gate_proj.weight": [I, H], p + "mlp.up_proj.weight": [I, H],
                             p + "mlp.down_proj.weight": [H, I]})
        path = os.path.join(d, "model.safetensors")
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        self.assertEqual(n % 8, 0)
        header.pop("__metadata__")
        self.assertEqual({k: v["shape"] for k, v in header.items()}, expected)
        self.assertTrue(all(v["dtype"] == "BF16" for v in header.values()))
        spans = sorted(v["data_offsets"] for v in header.values())
        self.assertEqual(spans[0][0], 0)
        self.assertTrue(all(a[1] == b[0] for a, b in zip(spans, spans[1:])))
        self.assertEqual(os.path.getsize(path), 8 + n + spans[-1][1])

    def test_bf16_rounding_is_to_nearest_even(self):
        one = 1.0
        values = np.array([one, one + 2 ** -8, one + 3 * 2 ** -8, one + 2 ** -8 + 2 ** -20, -1.5, 2 ** -130],
                          dtype=np.float32)
        bits = mk.to_bf16_bits(values)
        np.testing.assert_array_equal(bits, [0x3F80, 0x3F80, 0x3F82, 0x3F81, 0xBFC0, 0x0008])

    def test_bf16_file_is_the_rounded_f32_file(self):
        a, b = self.make("f32", "f32", tied=False), self.make("bf16", "bf16", tied=False)
        ca, cb = ref.Checkpoint(a), ref.Checkpoint(b)
        for name in ca.location:
            raw_f32, _ = ca.raw(name, ca.location[name].tensors[name][1])
            raw_bf16, dtype = cb.raw(name, cb.location[name].tensors[name][1])
            self.assertEqual(dtype, "BF16")
            np.testing.assert_array_equal(np.asarray(raw_bf16), mk.to_bf16_bits(np.asarray(raw_f32)), err_msg=name)
        ids = [5, 77, 299, 0, 150, 5, 6, 7]
        la, lb = ref.logits(a, ids), ref.logits(b, ids)
        diff = np.abs(la - lb).max() / np.abs(la).max()
        self.assertGreater(diff, 0)  # the files do differ ...
        self.assertLess(diff, 0.05)  # ... by rounding only

    def test_same_seed_same_file_other_seed_other_weights(self):
        a, b, c = self.make("a", seed=1), self.make("b", seed=1), self.make("c", seed=2)
        def read(d):
            with open(os.path.join(d, "model.safetensors"), "rb") as f:
                return f.read()
        self.assertEqual(read(a), read(b))
        self.assertNotEqual(read(a), read(c))

    def test_sharded_equals_single_file(self):
        single, sharded = self.make("one", "bf16", tied=False), self.make("three", "bf16", shards=3, tied=False)
        files = sorted(f for f in os.listdir(sharded) if f.endswith(".safetensors"))
        self.assertEqual(files, [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)])
        with open(os.path.join(sharded, "model.safetensors.index.json")) as f:
            index = json.load(f)
        self.assertEqual(set(index["weight_map"].values()), set(files))
        data_bytes = 0
        for name in files:
            with open(os.path.join(sharded, name), "rb") as f:
                (n,) = struct.unpack("<Q", f.read(8))
            data_bytes += os.path.getsize(os.path.join(sharded, name)) - 8 - n
        self.assertEqual(index["metadata"]["total_size"], data_bytes)
        ids = [1, 2, 3, 250, 9, 9, 100, 42]
        np.testing.assert_array_equal(ref.logits(single, ids), ref.logits(sharded, ids))

    def test_tied_with_and_without_lm_head_agree(self):
        without, with_head = self.make("no_head"), self.make("head", lm_head=True)
        self.assertTrue(ref.Checkpoint(with_head).has("lm_head.weight"))
        self.assertFalse(ref.Checkpoint(without).has("lm_head.weight"))
        ids = [11, 22, 33, 44, 55, 66, 77, 88]
        np.testing.assert_array_equal(ref.logits(without, ids), ref.logits(with_head, ids))

    def test_logits_are_causal(self):
        d = self.make("m", "bf16", tied=False)
        ids = [4, 8, 15, 16, 23, 42, 108, 7]
        full = ref.logits(d, ids)
        for t in (0, 3, 6):
            changed = ids[:t + 1] + [(i + 1) % 300 for i in ids[t + 1:]]
            # Equal up to summation-order rounding (the matrix products differ in size).
            np.testing.assert_allclose(ref.logits(d, changed)[:t + 1], full[:t + 1], rtol=0, atol=1e-12)
            np.testing.assert_allclose(ref.logits(d, ids[:t + 1]), full[:t + 1], rtol=0, atol=1e-12)
        self.assertGreater(np.abs(ref.logits(d, ids[:-1] + [ids[-1] + 1])[-1] - full[-1]).max(), 1e-3)

    def test_logits_are_not_degenerate(self):
        for tied in (True, False):
            d = self.make(f"m{tied}", "bf16", tied=tied)
            rng = np.random.default_rng(4)
            last_argmax = set()
            for _ in range(6):
                ids = rng.integers(0, 300, 10).tolist()
                out = ref.logits(d, ids)
                self.assertGreater(out[-1].std(), 0.5)
                self.assertLess(int((out.argmax(axis=1) == ids).sum()), 5)  # not echoing the input
                last_argmax.add(int(out[-1].argmax()))
            self.assertGreaterEqual(len(last_argmax), 4)

    def test_command_line_tools(self):
        out = self.path("cli")
        done = subprocess.run([PYTHON, MAKE_CHECKPOINT, "--out", out, "--hidden-size", "16", "--intermediate-size",
                               "24", "--layers", "1", "--heads", "2", "--kv-heads", "1", "--head-dim", "8",
                               "--vocab-size", "40", "--untied", "--dtype", "f32", "--shards", "2"],
                              capture_output=True, text=True)
        self.assertEqual((done.returncode, done.stdout, done.stderr), (0, "", ""))
        done = subprocess.run([PYTHON, os.path.join(HERE, "qwen3_reference.py"), "--model", out, "--ids", "3,1,4"],
                              capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, done.stderr)
        printed = json.loads(done.stdout)["logits"]
        np.testing.assert_array_equal(printed, ref.logits(out, [3, 1, 4]))
        self.assertEqual(np.shape(printed), (3, 40))
        for bad in (["--ids", "3,x"], ["--ids", "40"], ["--ids", "-1"]):
            done = subprocess.run([PYTHON, os.path.join(HERE, "qwen3_reference.py"), "--model", out] + bad,
                                  capture_output=True, text=True)
            self.assertEqual(done.returncode, 1, bad)
            self.assertIn("error", done.stderr)
        done = subprocess.run([PYTHON, MAKE_CHECKPOINT, "--out", self.path("bad"), "--preset", "Qwen3Guard-Gen-0.6B",
                               "--heads", "5"], capture_output=True, text=True)
        self.assertEqual(done.returncode, 1)
        self.assertIn("multiple of --kv-heads", done.stderr)

    def test_preset_config_is_the_spec_config(self):
        presets = mk.load_presets(mk.SPEC_CONFIGS)
        cfg = mk.build_config(mk.parse_args(["--out", "x", "--preset", "Qwen3Guard-Gen-0.6B"]), presets)
        self.assertEqual(cfg, presets["Qwen3Guard-Gen-0.6B"])


FAKE_QGUARD = """#!{python}
import json, os, sys
sys.path.insert(0, {here!r})
import qwen3_reference
args = sys.argv[1:]
model, ids = args[args.index("--model") + 1], qwen3_reference.parse_ids(args[args.index("--ids") + 1])
out = qwen3_reference.logits(model, ids)
if "--all" not in args:
    out = out[-1:]
mode = os.environ["FAKE_MODE"]
if mode == "bad_json":
    print("{{\\"logits\\": [[1, 2]")
    sys.exit(0)
if mode == "fail":
    print("boom", file=sys.stderr)
    sys.exit(3)
if mode == "narrow":
    out = out[:, :-1]
scale = {{"close": 2e-4, "far": 3e-3}}.get(mode, 0.0)
out = out + scale * abs(out).max()
json.dump({{"logits": out.astype("float32").tolist()}}, sys.stdout)
"""


class CheckLogitsScriptTest(TempDirTest):
    """check_logits.py against a stand-in binary whose output is controlled."""

    def setUp(self):
        super().setUp()
        self.model = self.path("m")
        mk.write_checkpoint(self.model, config_with(SMALL, True), "bf16", 1, 0, False)
        self.fake = self.path("fake_qguard")
        with open(self.fake, "w") as f:
            f.write(FAKE_QGUARD.format(python=PYTHON, here=HERE))
        os.chmod(self.fake, 0o755)

    def run_check(self, mode, *extra, binary=None):
        return subprocess.run([PYTHON, os.path.join(HERE, "check_logits.py"), "--qguard", binary or self.fake,
                               "--model", self.model, "--random-ids", "9", "--seed", "1", *extra],
                              capture_output=True, text=True, env=dict(os.environ, FAKE_MODE=mode))

    def test_outcomes(self):
        for mode, extra, code in [("exact", [], 0), ("close", [], 0), ("far", [], 1), ("close", ["--tolerance", "1e-4"], 1),
                                  ("exact", ["--last-only"], 0),
                                  ("far", ["--last-only"], 1), ("narrow", [], 2), ("bad_json", [], 2),
                                  ("fail", [], 2)]:
            with self.subTest(mode=mode, extra=extra):
                done = self.run_check(mode, *extra)
                self.assertEqual(done.returncode, code, done.stdout + done.stderr)
        self.assertEqual(self.run_check("exact", binary=self.path("missing")).returncode, 2)

    def test_prints_figures(self):
        done = self.run_check("close")
        self.assertIn("PASS", done.stdout)
        self.assertIn("max |diff|", done.stdout)
        self.assertIn("argmax agrees at 9/9", done.stdout)


if __name__ == "__main__":
    unittest.main()
