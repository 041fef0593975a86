"""The debug adapter's cost, measured side by side in one run (ratios, not absolute speed).

1. A step forward over DAP (stepIn, the stopped event, then what a debugger UI asks for at every
   stop: stackTrace, scopes, the predicted variables) against ``Session.step()`` called directly
   on the same model, frame for frame the same trace (greedy decoding).
2. A step back over DAP (stepBack and the same UI requests) against a step forward over DAP: the
   session cuts the model's cache back instead of recomputing.

The adapter is the real command editors start (``python -P -m neurodebug dap``) over stdio; the
model is the bundled one (or --model).

    python benchmarks/dap.py [--model PATH] [--steps 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CALL = "total([3, 4], {'a': 1})"


def direct_steps(path: str, model: str | None, steps: int) -> list[float]:
    from neurodebug.backends import make_predictor
    from neurodebug.session import Session

    session = Session.from_file(path, call=CALL, predictor=make_predictor(model)).start()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        session.step()
        times.append(time.perf_counter() - t)
    return times


def dap_steps(path: str, model: str | None, steps: int) -> tuple[list[float], list[float]]:
    from tests.dap.client import DapClient

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    client = DapClient.spawn([sys.executable, "-P", "-m", "neurodebug", "dap"], env=env, cwd=tempfile.gettempdir())
    try:
        client.ok("initialize", {"adapterID": "neurodebug"})
        config = {"program": path, "call": CALL, "compare": False} | ({"model": model} if model else {})
        launch = client.start("launch", config)
        client.event("initialized")
        client.ok("configurationDone")
        assert client.response(launch, timeout=300)["success"]
        client.event("stopped", timeout=300)

        def timed(command: str) -> float:
            t = time.perf_counter()
            client.ok(command, {"threadId": 1})
            client.event("stopped", timeout=300)
            frame = client.ok("stackTrace", {"threadId": 1})["stackFrames"][0]["id"]
            scope = client.ok("scopes", {"frameId": frame})["scopes"][-2]  # Predicted (a return adds one first)
            client.ok("variables", {"variablesReference": scope["variablesReference"]})
            return time.perf_counter() - t

        forward = [timed("stepIn") for _ in range(steps)]
        back = [timed("stepBack") for _ in range(steps)]
        client.ok("disconnect", {})
        return forward, back
    finally:
        client.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="checkpoint directory (default: the bundled model)")
    ap.add_argument("--steps", type=int, default=8, help="steps timed each way")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        from tests.dap.conftest import PROGRAM  # a loop and a callee: stepIn enters it

        path = str(Path(tmp) / "total.py")
        Path(path).write_text(PROGRAM, encoding="utf-8")
        direct = direct_steps(path, args.model, args.steps)
        forward, back = dap_steps(path, args.model, args.steps)
    med = {name: statistics.median(v) * 1000 for name, v in
           (("Session.step()", direct), ("DAP stepIn + UI requests", forward), ("DAP stepBack + UI requests", back))}
    print(f"{args.steps} steps of {CALL}, model: {args.model or 'bundled'}; median ms per step")
    for name, ms in med.items():
        print(f"  {name:<28} {ms:8.1f} ms")
    print(f"  DAP step / direct step       {med['DAP stepIn + UI requests'] / med['Session.step()']:8.2f}x")
    print(f"  DAP step back / step forward {med['DAP stepBack + UI requests'] / med['DAP stepIn + UI requests']:8.3f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
