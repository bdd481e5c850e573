#!/usr/bin/env bash
# Regenerates include/resmgr.h from the Rust sources with the pinned cbindgen
# (installing it through scripts/setup.sh when it is missing or at another
# version). Commit the result: the header_drift test compares it byte for byte.
#
# Usage: scripts/gen-header.sh            regenerate include/resmgr.h
#        scripts/gen-header.sh --check    only check it is up to date
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${1:-}" = "--check" ]; then
  exec bash tests/check_header.sh
fi

pinned=$(sed -n 's/^CBINDGEN_VERSION=//p' scripts/setup.sh)
if [ "$(cbindgen --version 2>/dev/null || true)" != "cbindgen $pinned" ]; then
  bash scripts/setup.sh
fi

cbindgen --quiet --config cbindgen.toml --crate resmgr --output include/resmgr.h
echo "gen-header: wrote include/resmgr.h with cbindgen $pinned"
