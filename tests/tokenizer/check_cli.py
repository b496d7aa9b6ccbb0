"""`qguard tokenize` against the transformers.js fixtures, through the exact line protocol
external checks use: corpus.jsonl on stdin, one {"ids": [...]} line per input, in order; with
--no-special the ids of added-token text encoded as plain text.

    check_cli.py QGUARD_BINARY TOKENIZER_JSON
"""
import json
import pathlib
import subprocess
import sys

here = pathlib.Path(__file__).resolve().parent
qguard, tokenizer = sys.argv[1], sys.argv[2]
corpus = (here / "corpus.jsonl").read_text(encoding="utf-8")
# Lines end at "\n" only: texts may hold U+2028 or U+0085, which str.splitlines() would also split at.
expected = [json.loads(line) for line in (here / "expected.jsonl").read_text(encoding="utf-8").split("\n") if line]

failures = 0
for flags, key in (([], "ids"), (["--no-special"], "plain_ids")):
    run = subprocess.run([qguard, "tokenize", "--tokenizer", tokenizer, *flags], input=corpus.encode("utf-8"),
                         capture_output=True, check=True)
    lines = [line for line in run.stdout.decode("utf-8").split("\n") if line]
    if len(lines) != len(expected):
        sys.exit(f"{flags}: {len(lines)} output lines for {len(expected)} inputs")
    exact = 0
    for number, (line, entry) in enumerate(zip(lines, expected), start=1):
        want = entry.get(key, entry["ids"])
        if line.startswith('{"ids": [') and json.loads(line) == {"ids": want}:
            exact += 1
        elif failures < 5:
            failures += 1
            print(f"line {number} {flags}: expected {want}, got {line[:300]}")
    print(f"qguard tokenize {' '.join(flags)}: {exact}/{len(expected)} lines exact")
    if exact != len(expected):
        failures += 1

# A line past the 64 MiB bound is answered with input_too_long without being held whole, and the
# lines after it (tokenize and detokenize alike) are still answered in order.
huge = json.dumps({"text": "a" * (65 << 20)})
for command, after, answer_key in (("tokenize", {"text": "hi"}, "ids"), ("detokenize", {"ids": [6023]}, "text")):
    run = subprocess.run([qguard, command, "--tokenizer", tokenizer], input=(huge + "\n" + json.dumps(after) + "\n").encode(),
                         capture_output=True, check=True)
    lines = [json.loads(line) for line in run.stdout.decode("utf-8").split("\n") if line]
    ok = (len(lines) == 2 and lines[0].get("error", {}).get("code") == "input_too_long" and answer_key in lines[1])
    print(f"qguard {command}: an over-long line {'is input_too_long, the next answered' if ok else 'FAILED: ' + repr(lines)[:300]}")
    failures += 0 if ok else 1
sys.exit(1 if failures else 0)
