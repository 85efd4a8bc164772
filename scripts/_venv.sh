# Sourced by scripts/demo and scripts/test: make sure .venv exists with micboardd in it.
# Works on a fresh Debian machine (installs python3-venv through apt when missing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {  # apt_install PKG... : install Debian packages that are missing
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> apt-get install ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

PY="${PYTHON:-python3}"
if ! command -v "$PY" >/dev/null 2>&1; then apt_install python3; fi
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "micboardd needs Python 3.11 or newer ($PY is $("$PY" --version))" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv 2>/dev/null || { apt_install python3-venv; rm -rf .venv; "$PY" -m venv .venv; }
fi
stamp=".venv/.installed-$(cat pyproject.toml | cksum | cut -d' ' -f1)-${EXTRAS:-}"
if [ ! -f "$stamp" ]; then
  echo "==> installing micboardd into .venv"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install -q -e ".${EXTRAS:+[$EXTRAS]}" 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -c 'import micboardd.drivers.shure_ulxd' 
  rm -f .venv/.installed-*; touch "$stamp"
fi
