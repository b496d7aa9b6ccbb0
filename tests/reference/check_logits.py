#!/usr/bin/python3
"""Compare `qguard logits` with the independent numpy reference (qwen3_reference.py).

Passes iff max |logit_qguard - logit_ref| <= 1e-3 * max |logit_ref| over every compared position
(--tolerance changes the 1e-3).
Prints the figures and exits non-zero on failure or on any problem (missing binary, bad JSON, wrong
shape, non-finite values). Arguments after `--` are passed on to `qguard logits`.

    check_logits.py --qguard build/tools/qguard/qguard --model DIR --ids 1,2,3
    check_logits.py --qguard ... --model DIR --random-ids 100 --seed 7 [--last-only] [-- --threads 2]
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qwen3_reference  # noqa: E402  (sits next to this file)

RELATIVE_TOLERANCE = 1e-3
# float32 noise in qguard's activations, in quantization steps: an input scaled to within this of a
# rounding boundary may round either way, so an int8 mismatch after such a tie proves nothing.
INT8_TIE_MARGIN = 1e-4


class CheckError(Exception):
    pass


def reject_constant(name):
    raise ValueError(f"non-JSON number {name}")


def run_qguard(binary, model_dir, ids, all_positions, extra_args, timeout, launcher):
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        raise CheckError(f"qguard binary {binary!r} is missing or not executable")
    command = shlex.split(launcher) + [binary, "logits", "--model", model_dir, "--ids", ",".join(map(str, ids))]
    if all_positions:
        command.append("--all")
    command += extra_args
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CheckError(f"qguard did not finish within {timeout} s") from None
    if done.returncode != 0:
        raise CheckError(f"qguard exited with {done.returncode}: {done.stderr.decode(errors='replace').strip()}")
    try:
        parsed = json.loads(done.stdout.decode("utf-8"), parse_constant=reject_constant)
    except (UnicodeDecodeError, ValueError) as e:
        raise CheckError(f"qguard's stdout is not one JSON object: {e}") from None
    if not isinstance(parsed, dict) or set(parsed) != {"logits"}:
        raise CheckError("qguard's stdout is not exactly {\"logits\": [[...], ...]}")
    rows = parsed["logits"]
    if (not isinstance(rows, list) or not all(isinstance(r, list) for r in rows)
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for r in rows for v in r)):
        raise CheckError("qguard's \"logits\" is not a list of lists of numbers")
    if len({len(r) for r in rows}) > 1:
        raise CheckError("qguard's logit rows have different lengths")
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(rows[0]) if rows else 0)


def compare(got, ref):
    """Figures of the comparison; got and ref have the same shape."""
    diff = np.abs(got - ref)
    max_ref = float(np.abs(ref).max())
    worst = np.unravel_index(int(diff.argmax()), diff.shape)
    return {
        "max_abs_diff": float(diff.max()),
        "max_abs_ref": max_ref,
        "ratio": float(diff.max()) / max_ref if max_ref > 0 else float("inf"),
        "worst_position": int(worst[0]),
        "worst_token": int(worst[1]),
        "argmax_agree": int((got.argmax(axis=1) == ref.argmax(axis=1)).sum()),
        "positions": int(ref.shape[0]),
    }


def check(binary, model_dir, ids, last_only=False, extra_args=(), timeout=1800, int8=False, launcher="",
          reference_dir=None):
    """Returns the figures; raises CheckError on any problem other than a numeric mismatch. The reference
    runs on `reference_dir` (default: `model_dir`), e.g. the decoded weights of a GGUF file."""
    started = time.monotonic()
    extra_args = list(extra_args) + (["--weights", "int8"] if int8 else [])
    got = run_qguard(binary, model_dir, ids, not last_only, extra_args, timeout, launcher)
    qguard_seconds = time.monotonic() - started
    scheme = qwen3_reference.Int8Scheme() if int8 else None
    try:
        ref = qwen3_reference.logits(reference_dir or model_dir, ids, scheme)
    except qwen3_reference.ReferenceError as e:
        raise CheckError(f"reference: {e}") from None
    reference_seconds = time.monotonic() - started - qguard_seconds
    if last_only:
        ref = ref[-1:]
    if got.shape != ref.shape:
        raise CheckError(f"qguard printed logits of shape {list(got.shape)}, expected {list(ref.shape)} "
                         f"({ref.shape[0]} position(s) x vocab_size {ref.shape[1]})")
    if not np.isfinite(got).all():
        raise CheckError("qguard printed non-finite logits")
    figures = compare(got, ref)
    figures["int8_min_margin"] = scheme.min_margin if scheme else None
    figures["qguard_seconds"] = qguard_seconds
    figures["reference_seconds"] = reference_seconds
    return figures


def parse_args(argv):
    extra = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--qguard", required=True, help="path to the qguard binary")
    p.add_argument("--model", required=True, help="checkpoint directory")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--ids", help="comma-separated token ids")
    source.add_argument("--random-ids", type=int, metavar="N", help="N random ids")
    p.add_argument("--seed", type=int, default=0, help="seed of --random-ids")
    p.add_argument("--vocab", type=int, help="random ids are < this (default: config.json vocab_size)")
    p.add_argument("--last-only", action="store_true", help="compare the last position only (no --all)")
    p.add_argument("--tolerance", type=float, default=RELATIVE_TOLERANCE,
                   help="pass iff max |diff| <= tolerance * max |logit_ref| (default: %(default)g)")
    p.add_argument("--int8", action="store_true",
                   help="run qguard with --weights int8 and the reference by the same int8 scheme")
    p.add_argument("--timeout", type=float, default=1800, help="seconds qguard may take")
    p.add_argument("--launcher", default="", help="command that runs qguard, e.g. 'qemu-x86_64 -cpu Haswell'")
    args = p.parse_args(argv)
    args.extra = extra
    return args


def token_ids(args):
    if args.ids is not None:
        return qwen3_reference.parse_ids(args.ids)
    if args.random_ids <= 0:
        raise CheckError("--random-ids must be positive")
    vocab = args.vocab
    if vocab is None:
        vocab = qwen3_reference.Config(qwen3_reference.Checkpoint(args.model).config).vocab
    return np.random.default_rng(args.seed).integers(0, vocab, args.random_ids).tolist()


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        ids = token_ids(args)
        f = check(args.qguard, args.model, ids, args.last_only, args.extra, args.timeout, args.int8, args.launcher)
    except (CheckError, qwen3_reference.ReferenceError) as e:
        print(f"check_logits: error: {e}", file=sys.stderr)
        return 2
    passed = f["max_abs_diff"] <= args.tolerance * f["max_abs_ref"]
    tie = f["int8_min_margin"] is not None and f["int8_min_margin"] < INT8_TIE_MARGIN
    if not passed and tie:
        print(f"check_logits: inconclusive: an int8 input came within {f['int8_min_margin']:.2g} of a rounding "
              f"boundary, which float32 may round either way; choose other ids", file=sys.stderr)
        return 2
    print(f"{'PASS' if passed else 'FAIL'} {args.model}: {len(ids)} ids, {f['positions']} position(s) compared")
    print(f"  max |diff| {f['max_abs_diff']:.3e} (position {f['worst_position']}, token {f['worst_token']}), "
          f"max |logit_ref| {f['max_abs_ref']:.4f}, ratio {f['ratio']:.3e} (limit {args.tolerance:g})")
    print(f"  argmax agrees at {f['argmax_agree']}/{f['positions']} positions; "
          f"qguard {f['qguard_seconds']:.1f} s, reference {f['reference_seconds']:.1f} s")
    if f["int8_min_margin"] is not None:
        print(f"  int8: closest rounding decision {f['int8_min_margin']:.2g} from a tie")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
