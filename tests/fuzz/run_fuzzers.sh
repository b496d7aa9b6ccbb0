#!/usr/bin/env bash
# Runs each libFuzzer harness of a -DQGUARD_FUZZ=ON build for SECONDS over its seed corpus
# (tests/fuzz/corpus/NAME, read only) plus the inputs it finds (BUILD_DIR/fuzz/corpus/NAME), two at
# a time. A crash, a sanitizer report, an escaping exception, a 10 s input or 1 GB allocation fails
# the run and leaves the input in BUILD_DIR/fuzz/artifacts; it then becomes a regression seed.
# Usage: tests/fuzz/run_fuzzers.sh BUILD_DIR SECONDS [NAME...]   (default: every harness)
set -euo pipefail
build_dir=$(realpath "$1") seconds=$2
shift 2
seeds=$(realpath "$(dirname "$0")/corpus")
names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
  for binary in "$build_dir"/tests/fuzz/fuzz_*; do names+=("${binary##*/fuzz_}"); done
fi
mkdir -p "$build_dir/fuzz/artifacts" "$build_dir/fuzz/logs"

run_one() {
  local name=$1
  mkdir -p "$build_dir/fuzz/corpus/$name"
  if "$build_dir/tests/fuzz/fuzz_$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$build_dir/fuzz/artifacts/$name-" \
       "$build_dir/fuzz/corpus/$name" "$seeds/$name" >"$build_dir/fuzz/logs/$name.log" 2>&1; then
    echo "fuzz $name: ok, $(grep -o 'stat::number_of_executed_units: [0-9]*' "$build_dir/fuzz/logs/$name.log" | grep -o '[0-9]*$') runs"
  else
    echo "fuzz $name: FAILED (log: $build_dir/fuzz/logs/$name.log)"
    tail -n 40 "$build_dir/fuzz/logs/$name.log"
    return 1
  fi
}
export -f run_one
export build_dir seconds seeds
printf '%s\n' "${names[@]}" | xargs -P 2 -I{} bash -c 'run_one {}'
