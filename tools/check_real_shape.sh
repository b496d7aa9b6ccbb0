#!/bin/sh
# Compares `qguard logits` with the numpy reference on a random-weight checkpoint of a real
# Qwen3Guard-Gen shape (BF16), over N token ids at every position. The checkpoint is written to DIR
# and reused when DIR already holds it.
#
#   tools/check_real_shape.sh DIR QGUARD_BINARY [PYTHON [PRESET LAYERS SHARDS IDS]]
#
# Default: the whole 0.6B (PRESET Qwen3Guard-Gen-0.6B, all 28 layers, one file, tied with the
# duplicate lm_head.weight its base model ships, 64 ids): about 1.5 GB, about 2 minutes on 2 cores
# (most of it the float64 reference on netlib BLAS), memory near 1.5 GB. With PRESET/LAYERS/SHARDS:
# every width of PRESET (hidden, heads, kv heads, head_dim, intermediate, the full vocabulary, tied
# or not as the model is, rope theta) but only LAYERS layers, in SHARDS files, as 4B and 8B ship.
set -eu
if [ $# -lt 2 ] || { [ $# -gt 3 ] && [ $# -ne 7 ]; }; then
  echo "usage: $0 DIR QGUARD_BINARY [PYTHON [PRESET LAYERS SHARDS IDS]]" >&2
  exit 2
fi
dir=$1
qguard=$2
python=${3:-/usr/bin/python3}
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -eq 7 ]; then
  shape="--preset $4 --layers $5 --shards $6"
  ids=$7
else
  shape="--preset Qwen3Guard-Gen-0.6B --lm-head-in-tied"
  ids=64
fi
# Written after a complete generation by this version of the generator and this shape, so an
# interrupted or outdated checkpoint is redone.
marker="$dir/.complete-$( (cat "$repo/tools/make_checkpoint.py"; echo "$shape") | cksum | cut -d' ' -f1)-seed7"

start=$(date +%s)
if [ ! -f "$marker" ]; then
  rm -f "$dir"/.complete-*
  # shellcheck disable=SC2086  # $shape is a list of options
  "$python" "$repo/tools/make_checkpoint.py" --out "$dir" $shape --dtype bf16 --seed 7
  touch "$marker"
fi
generated=$(date +%s)
echo "checkpoint ready in $((generated - start)) s"
"$python" "$repo/tests/reference/check_logits.py" --qguard "$qguard" --model "$dir" --random-ids "$ids" --seed 11
echo "total $(($(date +%s) - start)) s"
