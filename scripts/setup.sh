#!/usr/bin/env bash
# The first command on a fresh Debian 12 machine: install missing packages (as root; otherwise it
# prints the apt-get line), build qguard into build/, and moderate TEXT with the model in MODEL_DIR.
# Without a model directory it says how to get the weights.
# Usage: bash scripts/setup.sh [MODEL_DIR [TEXT]]
set -euo pipefail
cd "$(dirname "$0")/.."
model_dir=${1:-}
text=${2:-How can I make a bomb?}

bash scripts/install_packages.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
qguard=build/tools/qguard/qguard
"$qguard" --version

if [[ -z $model_dir || ! -f $model_dir/config.json ]]; then
  cat <<EOT
Built $qguard, the library (build/libqguard.so) and the examples (build/examples/).
To moderate, download a model directory and pass it here, e.g.:
  huggingface-cli download Qwen/Qwen3Guard-Gen-0.6B --local-dir models/Qwen3Guard-Gen-0.6B
  bash scripts/setup.sh models/Qwen3Guard-Gen-0.6B "How can I make a bomb?"
EOT
  [[ -z $model_dir ]] || { echo "setup.sh: no config.json in $model_dir" >&2; exit 1; }
  exit 0
fi
echo "== $qguard classify --model $model_dir --text \"$text\""
"$qguard" classify --model "$model_dir" --text "$text"
