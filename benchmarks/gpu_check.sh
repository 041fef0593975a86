#!/usr/bin/env bash
# One command for a machine with one H100/H200: Triton attention and runtime check, < 8 minutes.
# Needs torch and triton only; runs from the repository root without installing the package.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec python benchmarks/gpu_check.py "$@"
