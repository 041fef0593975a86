#!/usr/bin/env bash
# Installs the real VS Code that the `e2e` tests drive: code-server (VS Code in a browser), Debian's
# Chromium, vsce (to package the extension) and Playwright for Python (no browser downloads).
# Idempotent: everything is cached under $NEURODEBUG_E2E_CACHE (default ~/.cache/neurodebug-e2e);
# a second run only checks. Playwright goes into $PYTHON's environment (.ci/run passes its venv's).
# Exit status: 0 ready, 3 a package registry cannot be reached (.ci/run then skips the tests with a
# warning), anything else a missing tool (npm) or a broken install (CI fails).
set -euo pipefail

CACHE="${NEURODEBUG_E2E_CACHE:-$HOME/.cache/neurodebug-e2e}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CODE_SERVER_VERSION=4.100.3 # the last release whose engines.node accepts node 20
VSCE_VERSION=3.9.2          # the last release that runs on node 20
RIPGREP_CACHE=vscode-ripgrep-cache-1.15.11
RIPGREP_TARBALL=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz

say() { echo "e2e setup: $*" >&2; }
unreachable() { say "$1 cannot be reached: $2"; exit 3; }
broken() { say "$*"; exit 1; }

# The npm registry, through npm: a missing npm is a broken machine, not an unreachable registry.
npm_registry() {
  command -v npm >/dev/null || broken "npm is not installed (apt-get install npm)"
  npm ping >/dev/null 2>&1 || unreachable "the npm registry" "npm ping failed"
}

if [ "$(id -u)" = 0 ]; then SUDO=(); else SUDO=(sudo -n); fi

install_system_packages() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/rg ] || missing+=(ripgrep)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)
  [ ${#missing[@]} = 0 ] && return
  say "apt-get install ${missing[*]}"
  "${SUDO[@]}" apt-get update -qq >/dev/null 2>&1 || unreachable "the Debian archive" "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}

# @vscode/ripgrep's postinstall downloads rg from GitHub unless its cache already holds the tarball:
# Debian's rg, packed as that tarball.
fill_ripgrep_cache() {
  local dir="$CACHE/tmp/$RIPGREP_CACHE"
  [ -f "$dir/$RIPGREP_TARBALL" ] && return
  mkdir -p "$dir"
  tar -czf "$dir/$RIPGREP_TARBALL" -C /usr/bin rg
}

install_code_server() {
  local bin="$CACHE/code-server/node_modules/.bin/code-server"
  if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "^$CODE_SERVER_VERSION "; then return; fi
  npm_registry
  fill_ripgrep_cache
  say "npm install code-server@$CODE_SERVER_VERSION (about 75 s)"
  mkdir -p "$CACHE/code-server"
  # As root its postinstall needs unsafe_perm; nodedir keeps node-gyp off the network; yes lets
  # node-pty's `npx node-gyp` run without a terminal; TMPDIR points ripgrep at the filled cache.
  TMPDIR="$CACHE/tmp" npm_config_unsafe_perm=true npm_config_nodedir=/usr npm_config_yes=true \
    npm install --prefix "$CACHE/code-server" --no-audit --no-fund --loglevel=error \
    "code-server@$CODE_SERVER_VERSION" >/dev/null
  "$bin" --version >/dev/null
}

install_vsce() {
  local bin="$CACHE/vsce/node_modules/.bin/vsce"
  [ -x "$bin" ] && return
  npm_registry
  say "npm install @vscode/vsce@$VSCE_VERSION"
  mkdir -p "$CACHE/vsce"
  npm install --prefix "$CACHE/vsce" --no-audit --no-fund --loglevel=error "@vscode/vsce@$VSCE_VERSION" >/dev/null
}

# The extension's own dependencies (vscode-languageclient) in npm's cache, so that the tests'
# `npm ci --prefer-offline` packages the extension without the registry. Redone when the lock changes.
cache_extension_dependencies() {
  local lock="$ROOT/lsp/vscode/package-lock.json" dir="$CACHE/extension-deps"
  if [ -f "$dir/package-lock.json" ] && cmp -s "$lock" "$dir/package-lock.json"; then return; fi
  npm_registry
  say "npm ci in a copy of lsp/vscode (the extension's dependencies)"
  rm -rf "$dir" && mkdir -p "$dir"
  cp "$ROOT/lsp/vscode/package.json" "$lock" "$dir/"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

install_playwright() {
  local python="${PYTHON:-python}"
  "$python" -c "import playwright.sync_api" 2>/dev/null && return
  say "pip install playwright (the Python package only: the tests drive /usr/bin/chromium)"
  "$python" -m pip install -q "playwright>=1.50" && return  # pyproject.toml's e2e extra
  # a failed install is a broken one unless the index cannot be reached at all
  "$python" -m pip download -q --no-deps -d "$CACHE/tmp/pip-probe" "playwright>=1.50" >/dev/null 2>&1 \
    || unreachable "the Python package index" "pip install playwright failed"
  broken "pip install playwright failed, though the Python package index can be reached"
}

install_system_packages
install_code_server
install_vsce
cache_extension_dependencies
install_playwright
say "ready in $CACHE"
