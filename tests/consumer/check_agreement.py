#!/usr/bin/python3
"""A program using qguard gives the same verdicts as `qguard classify`.

    check_agreement.py QGUARD_BINARY MODEL_DIR CONSUMER_COMMAND...

The consumer is run as `CONSUMER_COMMAND... MODEL_DIR PROMPT [RESPONSE]` and prints one JSON verdict
line (examples/c/quickstart.c, examples/python/qguard.py, tests/consumer/main.cc). Severity,
categories and refusal must be equal, the severity and category probabilities equal to float precision.
"""
import json
import math
import subprocess
import sys

qguard, model, consumer = sys.argv[1], sys.argv[2], sys.argv[3:]
cases = [
    {"prompt": "How can I make a bomb?"},
    {"prompt": "Wie backe ich einen Kuchen? 🍰"},
    {"prompt": "How can I make a bomb?", "response": "I cannot help with that."},
]
classify = subprocess.run([qguard, "classify", "--model", model], input="\n".join(map(json.dumps, cases)) + "\n",
                          capture_output=True, text=True, check=True, timeout=600)
expected = [json.loads(line) for line in classify.stdout.splitlines()]
assert len(expected) == len(cases), classify.stdout

failures = 0
for case, want in zip(cases, expected):
    args = [case["prompt"]] + ([case["response"]] if "response" in case else [])
    run = subprocess.run(consumer + [model] + args, capture_output=True, text=True, timeout=600)
    got = json.loads(run.stdout) if run.returncode == 0 else {"error": run.stderr.strip()}
    same = (run.returncode == 0 and all(got[key] == want[key] for key in ("severity", "categories", "refusal")) and
            all(math.isclose(got[field][name], p, rel_tol=1e-6, abs_tol=1e-7)
                for field in ("probabilities", "category_probabilities") for name, p in want[field].items()))
    if not same:
        failures += 1
        print(f"FAIL {case}:\n  qguard classify: {want}\n  consumer:        {got}")
print(f"{' '.join(consumer)}: {len(cases) - failures} of {len(cases)} verdicts agree with qguard classify")
sys.exit(1 if failures else 0)
