#!/usr/bin/env bash
# Every C test and example (ctest labels "c" and "example") and the
# end-to-end tests of the C programs (label "e2e": resmgr-device and the
# libmosquitto example against the local platform) in an
# AddressSanitizer + UndefinedBehaviorSanitizer build of its own:
#
#   C code:  -fsanitize=address,undefined -fno-omit-frame-pointer
#            -fno-sanitize-recover=undefined (gcc's libasan/libubsan)
#   Rust:    libresmgr.a from the cargo "dev" profile (debug assertions and
#            integer-overflow checks on: an overflow is a panic, which the C
#            ABI turns into RESMGR_ERR_PANIC and the tests fail on). The Rust
#            code is not compiled with ASan instrumentation here (the fuzz
#            targets are); but the whole process allocates through ASan's
#            malloc, so LeakSanitizer sees every Rust allocation too, and
#            double or invalid frees anywhere are caught.
#
# Then the stress test (tests/stress/stress.c) in the same build.
#
#   tests/sanitize/c.sh        # build dir: build-sanitize (RESMGR_SANITIZE_BUILD_DIR)
#
# ASAN_OPTIONS=detect_leaks=1: a leak fails the test like an error.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

build_dir=${RESMGR_SANITIZE_BUILD_DIR:-build-sanitize}
jobs=${RESMGR_JOBS:-2}
san="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

# valgrind_* tests are off: valgrind cannot run ASan binaries (and the
# regular build runs them). RESMGR_WERROR stays on.
cmake -S . -B "$build_dir" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRESMGR_CARGO_PROFILE=dev \
  -DRESMGR_VALGRIND=OFF \
  -DCMAKE_C_FLAGS="$san" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined"
cmake --build "$build_dir" -j "$jobs"

# verify_asan_link_order=0: some e2e tests LD_PRELOAD a bandwidth throttle
# (tests/e2e/throttle.c) into resmgr-device, which puts it before the ASan
# runtime in the library list; the check would abort the program at start.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:verify_asan_link_order=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# The e2e tests need resmgr-platform (not sanitized: it is the other side);
# the regular build's copy spares a second release build of it.
platform="$root/${RESMGR_BUILD_DIR:-build}/cargo-target/release/resmgr-platform"
if [ -z "${RESMGR_PLATFORM:-}" ] && [ -x "$platform" ]; then
  export RESMGR_PLATFORM="$platform"
fi
# No suppressions: every report fails the run.
rc=0
(cd "$build_dir" && ctest -L '^(c|example|e2e)$' --output-on-failure -j "$jobs" --timeout 900) || rc=$?

# The stress test: one client, many threads, in the same sanitized build.
bash "$root/tests/stress/run.sh" asan "$build_dir" || rc=1
exit "$rc"
