#!/usr/bin/env bash
# The install_after_partial_build ctest (issue 14): a build tree in which
# only some targets were built -- as scripts/demo.sh builds two -- still
# installs: the library, headers, CMake package and resmgr.pc always, the
# example programs that were built, and no error for those that were not.
#
# Usage: partial.sh SOURCE_DIR WORK_DIR CARGO_TARGET_DIR LIBDIR
# CARGO_TARGET_DIR is the main build's, so the library is not built twice.
# Environment (set by ctest): CMAKE_COMMAND, CMAKE_GENERATOR.
set -euo pipefail

src=$1
work=$2
cargo_target=$3
libdir=$4
cmake=${CMAKE_COMMAND:-cmake}

rm -rf "$work"
mkdir -p "$work"
generator_args=()
[ -n "${CMAKE_GENERATOR:-}" ] && generator_args=(-G "$CMAKE_GENERATOR")
"$cmake" -S "$src" -B "$work/build" "${generator_args[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DRESMGR_CARGO_TARGET_DIR="$cargo_target" >/dev/null
# Only the library and one example, as a demo would.
"$cmake" --build "$work/build" --target resmgr-example-inprocess
"$cmake" --install "$work/build" --prefix "$work/prefix"

for f in "$libdir/libresmgr.a" include/resmgr.h include/resmgr_port.h \
         "$libdir/cmake/resmgr/resmgrConfig.cmake" "$libdir/pkgconfig/resmgr.pc" \
         bin/resmgr-example-inprocess; do
  [ -f "$work/prefix/$f" ] || { echo "install_after_partial_build: $f was not installed" >&2; exit 1; }
done
if [ -e "$work/prefix/bin/resmgr-device" ]; then
  echo "install_after_partial_build: resmgr-device was installed but never built" >&2
  exit 1
fi
# The examples are their own component: installing it alone installs
# what was built of them and nothing else.
"$cmake" --install "$work/build" --prefix "$work/only-examples" --component examples
[ -f "$work/only-examples/bin/resmgr-example-inprocess" ] ||
  { echo "install_after_partial_build: the examples component lacks the example" >&2; exit 1; }
[ ! -e "$work/only-examples/include/resmgr.h" ] ||
  { echo "install_after_partial_build: the examples component installed the header" >&2; exit 1; }
rm -rf "$work"
echo "install_after_partial_build: ok"
