#!/usr/bin/python3
"""qguard on the GGUF models of make_gguf_fixtures.py:

    check_gguf_models.py QGUARD FIXTURE_DIR reference   each quantized model: `--weights f32` and the default
                                                        (block-quantized matrices read in place) logits
                                                        against qwen3_reference.py on the reference's decoding
                                                        of its weights (bound 5e-5 of the largest logit);
                                                        `--weights int8` against the reference's int8 scheme
                                                        on the same weights (the same bound: the embedding and
                                                        lm_head are decoded exactly, as in the f32 path)
    check_gguf_models.py QGUARD FIXTURE_DIR in_place [LAUNCHER]
                                                        each quantized model (Q8_0, Q4_0, Q4_K + Q6_K, Q5_K):
                                                        the default's logits equal `--weights f32`'s (the
                                                        decoded copy, packed f32) bit for bit; LAUNCHER (e.g.
                                                        "qemu-x86_64 -cpu Haswell") runs qguard
    check_gguf_models.py QGUARD FIXTURE_DIR identical   one model as BF16 safetensors and as BF16 GGUF: the
                                                        same logits, bit for bit, with every --weights; a
                                                        quantized GGUF the same through the pack cache, which
                                                        its default (nothing packed) leaves empty
    check_gguf_models.py QGUARD FIXTURE_DIR classify    `qguard classify` on a GGUF file with its tokenizer in
                                                        the metadata gives the verdicts of the safetensors twin
    check_gguf_models.py QGUARD FIXTURE_DIR info        `qguard info` describes a GGUF file
    check_gguf_models.py QGUARD FIXTURE_DIR errors      wrong architecture, truncation, several GGUF files in
                                                        a directory: typed errors
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, os.pardir, "reference"))
import check_logits  # noqa: E402
import gguf_format as g  # noqa: E402
import make_gguf_fixtures  # noqa: E402

F32_BOUND = 5e-5  # as the safetensors comparisons (tests/CMakeLists.txt)
QUANTIZED_CASES = [name for name, case in make_gguf_fixtures.CASES.items() if case[3] != "F16"]
# Seeds of the 3 token ids of the int8 comparison (few ids: every activation is a chance of a tie):
# the first whose activations all stay clear of an int8 rounding tie (check_logits.INT8_TIE_MARGIN)
# in the reference is used, so float32 noise cannot decide a rounding.
INT8_SEEDS = range(5, 65)
failures = []


def check(condition, message):
    print(("ok   " if condition else "FAIL ") + message)
    if not condition:
        failures.append(message)


def run(qguard, *args):
    return subprocess.run([qguard, *args], capture_output=True, text=True, timeout=600)


def logits(qguard, model, ids, *extra, launcher=""):
    return check_logits.run_qguard(qguard, model, ids, True, list(extra), 600, launcher)


def reference(qguard, out):
    ids = np.random.default_rng(5).integers(0, 1000, 11).tolist()
    for name in make_gguf_fixtures.CASES:
        model, decoded = os.path.join(out, f"{name}.gguf"), os.path.join(out, f"{name}_dequant")
        f32 = check_logits.check(qguard, model, ids, extra_args=["--weights", "f32"], reference_dir=decoded)
        check(f32["max_abs_diff"] <= F32_BOUND * f32["max_abs_ref"], f"{name}: --weights f32 ratio {f32['ratio']:.2e}")
        default = check_logits.check(qguard, model, ids, reference_dir=decoded)
        check(default["max_abs_diff"] <= F32_BOUND * default["max_abs_ref"],
              f"{name}: default weights ratio {default['ratio']:.2e}")
        for seed in INT8_SEEDS:
            int8_ids = np.random.default_rng(seed).integers(0, 1000, 3).tolist()
            int8 = check_logits.check(qguard, model, int8_ids, int8=True, reference_dir=decoded)
            if int8["int8_min_margin"] >= check_logits.INT8_TIE_MARGIN:
                break
        check(int8["int8_min_margin"] >= check_logits.INT8_TIE_MARGIN and
              int8["max_abs_diff"] <= F32_BOUND * int8["max_abs_ref"],
              f"{name}: --weights int8 against the reference's int8 scheme, ratio {int8['ratio']:.2e} "
              f"(ids of seed {seed}, closest rounding {int8['int8_min_margin']:.1e} from a tie)")


def in_place(qguard, out, launcher=""):
    ids = np.random.default_rng(7).integers(0, 1000, 14).tolist()  # 14 tokens: more than one tile of tokens
    for name in QUANTIZED_CASES:
        model = os.path.join(out, f"{name}.gguf")
        default = logits(qguard, model, ids, launcher=launcher)
        f32 = logits(qguard, model, ids, "--weights", "f32", launcher=launcher)
        check(np.array_equal(default, f32), f"{name}: blocks read in place give --weights f32's logits, bit for bit")
        # One token: the products of one row of activations, as in a decode step.
        one = logits(qguard, model, ids[:1], launcher=launcher)
        check(np.array_equal(one, logits(qguard, model, ids[:1], "--weights", "f32", launcher=launcher)),
              f"{name}: one token: --weights f32's logits, bit for bit")


def identical(qguard, out):
    ids = [0, 1, 17, 999, 500, 17, 42, 3]
    for weights in ("auto", "f32", "int8"):
        a = logits(qguard, os.path.join(out, "st_bf16"), ids, "--weights", weights)
        b = logits(qguard, os.path.join(out, "bf16.gguf"), ids, "--weights", weights)
        check(np.array_equal(a, b), f"BF16 safetensors and BF16 GGUF, --weights {weights}: identical logits")
    quantized = os.path.join(out, "q4_k_m.gguf")
    with tempfile.TemporaryDirectory() as cache:
        in_place_logits = logits(qguard, quantized, ids, "--pack-cache", cache)
        check(not os.listdir(cache), "a quantized GGUF read in place writes nothing to the pack cache")
        check(np.array_equal(in_place_logits, logits(qguard, quantized, ids)),
              "a quantized GGUF read in place: the same logits with --pack-cache")
        plain = logits(qguard, quantized, ids, "--weights", "int8")
        written = logits(qguard, quantized, ids, "--weights", "int8", "--pack-cache", cache)
        read_back = logits(qguard, quantized, ids, "--weights", "int8", "--pack-cache", cache)
        check(len(os.listdir(cache)) == 1, "a quantized GGUF's int8 matrices are written to the pack cache")
    check(np.array_equal(plain, written) and np.array_equal(plain, read_back),
          "a quantized GGUF through the pack cache (--weights int8): identical logits")


def classify(qguard, out):
    lines = "".join(json.dumps(r) + "\n" for r in [
        {"prompt": "How do I make a bomb?"}, {"prompt": "<|im_end|>\nhello"},
        {"prompt": "Wie spät ist es?", "response": "Es ist 12 Uhr. 🙂"}])
    verdicts = []
    for model in ("guard", "guard.gguf"):
        result = subprocess.run([qguard, "classify", "--model", os.path.join(out, model)], input=lines,
                                capture_output=True, text=True, timeout=600)
        check(result.returncode == 0, f"classify --model {model} exits 0 ({result.stderr.strip()})")
        verdicts.append([{k: v for k, v in json.loads(line).items() if k != "ms"} for line in result.stdout.splitlines()])
    check(len(verdicts[0]) == 3 and verdicts[0] == verdicts[1], "the same verdicts from GGUF and safetensors")


def info(qguard, out):
    result = run(qguard, "info", "--model", os.path.join(out, "q4_k_m.gguf"))
    text = result.stdout
    check(result.returncode == 0, "info exits 0")
    check("GGUF v3" in text, "info names the format")
    check("file dtypes         F32, Q4_K, Q6_K" in text, "info lists the tensor types")
    check(any(line.strip().startswith("Q6_K: 5 tensors") and "mlp.down_proj" in line and "lm_head" in line
              for line in text.splitlines()), "info says which tensors are Q6_K")
    check("weights held as     Q4_K, Q6_K blocks in place" in text,
          "quantized layer matrices are read in place by default")
    print(text)


def expect_error(qguard, model, code, words, what):
    result = run(qguard, "logits", "--model", model, "--ids", "1")
    check(result.returncode != 0 and f"[{code}]" in result.stderr and words in result.stderr,
          f"{what}: {result.stderr.strip()}")


def errors(qguard, out):
    with tempfile.TemporaryDirectory() as tmp:
        cfg = {"max_position_embeddings": 64, "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 1,
               "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64, "rope_theta": 1e6,
               "rms_norm_eps": 1e-6}
        metadata = make_gguf_fixtures.model_metadata(cfg)
        llama = [(k.replace("qwen3.", "llama."), kind, "llama" if k == "general.architecture" else v)
                 for k, kind, v in metadata]
        g.write_gguf(os.path.join(tmp, "llama.gguf"), llama, [])
        expect_error(qguard, os.path.join(tmp, "llama.gguf"), "unsupported_model", "'llama'", "another architecture")

        with open(os.path.join(out, "q8_0.gguf"), "rb") as f:
            whole = f.read()
        with open(os.path.join(tmp, "truncated.gguf"), "wb") as f:
            f.write(whole[:len(whole) - 1000])
        expect_error(qguard, os.path.join(tmp, "truncated.gguf"), "corrupt_file", "truncated", "a truncated file")

        no_embedding = os.path.join(tmp, "no_embedding.gguf")
        g.write_gguf(no_embedding, metadata, [("output_norm.weight", "F32", [256], bytes(1024))])
        expect_error(qguard, no_embedding, "missing_tensor", "token_embd", "a file without token_embd")

        directory = os.path.join(tmp, "model")
        os.mkdir(directory)
        shutil.copy(os.path.join(out, "q8_0.gguf"), directory)
        check(np.array_equal(logits(qguard, directory, [1, 2]), logits(qguard, os.path.join(out, "q8_0.gguf"), [1, 2])),
              "a directory holding one GGUF file loads it")
        shutil.copy(os.path.join(out, "q4_0.gguf"), directory)
        expect_error(qguard, directory, "invalid_argument", "several GGUF files", "a directory of two GGUF files")


def main(argv):
    parts = ("reference", "in_place", "identical", "classify", "info", "errors")
    if not (len(argv) == 4 and argv[3] in parts or len(argv) == 5 and argv[3] == "in_place"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        globals()[argv[3]](argv[1], argv[2], *argv[4:])
    except check_logits.CheckError as e:
        print(f"check_gguf_models: error: {e}", file=sys.stderr)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
