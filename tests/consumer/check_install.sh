#!/usr/bin/env bash
# Installs a configured qguard build and checks its install tree as users meet it: the exports of the
# shared library, then a C++ program (find_package), a C program (pkg-config; --static for a static
# library) and, for a shared library, the Python ctypes example, each moderating with MODEL_DIR and
# agreeing with `qguard classify`.
# Usage: bash tests/consumer/check_install.sh BUILD_DIR QGUARD_BINARY MODEL_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$(realpath "$1") qguard=$(realpath "$2") model=$(realpath "$3")
prefix=$build/install
check_agreement=(python3 tests/consumer/check_agreement.py "$qguard" "$model")

rm -rf "$prefix" "$build/consumer"
cmake --install "$build" --prefix "$prefix" >/dev/null
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
libdir=$(pkg-config --variable=libdir qguard)
shared_library=$(find "$libdir" -name 'libqguard.so.*.*.*' -print -quit)

if [[ -n $shared_library ]]; then
  echo "-- exports of the installed $(basename "$shared_library")"
  python3 tests/consumer/check_exports.py "$shared_library" "$prefix/include/qguard/qguard.h" \
    "$(objdump -p "$shared_library" | awk '/SONAME/ {print $2}')"
  pkg_config_flags=(--cflags --libs)
  c_link=(-Wl,-rpath,"$libdir")
else
  pkg_config_flags=(--static --cflags --libs)
  c_link=()
fi

echo "-- C++ consumer (find_package)"
cmake -S tests/consumer -B "$build/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$build/consumer" >/dev/null
"$build/consumer/consumer"
"${check_agreement[@]}" "$build/consumer/consumer"

echo "-- C consumer: cc -std=c99 examples/c/quickstart.c \$(pkg-config ${pkg_config_flags[*]} qguard)"
# shellcheck disable=SC2046
cc -std=c99 -Wall -Wextra -Werror -pedantic examples/c/quickstart.c -o "$build/consumer/c_quickstart" \
  $(pkg-config "${pkg_config_flags[@]}" qguard) "${c_link[@]}"
"${check_agreement[@]}" "$build/consumer/c_quickstart"

if [[ -n $shared_library ]]; then
  echo "-- Python consumer (ctypes)"
  QGUARD_LIBRARY=$shared_library PYTHONDONTWRITEBYTECODE=1 "${check_agreement[@]}" python3 examples/python/qguard.py
fi
