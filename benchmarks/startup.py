"""Time to the first predicted frame, side by side with importing torch (issue 22).

Runs, as fresh subprocesses, interleaved (so a busy machine slows both alike), after one untimed
run of each (the page cache warm):

* **import torch**: ``python -c "import torch"``, the floor every torch program pays;
* **predict**: ``python -m neurodebug predict FILE --max-frames 1`` on the bundled model (predict
  never runs the program): imports, the model built and its weights loaded, one frame predicted.

Reported: the median and the fastest wall time of each, and predict's median minus (and over)
import torch's. The goal of issue 22: predict at most 1 s more than importing torch.

    python benchmarks/startup.py [--reps 7] [--file examples/count_char.py] [--frames 1]

neurodebug is imported as installed, or from $PYTHONPATH (e.g. an installed copy of another commit:
``pip install --no-deps --target DIR .`` there, then ``PYTHONPATH=DIR python benchmarks/startup.py``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wall(cmd: list[str], cwd: str) -> float:
    """Seconds the command took, start to exit; raises if it failed."""
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return dt


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=7, help="timed runs of each command (default 7)")
    p.add_argument("--file", default="examples/count_char.py", help="the program to predict")
    p.add_argument("--frames", type=int, default=1, help="--max-frames of predict (default 1)")
    args = p.parse_args(argv)

    file = str((ROOT / args.file).resolve())
    commands = {
        "import torch": [sys.executable, "-c", "import torch"],
        "predict": [sys.executable, "-m", "neurodebug", "predict", file, "--max-frames", str(args.frames)],
    }
    # Run from an empty directory: neurodebug is imported as installed (or from $PYTHONPATH), never
    # from the working directory.
    with tempfile.TemporaryDirectory() as cwd:
        for cmd in commands.values():  # untimed: the files in the page cache, .pyc written
            wall(cmd, cwd)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.reps):
            for name, cmd in commands.items():
                times[name].append(wall(cmd, cwd))

    import neurodebug

    print(f"{args.reps} runs each, interleaved; python {sys.version.split()[0]}; neurodebug from "
          f"{Path(neurodebug.__file__).parent}")
    print(f"{'command':<14} {'median s':>9} {'fastest s':>10}")
    for name, ts in times.items():
        print(f"{name:<14} {statistics.median(ts):>9.2f} {min(ts):>10.2f}")
    base, pred = statistics.median(times["import torch"]), statistics.median(times["predict"])
    print(f"predict - import torch: {pred - base:+.2f} s (median), {min(times['predict']) - min(times['import torch']):+.2f} s"
          f" (fastest); predict / import torch: {pred / base:.2f}x")
    print("  ".join(f"{name}: " + " ".join(f"{t:.2f}" for t in ts) for name, ts in times.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
