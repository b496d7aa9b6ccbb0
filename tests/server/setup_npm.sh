#!/usr/bin/env bash
# Installs the pinned `openai` npm package (package-lock.json) into DEST/node_modules for the server
# tests, as scripts/fetch_tokenizer.sh fetches the tokenizer: no install scripts, idempotent.
#   setup_npm.sh DEST
set -euo pipefail
dest="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$dest"
if cmp -s "$here/package-lock.json" "$dest/package-lock.json" && [[ -f "$dest/node_modules/openai/package.json" ]]; then
  echo "openai npm package already present in $dest"
  exit 0
fi
command -v npm >/dev/null || { echo "setup_npm.sh: error: npm is required (apt-get install npm)" >&2; exit 1; }
cp "$here/package.json" "$here/package-lock.json" "$dest/"
( cd "$dest" && npm ci --ignore-scripts --no-audit --no-fund --silent )
echo "installed $(node -p "require('$dest/node_modules/openai/package.json').version" 2>/dev/null) into $dest"
