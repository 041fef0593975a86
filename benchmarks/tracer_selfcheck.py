"""Does this machine's Python trace as 3.11 does? (The training data depends on it: Python 3.12+
runs comprehensions inline, and the tracer drops those events.) Run first on a GPU machine:

    python benchmarks/tracer_selfcheck.py        # exit 0: the same traces; 1: different
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    from neurodebug.real.tracer import trace_source

    src = (ROOT / "tests" / "neurodebug" / "test_tracer.py").read_text()
    ns: dict = {}  # the test's program and the lines 3.11 gives
    exec(src[src.index("COMPREHENSIONS = ("):src.index("def test_inline_comprehensions_read_as_on_python_311")], ns)
    t = trace_source(ns["COMPREHENSIONS"], "f", "[0, 1, 2]")
    ok = [(f.event, f.line) for f in t.frames] == ns["COMPREHENSION_LINES"]
    print(f"tracer self-check on Python {sys.version.split()[0]}: {'OK' if ok else 'DIFFERENT'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
