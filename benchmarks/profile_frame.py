"""Where the time of one predicted frame goes: cProfile of a debugger session on the bundled model.

Steps through ``examples/count_char.py`` (greedy, every constraint on, one torch thread) and sums
cProfile's own time (tottime) per part:

* torch kernels: the time spent inside torch's C++ operators (linear, attention, norms, ...);
* torch dispatch + modules: the Python of ``torch.nn`` (Module.__call__, F.*) around them;
* the model's Python: ``model/`` (the transformer's forward, the cache, the decoding loop);
* the constraint: ``neurodebug.constrain`` and ``neurodebug.flow``;
* codec + tokenizer: parsing frames and decoding tokens (``neurodebug.codec``, ``model/tokenizer.py``);
* the rest (session, Python builtins).

Both decoding loops side by side in one run: one forward per token (``lookahead=None``) and the
default (jump-forward + prompt lookup, ``model/lookahead.py``).

    python benchmarks/profile_frame.py [--frames 20] [--top 12]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PARTS = ("torch kernels", "torch dispatch + modules", "model's Python", "constraint", "codec + tokenizer", "rest")


def part_of(filename: str, name: str) -> str:
    """The part of a profile entry (see the module docstring)."""
    f = filename.replace("\\", "/")
    if f == "~":  # a builtin: torch's C++ operators show up as built-in methods of torch
        return "torch kernels" if ("torch" in name or "Tensor" in name) else "rest"
    if "/torch/" in f:
        return "torch dispatch + modules"
    if "/model/tokenizer.py" in f or "/neurodebug/codec" in f or "tiktoken" in f or "tokenizers" in f:
        return "codec + tokenizer"
    if "/model/" in f:
        return "model's Python"
    if "/neurodebug/constrain" in f or "/neurodebug/flow" in f or "/constrain/flow" in f:
        return "constraint"
    return "rest"


def profile(predictor, path: str, frames: int):
    from neurodebug.session import Session

    s = Session.from_file(path, predictor=predictor).start()
    s.step()  # warm: the constraint's tables, the first frame
    n0, f0, t0 = len(s.frames), s.state.forwards, len(s.state)
    prof = cProfile.Profile()
    start = time.perf_counter()
    prof.enable()
    s.cont(max_frames=frames)
    prof.disable()
    wall = time.perf_counter() - start
    n = len(s.frames) - n0
    sums = dict.fromkeys(PARTS, 0.0)
    stats = pstats.Stats(prof)
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        sums[part_of(filename, name)] += tottime
    return n, wall, (s.state.forwards - f0) / n, (len(s.state) - t0) / n, sums, stats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--file", default=str(ROOT / "examples" / "count_char.py"))
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--top", type=int, default=0, help="also print the top N functions by own time")
    args = ap.parse_args()

    import torch
    from neurodebug.model import load_model

    from neurodebug.backends import bundled_model
    from neurodebug.backends.local import LocalPredictor

    torch.set_num_threads(1)
    runtime = load_model(bundled_model())
    print(f"bundled model, {Path(args.file).name}, {args.frames} frames, torch threads {torch.get_num_threads()}")
    for label, lookahead in (("one forward per token", None), ("jump-forward + prompt lookup", "default")):
        n, wall, fwd, tok, sums, stats = profile(LocalPredictor.from_runtime(runtime, lookahead=lookahead),
                                                 args.file, args.frames)
        total = sum(sums.values())
        print(f"\n{label}: {1000 * wall / n:.0f} ms/frame (under cProfile), {tok:.1f} tokens/frame, "
              f"{fwd:.2f} forwards/frame, {1000 * wall / n / fwd:.1f} ms/forward")
        for part in PARTS:
            print(f"  {part:26s} {1000 * sums[part] / n:7.1f} ms/frame  {100 * sums[part] / total:5.1f} %")
        if args.top:
            stats.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
