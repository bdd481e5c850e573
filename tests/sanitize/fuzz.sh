#!/usr/bin/env bash
# Builds the cargo-fuzz targets (libFuzzer + AddressSanitizer, debug
# assertions on) and runs each of them: first every committed regression
# input once (fuzz/regressions/<target>/), then a coverage-guided run of
# RESMGR_FUZZ_SECONDS seconds (default 60) that grows fuzz/corpus/<target>/
# from the committed seeds (fuzz/seeds/<target>/).
#
#   tests/sanitize/fuzz.sh                       # all targets, 60 s each
#   RESMGR_FUZZ_SECONDS=1800 tests/sanitize/fuzz.sh down_message   # one, longer
#
# Ends with one line per target (executions, exec/s, coverage, corpus) and
# exits non-zero when a target crashed; the crashing input is then in
# fuzz/artifacts/<target>/ — turn it into a regression (docs/RELIABILITY.md,
# "Every crash becomes a regression test").
#
# The only Rust toolchain is stable: cargo fuzz's sanitizer and coverage
# flags are -Z flags, accepted with RUSTC_BOOTSTRAP=1.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fuzz="$root/fuzz"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export RUSTC_BOOTSTRAP=1

seconds=${RESMGR_FUZZ_SECONDS:-60}
all_targets=(down_message c_abi download_response resume_state md5_stream)
if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=("${all_targets[@]}")
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is missing (scripts/setup.sh installs it)" >&2
  exit 1
fi

cd "$fuzz"
echo "fuzz: building the targets (cargo fuzz build --debug-assertions)"
cargo fuzz build --debug-assertions
bin="$fuzz/target/x86_64-unknown-linux-gnu/release"

# Per-target libFuzzer options: the longest input worth trying, a per-input
# time limit (download_response may retry over loopback a few times), the
# dictionary.
options() {
  case "$1" in
    down_message) echo "-max_len=20000 -timeout=10 -dict=dict/json.dict" ;;
    c_abi) echo "-max_len=8192 -timeout=10 -dict=dict/json.dict" ;;
    download_response) echo "-max_len=16384 -timeout=60 -dict=dict/download_response.dict" ;;
    resume_state) echo "-max_len=5000 -timeout=10 -dict=dict/json.dict" ;;
    md5_stream) echo "-max_len=4096 -timeout=10" ;;
    *) echo "fuzz: unknown target $1" >&2; return 1 ;;
  esac
}

summary=()
status=0
for t in "${targets[@]}"; do
  opts=$(options "$t")
  mkdir -p "corpus/$t" "artifacts/$t"
  log="artifacts/$t/last-run.log"

  if [ -d "regressions/$t" ] && [ -n "$(ls -A "regressions/$t")" ]; then
    echo "fuzz: $t: replaying $(ls "regressions/$t" | wc -l) regression input(s)"
    # shellcheck disable=SC2086
    if ! "$bin/$t" $opts -runs=1 "regressions/$t"/* >"artifacts/$t/regressions.log" 2>&1; then
      tail -n 40 "artifacts/$t/regressions.log" >&2
      echo "fuzz: $t: a regression input fails again" >&2
      summary+=("$t: REGRESSION FAILED (artifacts/$t/regressions.log)")
      status=1
      continue
    fi
  fi

  echo "fuzz: $t: ${seconds}s, corpus fuzz/corpus/$t"
  dirs=("corpus/$t" "seeds/$t")
  [ -d "regressions/$t" ] && dirs+=("regressions/$t")
  rc=0
  # shellcheck disable=SC2086
  "$bin/$t" $opts -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/" "${dirs[@]}" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/cov \1, features \2, corpus \3/p' <<<"$last")
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "$log" >&2
    crash=$(ls -t "artifacts/$t"/crash-* "artifacts/$t"/leak-* "artifacts/$t"/timeout-* "artifacts/$t"/oom-* 2>/dev/null | head -n 1 || true)
    summary+=("$t: CRASHED after ${execs:-?} executions: ${crash:-see $log}")
    status=1
  else
    summary+=("$t: ${execs:-?} executions, ${rate:-?} exec/s, $cov")
  fi
done

echo
echo "fuzz summary (${seconds}s per target):"
for line in "${summary[@]}"; do
  echo "  $line"
done
exit "$status"
