# What every script in scripts/ starts with; source it first:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# It moves to the repository's root, puts cargo's tools on PATH and reads
# the settings the build scripts share: RESMGR_JOBS (default 2) and
# RESMGR_BUILD_DIR (default build).

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# shellcheck disable=SC2034 # used by the scripts that source this file
jobs=${RESMGR_JOBS:-2}
# shellcheck disable=SC2034
build_dir=${RESMGR_BUILD_DIR:-build}

# have TOOL: true when TOOL is on PATH.
have() { command -v "$1" >/dev/null 2>&1; }

# apt_install WHO PACKAGE...: installs the Debian packages, saying so as
# WHO; nothing at all when none is given (everything is there already).
apt_install() {
  local who=$1
  shift
  [ $# -gt 0 ] || return 0
  echo "$who: installing $*" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
