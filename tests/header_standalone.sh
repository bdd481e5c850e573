#!/usr/bin/env bash
# Standalone header check (ctest header_standalone_c / header_standalone_cxx):
# a translation unit that only includes resmgr.h and resmgr_port.h (each
# twice, to exercise the include guards) must compile with the strictest portable flags:
#   c:   gcc -std=c99   -Wall -Wextra -Werror -pedantic-errors
#   cxx: g++ -std=c++11 -Wall -Wextra -Werror -pedantic-errors
# The compilers can be overridden with RESMGR_HEADER_CC / RESMGR_HEADER_CXX.
#
# Usage: tests/header_standalone.sh c|cxx [WORK_DIR]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lang=${1:?usage: header_standalone.sh c|cxx [WORK_DIR]}
work=${2:-$(mktemp -d)}
mkdir -p "$work"

case $lang in
  c)   compiler=(${RESMGR_HEADER_CC:-gcc});  src=$work/standalone.c;   flags=(-std=c99) ;;
  cxx) compiler=(${RESMGR_HEADER_CXX:-g++}); src=$work/standalone.cpp; flags=(-std=c++11) ;;
  *)   echo "header_standalone: unknown language '$lang' (c or cxx)" >&2; exit 2 ;;
esac
flags+=(-Wall -Wextra -Werror -pedantic-errors)

printf '#include "resmgr.h"\n#include "resmgr.h"\n#include "resmgr_port.h"\n#include "resmgr_port.h"\n' >"$src"
echo "${compiler[*]} ${flags[*]} -I include -c $(basename "$src")"
"${compiler[@]}" "${flags[@]}" -I "$root/include" -c "$src" -o "$work/standalone.o"
echo "header_standalone_$lang: ok"
