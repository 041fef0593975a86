"""Tracing overhead of neurodebug's tracer, next to PySnooper, measured side by side in one run.

    python benchmarks/tracer.py [--repeat 5]

Both tracers run in this process on the same functions compiled from the same file, and
both do the work of a real trace: at every event they repr every local and write a record
to /dev/null (ours: the JSON line the sandbox child writes to its pipe, through the same
``sandbox.frame_writer``; PySnooper: its text line, to a stream on /dev/null), both cutting values at 1000 characters. Runs are
interleaved (untraced, ours, PySnooper, untraced, ...) and the best of ``--repeat`` is kept,
so machine load affects all three alike. Ratios: traced / untraced, and ours / PySnooper
(below 1 means ours is faster). The last table adds what a user of ``trace_source`` pays
end to end: the child process (start, module, pipe, parent-side parsing) on top.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pysnooper  # noqa: E402

from neurodebug.real.recorder import Recorder  # noqa: E402
from neurodebug.real.sandbox import frame_writer  # noqa: E402
from neurodebug.real.tracer import Limits, trace_source  # noqa: E402

SOURCE = '''
def bubble_sort(xs):
    xs = list(xs)
    n = len(xs)
    for i in range(n):
        for j in range(n - 1 - i):
            if xs[j] > xs[j + 1]:
                xs[j], xs[j + 1] = xs[j + 1], xs[j]
    return xs


def count_primes(limit):
    count = 0
    for n in range(2, limit):
        d = 2
        while d * d <= n:
            if n % d == 0:
                break
            d += 1
        else:
            count += 1
    return count


def word_freq(text):
    counts = {}
    for word in text.split():
        word = word.strip('.,').lower()
        counts[word] = counts.get(word, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])[:3]


def caesar(s, k):
    out = []
    for ch in s:
        if ch.isalpha():
            out.append(chr((ord(ch) - 97 + k) % 26 + 97))
        else:
            out.append(ch)
    return ''.join(out)
'''

CASES = [
    ("bubble_sort", "list(range(60, 0, -1))"),
    ("count_primes", "1500"),
    ("word_freq", "'the cat and the hat. The bat, the rat and a cat ' * 150"),
    ("caesar", "'hello world, the quick brown fox ' * 100, 3"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    tmp = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
    tmp.write(SOURCE)
    tmp.close()
    ns: dict = {"__name__": "bench"}
    exec(compile(SOURCE, tmp.name, "exec"), ns)
    devnull_fd = os.open(os.devnull, os.O_WRONLY)
    devnull = open(os.devnull, "w")
    emit = frame_writer(devnull_fd)

    print(f"Python {sys.version.split()[0]}, PySnooper {pysnooper.__version__}, best of {args.repeat}\n")
    print(f"{'function':14s} {'frames':>7s} {'untraced':>10s} {'ours':>10s} {'PySnooper':>10s}"
          f" {'ours/untr':>10s} {'snoop/untr':>10s} {'ours/snoop':>10s}")
    totals = [0.0, 0.0, 0.0]
    in_process = {}
    for name, call in CASES:
        fn = ns[name]
        argv = eval(f"(lambda *a: a)({call})", ns)
        # same cut as ours (PySnooper's default is 100 characters; it reprs in full either way)
        snooped = pysnooper.snoop(output=devnull, depth=1, max_variable_length=Limits().max_repr)(fn)
        counter = {"n": 0}

        def ours():
            rec = Recorder(tmp.name, emit, max_repr=Limits().max_repr)
            rec.start()
            try:
                fn(*argv)
            finally:
                rec.stop()
            counter["n"] = rec.count

        best = [float("inf")] * 3
        for _ in range(args.repeat):
            for i, run in enumerate((lambda: fn(*argv), ours, lambda: snooped(*argv))):
                t0 = time.perf_counter()
                run()
                best[i] = min(best[i], time.perf_counter() - t0)
        for i in range(3):
            totals[i] += best[i]
        u, o, s = best
        in_process[name] = o
        print(f"{name:14s} {counter['n']:7d} {u * 1e3:8.2f}ms {o * 1e3:8.1f}ms {s * 1e3:8.1f}ms"
              f" {o / u:10.1f} {s / u:10.1f} {o / s:10.2f}")
    u, o, s = totals
    print(f"{'all':14s} {'':7s} {u * 1e3:8.2f}ms {o * 1e3:8.1f}ms {s * 1e3:8.1f}ms"
          f" {o / u:10.1f} {s / u:10.1f} {o / s:10.2f}")

    print("\nEnd to end through trace_source (child process, limits, pipe, Trace built in the parent):")
    limits = Limits(max_frames=10**7, wall_s=120, cpu_s=120)
    for name, call in CASES:
        best = float("inf")
        for _ in range(max(1, args.repeat // 2)):
            t0 = time.perf_counter()
            trace = trace_source(SOURCE, name, call, limits, filename=tmp.name)
            best = min(best, time.perf_counter() - t0)
        assert trace.end.reason == "returned", trace.end
        print(f"{name:14s} {len(trace.frames):7d} frames {best * 1e3:8.1f}ms"
              f"  ({best / in_process[name]:.2f} x ours in-process)")
    os.unlink(tmp.name)


if __name__ == "__main__":
    main()
