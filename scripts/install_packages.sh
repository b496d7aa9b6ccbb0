#!/usr/bin/env bash
# Installs the packages of scripts/packages.txt that are missing. As root it runs apt-get; otherwise
# it prints the exact apt-get line and fails.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' scripts/packages.txt)
missing=()
for package in "${packages[@]}"; do
  # A machine that has npm from elsewhere keeps it: Debian's nodejs conflicts with a separately
  # installed npm.
  if [[ $package == nodejs || $package == npm ]] && command -v npm >/dev/null; then continue; fi
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  [[ $status == installed ]] || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

install=(apt-get install -y --no-install-recommends "${missing[@]}")
if [[ $(id -u) -ne 0 ]]; then
  echo "Missing Debian packages. Install them as root, then run this again:" >&2
  echo "  apt-get update && ${install[*]}" >&2
  exit 1
fi
echo "== installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
"${install[@]}" -qq >/dev/null
