#!/usr/bin/env bash
# The page and tus client tests (tests/web): the page driven in headless Chromium (Debian's
# chromium + chromium-driver, through Selenium), and tus conformance with tuspy (PyPI) and
# tus-js-client (npm, run with Node). Their PyPI and npm packages are installed at run time
# into target/page-tests (packages only: no browser is downloaded). The tests then run in
# a fresh network namespace with only loopback (`unshare -n`, as root), like
# scripts/api-fuzz.sh: the servers they start (audiotap, a file server, a cutting proxy)
# are reachable on 127.0.0.1 and nothing else is.
#
#   scripts/web-test.sh                       # all of them
#   scripts/web-test.sh -k cut                # extra arguments go to pytest
#   UPDATE_SCREENSHOT=1 scripts/web-test.sh   # also rewrite docs/page.png
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="${AUDIOTAP_BIN:-${CARGO_TARGET_DIR:-target}/debug/audiotap}"
WORK="$ROOT/target/page-tests"

if [[ "${AUDIOTAP_IN_NETNS:-}" != "1" ]]; then
  # Installs happen outside the namespace (they need the package registries).
  [[ -x "$BIN" ]] || cargo build
  for tool in chromium chromedriver ffmpeg node; do
    command -v "$tool" >/dev/null || { echo "web-test: $tool is missing (scripts/system-packages.sh install test)" >&2; exit 1; }
  done
  if ! command -v npm >/dev/null; then
    # NodeSource's nodejs brings npm; Debian's does not.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm
  fi
  PY=/usr/bin/python3; [[ -x "$PY" ]] || PY=python3
  mkdir -p "$WORK"
  [[ -x "$WORK/venv/bin/python" ]] || "$PY" -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install -q --disable-pip-version-check 'selenium>=4.20,<5' 'tuspy>=1.1,<2' 'pytest>=8,<10'
  npm install --prefix "$WORK/node" --no-audit --no-fund --silent 'tus-js-client@^4.3.1'
  if [[ "$(id -u)" -eq 0 ]] && command -v unshare >/dev/null && [[ "${AUDIOTAP_NO_NETNS:-}" != "1" ]]; then
    exec unshare -n env AUDIOTAP_IN_NETNS=1 bash "$0" "$@"
  fi
  echo "note: not root (or AUDIOTAP_NO_NETNS=1): running in the normal network namespace"
else
  ip link set lo up
fi

AUDIOTAP_BIN="$(realpath "$BIN")"
export AUDIOTAP_BIN
rc=0
echo "web-test: the page in Chromium, and tuspy (pytest tests/web)"
"$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider tests/web "$@" || rc=$?
echo "web-test: tus-js-client (node --test tests/web/tus-js)"
TUS_NODE_DIR="$WORK/node" node --test tests/web/tus-js/ || rc=$?
exit "$rc"
