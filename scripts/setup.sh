#!/usr/bin/env bash
# The first command on a fresh Debian 12 machine: install missing packages (as root; otherwise it
# prints the apt-get line), build qguard into build/, and moderate TEXT with MODEL: a model directory
# or a Hugging Face Hub repository id such as Qwen/Qwen3Guard-Gen-0.6B (downloaded into the Hub's
# cache on first use, docs/hub.md). Without MODEL it only builds.
# Usage: bash scripts/setup.sh [MODEL [TEXT]]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-}
text=${2:-How can I make a bomb?}

bash scripts/install_packages.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
qguard=build/tools/qguard/qguard
"$qguard" --version

if [[ -z $model ]]; then
  cat <<EOT
Built $qguard, the library (build/libqguard.so) and the examples (build/examples/).
To moderate, name a model (downloaded from the Hugging Face Hub on first use) or a model directory:
  bash scripts/setup.sh Qwen/Qwen3Guard-Gen-0.6B "How can I make a bomb?"
EOT
  exit 0
fi
echo "== $qguard classify --model $model --text \"$text\""
"$qguard" classify --model "$model" --text "$text"
