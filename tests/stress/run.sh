#!/usr/bin/env bash
# Builds tests/stress/stress.c against a CMake build's libresmgr.a and runs
# it under one checker or several (comma-separated):
#
#   tests/stress/run.sh asan BUILD_DIR      AddressSanitizer + UBSan + LeakSanitizer
#                                           (BUILD_DIR from tests/sanitize/c.sh)
#   tests/stress/run.sh memcheck BUILD_DIR  valgrind memcheck: 0 errors, 0 bytes
#                                           definitely or indirectly lost
#   tests/stress/run.sh helgrind BUILD_DIR  valgrind --tool=helgrind
#   tests/stress/run.sh tsan BUILD_DIR      ThreadSanitizer on the C side
#   tests/stress/run.sh memcheck,helgrind,tsan build
#
# RESMGR_STRESS_ITERATIONS overrides the rounds per thread (defaults: 400
# under ASan/TSan, 200 under valgrind).
#
# helgrind and TSan only see the synchronisation of instrumented code or of
# pthread calls; Rust's std::sync::Mutex locks with futex syscalls and
# atomics, which neither sees. helgrind is therefore given
# tests/stress/helgrind.supp (it says why each entry is a false positive)
# and TSan checks the C side only (docs/RELIABILITY.md). Compiling with
# -DSTRESS_INJECT_RACE adds a deliberate race in the event callback, to
# check that both still report C-side races.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
usage="usage: run.sh asan|memcheck|helgrind|tsan[,...] BUILD_DIR"
mode=${1:?$usage}
build_dir=${2:?$usage}
case "$build_dir" in /*) ;; *) build_dir="$root/$build_dir" ;; esac

lib=$(find "$build_dir/cargo-target" -name libresmgr.a -path '*/release/*' -o -name libresmgr.a -path '*/debug/*' 2>/dev/null | head -n 1)
if [ -z "$lib" ]; then
  echo "stress: no libresmgr.a under $build_dir/cargo-target (build it first)" >&2
  exit 1
fi
out="$build_dir/stress"
mkdir -p "$out"
# The system libraries rustc named for the archive, captured by the CMake
# build (cmake/cargo-staticlib.cmake).
native="$build_dir/resmgr-native-static-libs.rsp"
if [ ! -f "$native" ]; then
  echo "stress: no $native (build $build_dir with CMake first)" >&2
  exit 1
fi
libs=(-pthread "-Wl,@$native" -Wl,-z,noexecstack)
common=(-std=c99 -Wall -Wextra -Werror -pedantic -g -O1 -I"$root/include")

run_one() {
  local mode=$1 exe iterations=${RESMGR_STRESS_ITERATIONS:-400}
  local runner=()
  case "$mode" in
    asan)
      exe="$out/stress-asan"
      gcc "${common[@]}" -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
        "$root/tests/stress/stress.c" "$lib" "${libs[@]}" -o "$exe"
      export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1"
      export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
      ;;
    tsan)
      exe="$out/stress-tsan"
      gcc "${common[@]}" -fsanitize=thread "$root/tests/stress/stress.c" "$lib" "${libs[@]}" -o "$exe"
      # The Rust code is not instrumented: TSan sees neither its accesses
      # nor its futex-based locking, only the libc calls it makes (malloc,
      # memcmp, memmove...), which therefore look unsynchronised between
      # threads. ignore_interceptors_accesses=1 drops exactly those; every
      # access the C program makes itself is still checked
      # (docs/RELIABILITY.md shows a deliberate race in a callback being
      # caught with these options).
      export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:ignore_interceptors_accesses=1"
      ;;
    memcheck | helgrind)
      exe="$out/stress"
      gcc "${common[@]}" "$root/tests/stress/stress.c" "$lib" "${libs[@]}" -o "$exe"
      iterations=${RESMGR_STRESS_ITERATIONS:-200}
      if [ "$mode" = memcheck ]; then
        # The same options as the valgrind_* ctest tests.
        runner=(valgrind --error-exitcode=99 --leak-check=full
                --errors-for-leak-kinds=definite,indirect
                --show-leak-kinds=definite,indirect)
      else
        # no-nptl-pthread-stackcache: glibc reuses the stacks of ended
        # threads and clears them with memset; helgrind does not see the
        # join (a futex in Rust's std) that orders it, and valgrind's
        # documentation recommends this hint for helgrind and DRD.
        runner=(valgrind --tool=helgrind --error-exitcode=98
                --sim-hints=no-nptl-pthread-stackcache
                --suppressions="$root/tests/stress/helgrind.supp"
                --gen-suppressions=all --num-callers=30)
      fi
      ;;
    *)
      echo "stress: unknown mode $mode" >&2
      return 2
      ;;
  esac
  echo "stress: $mode: $exe (library $lib)"
  RESMGR_STRESS_ITERATIONS=$iterations "${runner[@]}" "$exe"
}

status=0
IFS=, read -r -a modes <<<"$mode"
for m in "${modes[@]}"; do
  if run_one "$m"; then
    echo "stress: $m: no report"
  else
    echo "stress: $m: FAILED" >&2
    status=1
  fi
done
exit "$status"
