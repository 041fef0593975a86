#!/usr/bin/env bash
# Train the bundled model on one GPU (the recipe of neurodebug/train.py, sized for ~6 minutes).
#
#   OUT=/some/dir bash benchmarks/train_gpu.sh        # checkpoint -> $OUT/ckpt
#
# Data is generated on the machine's CPU cores while the GPU trains (streaming), with the
# tokenizer of the shipped model (neurodebug/bundled/tokenizer.json), so the result can replace
# the files in neurodebug/bundled/. Settings can be overridden: MINUTES, SIZE, JOBS, DEVICE,
# BATCH_TOKENS, LR, EXTRA (more train.py arguments).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/neurodebug_gpu}
MINUTES=${MINUTES:-6}
SIZE=${SIZE:-large}
DEVICE=${DEVICE:-cuda}
JOBS=${JOBS:-$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))}
BATCH_TOKENS=${BATCH_TOKENS:-65536}
LR=${LR:-1.5e-3}
WORK=${WORK:-/tmp/neurodebug_gpu_work}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
rm -rf "$WORK" "$OUT/ckpt"
mkdir -p "$OUT/ckpt"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
python -c "import sys, torch, tokenizers, safetensors; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"
python -m neurodebug.train --device "$DEVICE" --minutes "$MINUTES" --jobs "$JOBS" --size "$SIZE" \
    --tokenizer neurodebug/bundled/tokenizer.json --out "$OUT/ckpt" --work "$WORK" \
    --batch-tokens "$BATCH_TOKENS" --lr "$LR" --warmup 300 --eval-every 500 --programs 3000000 \
    --threads 2 ${EXTRA:-}
cp "$WORK/log.txt" "$OUT/ckpt/train_log.txt"
cp "$WORK/train_info.json" "$OUT/ckpt/train_info.json"
ls -la "$OUT/ckpt"
cat "$OUT/ckpt/train_log.txt"
