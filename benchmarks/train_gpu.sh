#!/usr/bin/env bash
# Train the bundled model on one GPU (the recipe of neurodebug/training/train.py, sized for ~6 minutes).
#
#   OUT=/some/dir bash benchmarks/train_gpu.sh        # checkpoint -> $OUT/ckpt
#
# Data is generated on the machine's CPU cores while the GPU trains (streaming), with the
# tokenizer of the shipped model (neurodebug/bundled/tokenizer.json), so the result can replace
# the files in neurodebug/bundled/. Settings can be overridden: MINUTES, SIZE, JOBS, DEVICE,
# BATCH_TOKENS, LR, EXTRA (more train.py arguments), EVAL_SECONDS (per suite; 0 skips the
# evaluation), EVAL_JOBS, EVAL_EXTRA.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/neurodebug_gpu}
MINUTES=${MINUTES:-5}
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
python -m neurodebug.training.train --device "$DEVICE" --minutes "$MINUTES" --jobs "$JOBS" --size "$SIZE" \
    --tokenizer neurodebug/bundled/tokenizer.json --out "$OUT/ckpt" --work "$WORK" \
    --batch-tokens "$BATCH_TOKENS" --lr "$LR" --warmup 300 --eval-every 500 --programs 3000000 --max-len 1536 \
    --threads 2 ${EXTRA:-}
cp "$WORK/log.txt" "$OUT/ckpt/train_log.txt"
ls -la "$OUT/ckpt"
cat "$OUT/ckpt/train_log.txt"

# The new checkpoint on both suites (records finished within EVAL_SECONDS each), as JSON.
EVAL_SECONDS=${EVAL_SECONDS:-80}
EVAL_JOBS=${EVAL_JOBS:-12}
if [ "$EVAL_SECONDS" != "0" ]; then
    for suite in synthetic_heldout humaneval; do
        python -m neurodebug eval "examples/suites/$suite.jsonl" --model "$OUT/ckpt" --device "$DEVICE" \
            --jobs "$EVAL_JOBS" --threads 1 --time-limit "$EVAL_SECONDS" --json ${EVAL_EXTRA:-} \
            > "$OUT/eval_$suite.json" || echo "eval of $suite failed"
        python -c "import json,sys; d=json.load(open(sys.argv[1]))['summary']; print(sys.argv[1], json.dumps({k: d[k] for k in ('scored', 'skipped', 'not_reached', 'model', 'baseline')}))" "$OUT/eval_$suite.json" || true
    done
fi
