"""Time to the first predicted frame, side by side with importing torch (issue 22).

Runs, as fresh subprocesses, interleaved (so a busy machine slows each alike), after one untimed
run of each (the page cache warm, .pyc files written):

* **import torch**: ``python -c "import torch"``, the floor every torch program pays;
* **predict**: ``python -m neurodebug predict FILE --max-frames 1`` on the bundled model (predict
  never runs the program): imports, the model built and its weights loaded, one frame predicted;
* with ``--site DIR`` (repeatable), **predict DIR**: the same with ``PYTHONPATH=DIR``, e.g. an
  installed copy of another commit, for a before/after in one run:

      git archive BEFORE | tar -x -C /tmp/before
      pip install --no-deps --no-build-isolation --target /tmp/before-site /tmp/before

Reported per command: the median and the fastest wall time, and the median CPU time (user + system
of the child: what it ran, not the time it waited for a core on a busy machine); then each
predict's median minus (and over) import torch's. Issue 22's goal: predict at most 1 s more than
importing torch.

    python benchmarks/startup.py [--reps 7] [--file examples/count_char.py] [--frames 1] [--site DIR ...]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_once(cmd: list[str], cwd: str, env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds) the command took, start to exit; raises if it failed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=7, help="timed runs of each command (default 7)")
    p.add_argument("--file", default="examples/count_char.py", help="the program to predict")
    p.add_argument("--frames", type=int, default=1, help="--max-frames of predict (default 1)")
    p.add_argument("--site", action="append", default=[], metavar="DIR",
                   help="also time predict with PYTHONPATH=DIR (an installed copy of another commit)")
    args = p.parse_args(argv)

    file = str((ROOT / args.file).resolve())
    predict = [sys.executable, "-m", "neurodebug", "predict", file, "--max-frames", str(args.frames)]
    env = dict(os.environ)
    commands = {"import torch": ([sys.executable, "-c", "import torch"], env), "predict": (predict, env)}
    for site in args.site:
        site = str(Path(site).resolve())
        commands[f"predict {site}"] = (predict, dict(env, PYTHONPATH=site))
    # From an empty directory: neurodebug is imported as installed (or from PYTHONPATH), never from
    # the working directory.
    with tempfile.TemporaryDirectory() as cwd:
        for cmd, e in commands.values():
            run_once(cmd, cwd, e)
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.reps):
            for name, (cmd, e) in commands.items():
                w, c = run_once(cmd, cwd, e)
                walls[name].append(w)
                cpus[name].append(c)

    import neurodebug

    where = os.environ.get("PYTHONPATH") or str(Path(neurodebug.__file__).parent)
    print(f"{args.reps} runs each, interleaved; python {sys.version.split()[0]}; predict: neurodebug from {where}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    width = max(len(n) for n in commands)
    print(f"{'command':<{width}}  {'median s':>8}  {'fastest s':>9}  {'CPU s':>5}")
    for name in commands:
        print(f"{name:<{width}}  {statistics.median(walls[name]):>8.2f}  {min(walls[name]):>9.2f}  "
              f"{statistics.median(cpus[name]):>5.2f}")
    base = statistics.median(walls["import torch"])
    for name in commands:
        if name != "import torch":
            med = statistics.median(walls[name])
            print(f"{name} - import torch: {med - base:+.2f} s (median wall), "
                  f"{min(walls[name]) - min(walls['import torch']):+.2f} s (fastest), "
                  f"{statistics.median(cpus[name]) - statistics.median(cpus['import torch']):+.2f} s (median CPU); "
                  f"{med / base:.2f}x")
    for name in commands:
        print(f"  {name}: wall " + " ".join(f"{t:.2f}" for t in walls[name]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
