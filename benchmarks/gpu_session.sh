#!/usr/bin/env bash
# Everything one lent GPU session is for, in one call (the device time includes the machine's start):
#
#   OUT=$OUT TRAIN_MINUTES=5 CHECK_BUDGET=220 bash benchmarks/gpu_session.sh
#
# (SKIP_TRAIN=1 or SKIP_CHECK=1 leave out step 2 or 3: two calls when one would pass the tool's
# 10-minute limit.)
#
# 1. the tracer on this machine's Python gives the traces 3.11 gives (the training data depends
#    on it: Python 3.12+ runs comprehensions inline);
# 2. benchmarks/train_gpu.sh: trains the bundled model, fine-tuning the shipped one (INIT) on data
#    style STYLE (default 2: style 1 plus 30% exercise-style programs with traces up to 120
#    frames, so sequences up to MAX_LEN=2048 tokens), no
#    evaluation here (the evaluation runs on a CPU afterwards, where users run the model);
# 3. benchmarks/gpu_check.sh: the Triton kernels and the runtime at CWM-32B's shapes.
# Output: $OUT/ckpt/ (the new checkpoint + train_log.txt) and $OUT/gpu_check.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
OUT=${OUT:-/tmp/neurodebug_gpu}
mkdir -p "$OUT"
T0=$(date +%s)
python benchmarks/tracer_selfcheck.py || echo "tracer self-check failed"
if [ "${SKIP_TRAIN:-0}" != "1" ]; then
    OUT="$OUT" MINUTES="${TRAIN_MINUTES:-5}" EVAL_SECONDS=0 \
        EXTRA="--init ${INIT:-neurodebug/bundled} --warmup ${WARMUP:-200} --eval-every 500 --style ${STYLE:-2} --max-len ${MAX_LEN:-2048} ${TRAIN_EXTRA:-}" \
        LR="${LR:-1e-3}" timeout "$(python -c "print(int(${TRAIN_MINUTES:-5} * 60 + 90))")" bash benchmarks/train_gpu.sh 2>&1 \
        | grep -v "^\s*$" | tail -40 || echo "training failed or timed out"
    cp /tmp/neurodebug_gpu_work/train_info.json "$OUT/ckpt/" 2>/dev/null || true
fi
echo "[gpu_session] training done after $(( $(date +%s) - T0 )) s"
[ "${SKIP_CHECK:-0}" = "1" ] && exit 0
timeout $(( ${CHECK_BUDGET:-220} + 30 )) bash benchmarks/gpu_check.sh --budget "${CHECK_BUDGET:-220}" \
    --out "$OUT/gpu_check.txt" 2>&1 | tail -60
echo "[gpu_session] all done after $(( $(date +%s) - T0 )) s"
