#!/usr/bin/env bash
# Header drift check (ctest header_drift): regenerates include/resmgr.h with
# the pinned cbindgen into WORK_DIR and fails with a diff when the committed
# header differs. Fails -- never skips -- when cbindgen is missing or at
# another version than the one pinned in scripts/setup.sh.
#
# Usage: tests/check_header.sh [WORK_DIR]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${1:-$(mktemp -d)}
pinned=$(sed -n 's/^CBINDGEN_VERSION=//p' "$root/scripts/setup.sh")
[ -n "$pinned" ] || { echo "header_drift: no CBINDGEN_VERSION= in scripts/setup.sh" >&2; exit 1; }

# Where scripts/setup.sh installs it.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if ! command -v cbindgen >/dev/null 2>&1; then
  echo "header_drift: FAILED: cbindgen not found; run scripts/setup.sh (installs cbindgen $pinned)" >&2
  exit 1
fi
found=$(cbindgen --version 2>&1 || true)
if [ "$found" != "cbindgen $pinned" ]; then
  echo "header_drift: FAILED: $(command -v cbindgen) is '$found', the header is pinned to cbindgen $pinned; run scripts/setup.sh" >&2
  exit 1
fi

mkdir -p "$work"
generated=$work/resmgr.h
(cd "$root" && cbindgen --quiet --config cbindgen.toml --crate resmgr --output "$generated")

if ! diff -u "$root/include/resmgr.h" "$generated"; then
  echo >&2
  echo "header_drift: FAILED: include/resmgr.h differs from what cbindgen $pinned generates (diff above: - committed, + generated)." >&2
  echo "header_drift: run scripts/gen-header.sh and commit include/resmgr.h" >&2
  exit 1
fi
echo "header_drift: include/resmgr.h is up to date (cbindgen $pinned)"
