#!/bin/sh
# Compares `qguard logits` with the numpy reference on a random-weight checkpoint of the real
# Qwen3Guard-Gen-0.6B shape (BF16, tied, with the duplicate lm_head.weight its base model ships),
# over 64 token ids at every position. The checkpoint (about 1.5 GB) is written to DIR and reused
# when DIR already holds it. Takes about 2 minutes on 2 cores (most of it the float64 reference on
# netlib BLAS), about 3 under load; memory peaks near 1.5 GB.
#
#   tools/check_real_shape.sh DIR QGUARD_BINARY [PYTHON]
set -eu
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 DIR QGUARD_BINARY [PYTHON]" >&2
  exit 2
fi
dir=$1
qguard=$2
python=${3:-/usr/bin/python3}
repo=$(cd "$(dirname "$0")/.." && pwd)
# Written after a complete generation by this version of the generator, so an interrupted or
# outdated checkpoint is redone.
marker="$dir/.complete-$(cksum < "$repo/tools/make_checkpoint.py" | cut -d' ' -f1)-seed7"

start=$(date +%s)
if [ ! -f "$marker" ]; then
  rm -f "$dir"/.complete-*
  "$python" "$repo/tools/make_checkpoint.py" --out "$dir" --preset Qwen3Guard-Gen-0.6B --dtype bf16 \
    --lm-head-in-tied --seed 7
  touch "$marker"
fi
generated=$(date +%s)
echo "checkpoint ready in $((generated - start)) s"
"$python" "$repo/tests/reference/check_logits.py" --qguard "$qguard" --model "$dir" --random-ids 64 --seed 11
echo "total $(($(date +%s) - start)) s"
