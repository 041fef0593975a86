#!/usr/bin/env bash
# Installs the real JupyterLab that the notebook's `e2e` test drives (tests/notebook/test_jupyterlab.py):
# JupyterLab and ipywidgets' front end in a venv of their own (the server; the kernel is the
# project's interpreter, given to JupyterLab as a kernelspec by the test), Debian's Chromium, and
# Playwright for Python in $PYTHON's environment (no browser downloads).
# Idempotent: the venv is cached under $NEURODEBUG_JUPYTER_CACHE (default ~/.cache/neurodebug-jupyter);
# a second run only checks. Versions as docs' REAL_PEERS tried them (a 29 s install).
# Exit status: 0 ready, 3 a package registry cannot be reached (.ci/run then skips the test with a
# warning), anything else a broken install (CI fails).
set -euo pipefail

CACHE="${NEURODEBUG_JUPYTER_CACHE:-$HOME/.cache/neurodebug-jupyter}"
JUPYTERLAB_VERSION=4.6.6
IPYWIDGETS_VERSION=8.1.9
PLAYWRIGHT_SPEC="playwright>=1.50" # pyproject.toml's e2e extra

say() { echo "jupyter setup: $*" >&2; }
unreachable() { say "$1 cannot be reached: $2"; exit 3; }
broken() { say "$*"; exit 1; }

if [ "$(id -u)" = 0 ]; then SUDO=(); else SUDO=(sudo -n); fi

# A failed pip install is an unreachable index when even a download of the same thing fails.
pip_install() {
  local python="$1"; shift
  "$python" -m pip install -q "$@" && return
  "$python" -m pip download -q --no-deps -d "$CACHE/tmp/pip-probe" "${@: -1}" >/dev/null 2>&1 \
    || unreachable "the Python package index" "pip install ${*: -1} failed"
  broken "pip install $* failed, though the Python package index can be reached"
}

install_chromium() {
  [ -x /usr/bin/chromium ] && return
  say "apt-get install chromium"
  "${SUDO[@]}" apt-get update -qq >/dev/null 2>&1 || unreachable "the Debian archive" "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq chromium >/dev/null
}

install_jupyterlab() {
  local venv="$CACHE/venv"
  if [ -x "$venv/bin/jupyter-lab" ] && "$venv/bin/jupyter-lab" --version 2>/dev/null | grep -qx "$JUPYTERLAB_VERSION" \
      && "$venv/bin/python" -c "import jupyterlab_widgets" 2>/dev/null; then
    return
  fi
  say "pip install jupyterlab==$JUPYTERLAB_VERSION ipywidgets==$IPYWIDGETS_VERSION in $venv (about 30 s)"
  rm -rf "$venv"
  mkdir -p "$CACHE"
  python3 -m venv "$venv" || broken "python3 -m venv failed (apt-get install python3-venv)"
  pip_install "$venv/bin/python" "ipywidgets==$IPYWIDGETS_VERSION" "jupyterlab==$JUPYTERLAB_VERSION"
  "$venv/bin/jupyter-lab" --version >/dev/null || broken "jupyter-lab does not start"
  # ipywidgets' front end must be one JupyterLab loads
  "$venv/bin/jupyter" labextension list 2>&1 | grep -q "@jupyter-widgets/jupyterlab-manager" \
    || broken "JupyterLab does not list ipywidgets' extension (@jupyter-widgets/jupyterlab-manager)"
}

install_playwright() {
  local python="${PYTHON:-python}"
  "$python" -c "import playwright.sync_api" 2>/dev/null && return
  say "pip install playwright (the Python package only: the test drives /usr/bin/chromium)"
  pip_install "$python" "$PLAYWRIGHT_SPEC"
}

# The kernel is the project's interpreter: it needs the notebook extra (ipykernel, ipywidgets).
check_kernel() {
  local python="${PYTHON:-python}"
  "$python" -c "import ipykernel, ipywidgets, neurodebug.notebook" 2>/dev/null \
    || broken "$python lacks the notebook extra: pip install -e \".[dev]\" (or \".[notebook]\") first"
}

install_chromium
install_jupyterlab
install_playwright
check_kernel
say "ready in $CACHE"
