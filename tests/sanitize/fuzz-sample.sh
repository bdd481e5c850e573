#!/usr/bin/env bash
# Refreshes the committed sample of the fuzzing corpus: minimizes
# fuzz/corpus/<target>/ with libFuzzer's -merge=1 (keeps the inputs that
# add coverage) and copies the smallest of them, up to
# RESMGR_FUZZ_SAMPLE_KB (default 256) KiB per target, into
# fuzz/seeds/<target>/ as cmin-<sha1>. The working corpus itself is not
# committed; the sample lets a fresh clone start from where the campaign
# got instead of from the hand-made seeds alone.
#
#   tests/sanitize/fuzz-sample.sh [TARGET...]    (after tests/sanitize/fuzz.sh)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fuzz="$root/fuzz"
bin="$fuzz/target/x86_64-unknown-linux-gnu/release"
cap_kb=${RESMGR_FUZZ_SAMPLE_KB:-128}
cap_files=${RESMGR_FUZZ_SAMPLE_FILES:-250}
if [ $# -gt 0 ]; then targets=("$@"); else targets=(down_message c_abi download_response resume_state); fi

cd "$fuzz"
for t in "${targets[@]}"; do
  [ -d "corpus/$t" ] || { echo "sample: $t: no corpus"; continue; }
  tmp=$(mktemp -d)
  "$bin/$t" -merge=1 -timeout=60 "$tmp" "corpus/$t" >"artifacts/$t/merge.log" 2>&1
  rm -f "seeds/$t"/cmin-*
  budget=$((cap_kb * 1024))
  kept=0
  # Largest first among inputs of at most 4 KiB: the richest inputs
  # (conversations, programs of many calls) that still fit the caps.
  while read -r size file; do
    [ "$kept" -lt "$cap_files" ] || break
    [ "$size" -le 4096 ] && [ "$size" -le "$budget" ] || continue
    cp "$file" "seeds/$t/cmin-$(basename "$file")"
    budget=$((budget - size))
    kept=$((kept + 1))
  done < <(find "$tmp" -type f -printf '%s %p\n' | sort -rn)
  echo "sample: $t: $(ls "$tmp" | wc -l) inputs after merge, $kept committed ($((cap_kb * 1024 - budget)) bytes)"
  rm -rf "$tmp"
done
