#!/usr/bin/env bash
# Issue #25 on one lent GPU, in one call: build the extended corpus, fine-tune the shipped model on
# it, fit the new checkpoint's calibration map, and evaluate it on the suites.
#
#   OUT=$OUT TRAIN_MINUTES=6 bash benchmarks/gpu_projects.sh      # on the GPU machine (about 12 minutes)
#   DRY_RUN=1 OUT=/tmp/gpu_projects bash benchmarks/gpu_projects.sh  # the same steps, tiny, on a CPU
#
# 1. the tracer on this machine's Python gives the traces 3.11 gives (the data depends on it);
# 2. `neurodebug corpus` with every kind (functions, built-ins, methods, call sequences, several
#    files, tests), on all cores; its held-out packages and calibration split stay out of training;
# 3. generated programs of the shipped model's data styles (1 and 2), so as not to lose the
#    synthetic suite while learning real code;
# 4. `neurodebug train --init neurodebug/bundled` on both, on the GPU, for TRAIN_MINUTES, with the
#    held-out packages' loss and frame accuracy in its log at each evaluation;
# 5. the fine-tune interpolated halfway back to the weights it started from (WEIGHT, default 0.5:
#    neurodebug/training/interpolate.py, as the bundled model was made) into $OUT/model;
# 6. that model's calibration map (benchmarks/confidence_calibration.py on the corpus's
#    calibration split), written into it as calibration.json, and checked on the calibration
#    packages;
# 7. `neurodebug eval` of it on every suite, each stage under EVAL_SECONDS.
# The shipped model is evaluated with the same eval command on the CPU beforehand (the shipping
# rule compares both on full suites: docs/bundled-model.md); $OUT/model comes back as the result
# ($OUT/ckpt is the fine-tune alone).
# Every stage prints its time; a stage that fails says so and the later ones still run.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
OUT=${OUT:-/tmp/neurodebug_gpu_projects}
DRY_RUN=${DRY_RUN:-0}
JOBS=${JOBS:-$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))}
if [ "$DRY_RUN" = "1" ]; then
    DEVICE=${DEVICE:-cpu}
    CORPUS_ARGS="--packages toolz --heldout inflection --stdlib textwrap --builtins 25 --per-function 2 --tries 6"
    SYNTH=30; TRAIN="--steps 2 --batch-tokens 4096 --eval-every 1 --heldout-programs 4 --heldout-max 4 --threads 1"
    CAL_LIMIT=2; EVAL="--limit 3"; JOBS=1
else
    DEVICE=${DEVICE:-cuda}
    CORPUS_ARGS=""
    SYNTH=${SYNTH:-20000}
    TRAIN="--minutes ${TRAIN_MINUTES:-6} --batch-tokens ${BATCH_TOKENS:-65536} --eval-every 200 --heldout-programs 100 --heldout-max 200 --threads 2"
    CAL_LIMIT=${CAL_LIMIT:-200}; EVAL="--jobs ${EVAL_JOBS:-12} --time-limit ${EVAL_SECONDS:-60}"
fi
rm -rf "$OUT" && mkdir -p "$OUT"
T0=$(date +%s)
stage() { echo "[gpu_projects] $1 after $(( $(date +%s) - T0 )) s"; }

nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
python benchmarks/tracer_selfcheck.py || echo "[gpu_projects] tracer self-check failed"
stage "self-check done"

# shellcheck disable=SC2086  # the argument lists are meant to split
python -m neurodebug corpus --out "$OUT/corpus" --kinds function builtins method sequence multi-file test \
    --jobs "$JOBS" $CORPUS_ARGS > "$OUT/corpus.log" 2>&1 || echo "[gpu_projects] corpus failed"
tail -12 "$OUT/corpus.log"
stage "corpus built"

python -m neurodebug.training.datagen --seed 3 --programs "$SYNTH" --style 1 --jobs "$JOBS" --out "$OUT/synth_s1.jsonl" \
    || echo "[gpu_projects] style-1 programs failed"
python -m neurodebug.training.datagen --seed 0 --programs "$SYNTH" --style 2 --jobs "$JOBS" --out "$OUT/synth_s2.jsonl" \
    || echo "[gpu_projects] style-2 programs failed"
stage "programs generated"

# shellcheck disable=SC2086
python -m neurodebug train --out "$OUT/ckpt" --work "$OUT/work" --size large --init neurodebug/bundled \
    --tokenizer neurodebug/bundled/tokenizer.json --device "$DEVICE" --style 0 --max-len 1536 \
    --lr "${LR:-5e-4}" --warmup "${WARMUP:-100}" --seed 7 --quiet \
    --data "$OUT/corpus/train.jsonl" "$OUT/synth_s1.jsonl" "$OUT/synth_s2.jsonl" \
    --heldout-data "$OUT/corpus/heldout.jsonl" $TRAIN || echo "[gpu_projects] training failed"
cp "$OUT/work/log.txt" "$OUT/ckpt/train_log.txt" 2>/dev/null
tail -25 "$OUT/ckpt/train_log.txt" 2>/dev/null
stage "trained"

python -m neurodebug.training.interpolate neurodebug/bundled "$OUT/ckpt" "$OUT/model" --weight "${WEIGHT:-0.5}" \
    || echo "[gpu_projects] interpolation failed"
stage "interpolated"

python benchmarks/confidence_calibration.py collect "$OUT/corpus/calibration.jsonl" --limit "$CAL_LIMIT" \
    --model "$OUT/model" --device "$DEVICE" --out "$OUT/calibration.frames.jsonl" \
    && python benchmarks/confidence_calibration.py fit "$OUT/calibration.frames.jsonl" \
        --fitted-on "$CAL_LIMIT records of the corpus's calibration.jsonl" --write "$OUT/model/calibration.json" \
    || echo "[gpu_projects] calibration failed"
stage "calibration map fitted"

# the map on packages no model read (docs/confidence.md, "A check on packages no model read")
python benchmarks/confidence_calibration.py collect examples/suites/calibration_packages.jsonl --limit "$CAL_LIMIT" \
    --model "$OUT/model" --device "$DEVICE" --out "$OUT/calibration_packages.frames.jsonl" \
    && python benchmarks/confidence_calibration.py check "$OUT/calibration_packages.frames.jsonl" --model "$OUT/model" \
    || echo "[gpu_projects] the check of the map failed"
stage "calibration map checked"

for suite in real_heldout humaneval projects synthetic_heldout; do
    # shellcheck disable=SC2086
    python -m neurodebug eval "examples/suites/$suite.jsonl" --model "$OUT/model" --device "$DEVICE" --threads 1 \
        --json $EVAL > "$OUT/eval_$suite.json" 2> "$OUT/eval_$suite.err" || echo "[gpu_projects] eval of $suite failed"
    python - "$OUT/eval_$suite.json" <<'PY' || true
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
m = s["model"]
print(sys.argv[1], s["scored"], "records; free", json.dumps(m["free"]), "teacher-forced", json.dumps(m["teacher_forced"]))
PY
    stage "$suite evaluated"
done
ls -la "$OUT/model"
