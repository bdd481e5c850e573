#!/usr/bin/env bash
# The test command: everything CI checks, in order.
#
#   setup (tools) -> cargo fmt --check -> clippy (workspace / library
#   without default features) -> cargo test (workspace: library, platform;
#   library without default features) -> cargo build
#   --no-default-features -> the core for a Cortex-M4 run on QEMU (and a
#   Cortex-M3 compile) -> TLS tests without the bundled roots -> CMake configure + build (build/, Release) ->
#   ctest (C tests, valgrind, examples, header checks, install check) ->
#   fuzz targets (regressions replayed, then a short coverage-guided run
#   each) -> C tests, examples and the stress test in an ASan+UBSan build
#   (build-sanitize/) -> the stress test under valgrind memcheck, helgrind
#   and ThreadSanitizer -> the FFI layer's unit tests under Miri
#   (docs/RELIABILITY.md).
#
# Every step runs even when an earlier one failed (a fmt failure should not
# hide a test failure); the script exits non-zero when any step failed and
# ends with one line: "N passed, M failed".
#
# Environment: RESMGR_JOBS (default 2), RESMGR_BUILD_DIR (default build),
# RESMGR_FUZZ_SECONDS (seconds per fuzz target, default 60),
# RESMGR_SANITIZE_BUILD_DIR (default build-sanitize).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# Respect the committed Cargo.lock exactly, as the CMake build does.
locked=()
[ -f Cargo.lock ] && locked=(--locked)

# The number of steps: every line of this script that starts with "step ".
total=$(grep -c '^step "' "${BASH_SOURCE[0]}")
index=0
passed=0
failed=0
failures=()

# step NAME COMMAND...: prints a section header, runs COMMAND, records the result.
step() {
  local name=$1
  shift
  index=$((index + 1))
  local start=$SECONDS
  printf '\n==============================================================================\n'
  printf '== [%d/%d] %s\n' "$index" "$total" "$name"
  printf '==      $ %s\n' "$*"
  printf '==============================================================================\n'
  local rc=0
  "$@" || rc=$?
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    printf -- '-- [%d/%d] %s: ok (%ds)\n' "$index" "$total" "$name" $((SECONDS - start))
  else
    failed=$((failed + 1))
    failures+=("$name")
    printf -- '-- [%d/%d] %s: FAILED with exit code %d (%ds)\n' "$index" "$total" "$name" "$rc" $((SECONDS - start))
  fi
}

# in_dir DIR COMMAND...: runs COMMAND inside DIR.
in_dir() {
  local dir=$1
  shift
  (cd "$dir" && "$@")
}

step "setup" bash scripts/setup.sh
step "cargo fmt" cargo fmt --all -- --check
step "cargo clippy" cargo clippy "${locked[@]}" --workspace --all-targets -- -D warnings
step "cargo clippy --no-default-features" cargo clippy "${locked[@]}" -p resmgr --all-targets --no-default-features -- -D warnings
step "cargo test" cargo test "${locked[@]}" --workspace
step "cargo test --no-default-features" cargo test "${locked[@]}" -p resmgr --no-default-features
step "cargo build --no-default-features" cargo build "${locked[@]}" -p resmgr --no-default-features
# The core on a microcontroller: built for a Cortex-M4F, linked with
# examples-c/inprocess.c and the reference port, run on QEMU (mps2-an386);
# also a compile-only Cortex-M3 build (firmware/mps2-an386/run.sh).
step "firmware: Cortex-M4 on QEMU" bash firmware/mps2-an386/run.sh
# Without the bundled Mozilla roots: a configured CA file still works, no
# CA file falls back to the system bundle, a private CA is still refused.
step "cargo test TLS without bundled-roots" cargo test "${locked[@]}" -p resmgr --no-default-features --features http,mqtt --test transfer_tls --test hostile_tls
step "cmake configure" cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release
step "cmake build" cmake --build "$build_dir" -j "$jobs"
step "ctest" in_dir "$build_dir" ctest --output-on-failure -j "$jobs" --timeout 900
step "fuzz (${RESMGR_FUZZ_SECONDS:-60}s per target)" bash tests/sanitize/fuzz.sh
step "ASan+UBSan: C tests, examples, stress" bash tests/sanitize/c.sh
step "stress: memcheck, helgrind, ThreadSanitizer" bash tests/stress/run.sh memcheck,helgrind,tsan "$build_dir"
step "Miri: FFI unit tests" bash tests/sanitize/miri.sh

echo
if [ "$failed" -gt 0 ]; then
  echo "FAILED steps: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
