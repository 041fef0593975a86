"""What bubblewrap isolation costs a real run, measured side by side in one run.

    python benchmarks/isolation.py [--runs 20]

Each round traces the same two functions end to end (``trace_source``: the child process, its
start, the module, the pipe) once without isolation and once in bubblewrap, alternating which
goes first, so machine load affects both alike. Prints the median seconds per run of each and
their ratio (isolated / not).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from neurodebug.real.isolation import bwrap_problem  # noqa: E402
from neurodebug.real.tracer import Limits, trace_source  # noqa: E402

PROGRAMS = {
    "tiny (2 frames)": ("def f(n):\n    return n + 1\n", "f", "1"),
    "loop (4,003 frames)": ("def spin(n):\n    t = 0\n    for i in range(n):\n        t += i\n    return t\n",
                            "spin", "2000"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    if bwrap_problem():
        sys.exit(f"No isolation to measure here: {bwrap_problem()}.")
    print("| program | no isolation (s/run) | bwrap (s/run) | bwrap / none |")
    print("|---|---|---|---|")
    for name, (src, entry, call) in PROGRAMS.items():
        times = {"none": [], "bwrap": []}
        for r in range(args.runs):
            for mode in (("none", "bwrap") if r % 2 else ("bwrap", "none")):
                t = time.perf_counter()
                trace = trace_source(src, entry, call, Limits(isolation=mode))
                times[mode].append(time.perf_counter() - t)
                assert trace.end.reason == "returned", trace.end
        none, bwrap = statistics.median(times["none"]), statistics.median(times["bwrap"])
        print(f"| {name} | {none:.3f} | {bwrap:.3f} | {bwrap / none:.2f}x |")


if __name__ == "__main__":
    main()
