#!/usr/bin/python3
"""Checks `qguard bench --json` end to end on a small model.

1. On the given 3-line prompt file: exit status 0, the last stdout line is one JSON object with every
   documented key and sane values, and the FLOP and byte counts behind the efficiencies agree with
   figures computed here from the model's config.json.
2. With one request too long for the classifier added: that request is counted as failed, the rest
   are still measured.
3. A missing or malformed prompt file is an error naming the problem, not a report.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

REQUIRED = ["p50_ms", "p95_ms", "label_p50_ms", "prefill_tok_s", "prefill_tok_s_by_length", "decode_tok_s",
            "load_ms", "rss_mb", "dtype", "threads", "requests", "f32_peak_gflops", "int8_peak_gops",
            "mem_bw_gbs", "thread_round_trip_ns", "prefill_efficiency", "decode_bw_efficiency", "failed", "kernels"]
LENGTHS = ["64", "170", "369"]


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def run(qguard, model, prompts, *extra):
    command = [qguard, "bench", "--json", "--warmup", "1", "--threads", "2", "--model", model, "--prompts", prompts,
               *extra]
    print("$ " + " ".join(command), flush=True)
    return subprocess.run(command, capture_output=True, text=True, timeout=240)


def last_json_line(result):
    check(result.returncode == 0, f"exit status {result.returncode}; stderr: {result.stderr}")
    lines = result.stdout.strip().splitlines()
    check(lines, "nothing on stdout")
    try:
        report = json.loads(lines[-1])
    except json.JSONDecodeError as e:
        fail(f"the last stdout line is not JSON ({e}): {lines[-1]!r}")
    check(isinstance(report, dict), "the last line is not a JSON object")
    print(lines[-1])
    return report


def positive(report, key):
    value = report[key]
    check(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0,
          f"{key} = {value!r}, expected a positive number")
    return value


def close(a, b, what):
    check(abs(a - b) <= 1e-3 * abs(b), f"{what}: {a} vs {b}")


def expected_flops_and_bytes(config):
    """Prefill FLOPs per length and decode weight bytes for a tied BF16 model, from config.json."""
    h, inter, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    heads, kv_heads, d, vocab = (config["num_attention_heads"], config["num_key_value_heads"], config["head_dim"],
                                 config["vocab_size"])
    check(config.get("tie_word_embeddings"), "the smoke test expects a tied checkpoint")
    layer_matrices = h * heads * d * 2 + h * kv_heads * d * 2 + 3 * h * inter
    layer_params = layer_matrices + 2 * h + 2 * d  # + input/post-attention norms, q/k norms
    n = layers * layer_params + h  # + the final norm
    flops = {}
    # The last layer's q and o projections and MLP run for the last position only.
    last_layer_query_side = h * heads * d * 2 + 3 * h * inter
    for t in map(int, LENGTHS):
        # Each layer: 2 flops per weight per token; the i-th query meets i keys and i values (in the
        # last layer only the last query, which meets all t).
        attention = (layers - 1) * heads * sum(4 * d * i for i in range(1, t + 1)) + heads * 4 * d * t
        flops[str(t)] = 2 * n * t - 2 * last_layer_query_side * (t - 1) + 2 * vocab * h + attention
    decode_bytes = 2 * (layers * layer_matrices + vocab * h)  # BF16: every layer matrix + the tied lm_head
    return flops, decode_bytes


def check_report(report, requests, dtype, config):
    missing = [key for key in REQUIRED if key not in report]
    check(not missing, f"missing keys: {missing}")
    p50, p95 = positive(report, "p50_ms"), positive(report, "p95_ms")
    check(p95 >= p50, f"p95_ms {p95} < p50_ms {p50}")
    positive(report, "label_p50_ms")
    for key in ["decode_tok_s", "load_ms", "rss_mb", "f32_peak_gflops", "mem_bw_gbs", "prefill_efficiency",
                "decode_bw_efficiency", "prefill_tok_s", "thread_round_trip_ns"]:  # run() asks for 2 threads
        positive(report, key)
    check(report["kernels"] in ("baseline", "avx2", "avx512", "avx512bf16", "amx"), f"kernels {report['kernels']!r}")
    # Every SIMD kernel build has 8-bit dot-product instructions; the scalar baseline has none.
    check((report["int8_instructions"] is None) == (report["kernels"] == "baseline"), "int8 instructions vs kernels")
    if report["int8_instructions"] is not None:
        positive(report, "int8_peak_gops")
    check(report["dtype"] == dtype, f"dtype {report['dtype']!r}, expected {dtype!r}")
    check(report["threads"] == 2, f"threads {report['threads']!r}, expected 2")
    check(report["requests"] == requests, f"requests {report['requests']!r}, expected {requests}")
    by_length = report["prefill_tok_s_by_length"]
    check(sorted(by_length) == sorted(LENGTHS), f"prefill_tok_s_by_length keys {sorted(by_length)}")
    check(report["prefill_tok_s"] == by_length["170"], "prefill_tok_s is not the 170-token figure")
    check(report["prompt_tokens_p50"] > 300, "the median prompt with the template should exceed 300 tokens")
    check(0 < report["load_rss_mb"] <= report["rss_mb"], "RSS after load is positive and at most the peak")
    check(report["weight_mb"] > 0, "weight_mb")

    flops, decode_bytes = expected_flops_and_bytes(config)
    gflops = report["prefill_gflops_by_length"]
    for length in LENGTHS:
        check(by_length[length] > 0, f"prefill at {length} tokens: {by_length[length]}")
        # GFLOP/s divided by tokens/s is FLOPs per token: the formula's count for this length.
        close(gflops[length] * 1e9 / by_length[length] * int(length), flops[length], f"prefill FLOPs at {length}")
        peak = report["int8_peak_gops"] if report["efficiency_peak"] == "int8" else report["f32_peak_gflops"]
        close(report["prefill_efficiency_by_length"][length], gflops[length] / peak, f"prefill efficiency at {length}")
    if dtype == "INT8":
        check(report["efficiency_peak"] == ("int8" if report["int8_instructions"] else "f32"), "int8 efficiency peak")
        # Int8 runs end with the f32 reference path: every request's label verdict compared.
        check(report["reference_compared"] == requests // report["repeat"], "int8 requests compared with f32")
        check(0 <= report["mean_abs_dp"] <= report["max_abs_dp"] <= 1, "int8 |Δp| figures")
        check(0 <= report["severity_agreement"] <= 1, "severity agreement")
        return  # int8 layer matrices: the BF16 byte count below does not apply
    check(report["efficiency_peak"] == "f32", "f32 efficiency peak")
    check(report["reference_compared"] == 0 and report["mean_abs_dp"] is None, "no int8 comparison for BF16")
    close(report["decode_bytes_per_token"], decode_bytes, "decode weight bytes per token")
    close(report["decode_bw_efficiency"], decode_bytes * report["decode_tok_s"] / 1e9 / report["mem_bw_gbs"],
          "decode bandwidth efficiency")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--qguard", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--prompts", required=True, help="a small prompt file (every request valid)")
    parser.add_argument("--dtype", default="BF16", help="how the model's weights are held")
    parser.add_argument("--int8", action="store_true", help="also run once with --weights int8")
    args = parser.parse_args()
    with open(os.path.join(args.model, "config.json")) as f:
        config = json.load(f)
    with open(args.prompts) as f:
        lines = [line for line in f if line.strip()]

    report = last_json_line(run(args.qguard, args.model, args.prompts))
    check_report(report, len(lines), args.dtype, config)
    check(report["failed"] == 0, f"failed {report['failed']}, expected 0")
    if args.int8:
        check_report(last_json_line(run(args.qguard, args.model, args.prompts, "--weights", "int8")), len(lines),
                     "INT8", config)

    with tempfile.TemporaryDirectory() as tmp:
        too_long = os.path.join(tmp, "with_failure.jsonl")
        with open(too_long, "w") as f:
            f.writelines(lines)
            f.write(json.dumps({"prompt": "lorem ipsum " * 6000}) + "\n")  # > 8192 tokens: kInputTooLong
        report = last_json_line(run(args.qguard, args.model, too_long, "--repeat", "2"))
        check_report(report, 2 * (len(lines) + 1), args.dtype, config)
        check(report["failed"] == 2, f"failed {report['failed']}, expected 2 (one line, two passes)")
        check(report["failures"] and report["failures"][0]["code"] == "input_too_long"
              and report["failures"][0]["line"] == len(lines) + 1, f"failures: {report['failures']}")

        missing = run(args.qguard, args.model, os.path.join(tmp, "absent.jsonl"))
        check(missing.returncode != 0 and "absent.jsonl" in missing.stderr, f"missing file: {missing.stderr!r}")
        malformed = os.path.join(tmp, "malformed.jsonl")
        with open(malformed, "w") as f:
            f.write(lines[0] + '{"response": "no prompt"}\n')
        result = run(args.qguard, args.model, malformed)
        check(result.returncode != 0 and "malformed.jsonl:2" in result.stderr and "prompt" in result.stderr,
              f"malformed file: {result.stderr!r}")
    print("bench smoke: all checks passed")


if __name__ == "__main__":
    main()
