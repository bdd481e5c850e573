#!/usr/bin/env bash
# The install_package ctest: installs the build into a fresh prefix, then
# builds tests/install/main.c against that prefix twice -- with CMake's
# find_package(resmgr) and with `pkg-config --cflags --libs --static resmgr`
# -- and runs both programs.
#
# Usage: run.sh BUILD_DIR WORK_DIR LIBDIR VERSION [CONFIG]
# Environment (set by ctest): CMAKE_COMMAND, CMAKE_GENERATOR, CC.
set -euo pipefail

build_dir=$1
work=$2
libdir=$3
version=$4
config=${5:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cmake=${CMAKE_COMMAND:-cmake}
cc=${CC:-cc}
prefix=$work/prefix

rm -rf "$work"
mkdir -p "$work"

echo "== cmake --install into $prefix"
config_args=()
[ -n "$config" ] && config_args=(--config "$config")
"$cmake" --install "$build_dir" --prefix "$prefix" "${config_args[@]}"

for f in "$libdir/libresmgr.a" include/resmgr.h include/resmgr_port.h \
         "$libdir/cmake/resmgr/resmgrConfig.cmake" \
         "$libdir/cmake/resmgr/resmgrConfigVersion.cmake" \
         "$libdir/pkgconfig/resmgr.pc"; do
  [ -f "$prefix/$f" ] || { echo "install_package: $prefix/$f was not installed" >&2; exit 1; }
done

echo "== find_package(resmgr $version) with CMAKE_PREFIX_PATH=$prefix"
generator_args=()
[ -n "${CMAKE_GENERATOR:-}" ] && generator_args=(-G "$CMAKE_GENERATOR")
"$cmake" -S "$here" -B "$work/build-cmake" "${generator_args[@]}" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_PREFIX_PATH="$prefix" \
  -DRESMGR_EXPECTED_VERSION="$version"
"$cmake" --build "$work/build-cmake" "${config_args[@]}"
exe=$(find "$work/build-cmake" -type f -name resmgr-install-check -perm -u+x | head -n 1)
[ -n "$exe" ] || { echo "install_package: resmgr-install-check was not built" >&2; exit 1; }
"$exe"

echo "== pkg-config --cflags --libs --static resmgr"
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
command -v pkg-config >/dev/null || { echo "install_package: pkg-config not found (run scripts/setup.sh)" >&2; exit 1; }
pc_version=$(pkg-config --modversion resmgr)
[ "$pc_version" = "$version" ] || { echo "install_package: pkg-config says version $pc_version, expected $version" >&2; exit 1; }
pc_flags=$(pkg-config --cflags --libs --static resmgr)
echo "$cc -std=c99 -Wall -Wextra -Werror -pedantic main.c $pc_flags"
# shellcheck disable=SC2086  # the flags must split into words
"$cc" -std=c99 -Wall -Wextra -Werror -pedantic -DEXPECTED_VERSION="\"$version\"" \
  "$here/main.c" -o "$work/resmgr-install-check-pkgconfig" $pc_flags
"$work/resmgr-install-check-pkgconfig"

# The programs linked with the package's options must not have an
# executable stack (an assembly object without .note.GNU-stack would give
# them one).
if command -v readelf >/dev/null; then
  for program in "$exe" "$work/resmgr-install-check-pkgconfig"; do
    if readelf -lW "$program" | grep -q 'GNU_STACK.*RWE'; then
      echo "install_package: $program has an executable stack (missing -Wl,-z,noexecstack?)" >&2
      exit 1
    fi
  done
fi

echo "install_package: ok"
