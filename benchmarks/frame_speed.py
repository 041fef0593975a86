"""Predicted frames per forward: one forward per token against jump-forward + prompt lookup.

For a sample of records of both example suites (``examples/suites/*.jsonl``), a debugger session
on the bundled model predicts up to ``--frames`` frames twice, greedy with every constraint on:
once with one forward per token (``LocalPredictor(lookahead=None)``, what every earlier version
did) and once with the default lookahead (``model/lookahead.py``). The two runs of a record
come one after the other on one loaded runtime, so a busy machine slows both alike. The frames
must be identical token for token (the script stops with an error otherwise); reported per
suite and overall: ms per frame, forwards per frame, tokens per frame, and the ratios.

    python benchmarks/frame_speed.py [--records 8] [--frames 30] [--max-frame-tokens 512] [--suite PATH ...]
    python benchmarks/frame_speed.py --confidence ...

``--records N`` takes N records spread evenly over each suite (0: all of them). ``--confidence``:
both runs use the default lookahead, the first without frames' confidence (the state gives no
log-probabilities), the second with it (``neurodebug.confidence``), the frames again identical.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def sample(records: list[dict], n: int) -> list[dict]:
    """n records spread evenly over the list (all when n is 0 or more than there are)."""
    if n <= 0 or n >= len(records):
        return records
    return [records[i * len(records) // n] for i in range(n)]


def predict(runtime, rec: dict, lookahead, frames: int, max_frame_tokens: int, confidence: bool = True):
    """(frame token ids, seconds, forwards, tokens, CPU seconds) of up to ``frames`` predicted
    frames of one record, or None when the debugger cannot open it. CPU seconds: what this
    process ran meanwhile (on a busy machine the wall time also counts waiting for a core)."""
    from neurodebug.backends.local import LocalPredictor
    from neurodebug.errors import UserError
    from neurodebug.options import SessionOptions
    from neurodebug.session import Session

    p = LocalPredictor.from_runtime(runtime, lookahead=lookahead)
    try:
        options = SessionOptions(run_real=False, max_frame_tokens=max_frame_tokens)
        s = Session(rec["code"], rec.get("entry"), rec.get("input"), options, predictor=p).start()
    except UserError:
        return None
    if not confidence:
        s.state.gives_logprobs = False  # the session then asks for no log-probabilities
    n0, f0, t0 = len(s.frames), s.state.forwards, len(s.state)
    start, cpu = time.perf_counter(), time.process_time()
    s.cont(max_frames=frames)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    got = [list(ids) for ids, i in zip(s._frame_ids[n0:], range(n0, len(s.frames))) if i not in s._forced]
    return got, seconds, s.state.forwards - f0, len(s.state) - t0, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", nargs="*", default=sorted(str(p) for p in (ROOT / "examples" / "suites").glob("*.jsonl")))
    ap.add_argument("--records", type=int, default=8, help="records per suite, spread evenly (0: all)")
    ap.add_argument("--frames", type=int, default=30, help="frames predicted per record")
    ap.add_argument("--max-frame-tokens", type=int, default=512,
                    help="a frame's token cap, as neurodebug eval has it (a runaway frame costs the old way a forward per token)")
    ap.add_argument("--confidence", action="store_true",
                    help="compare confidence off (old) and on (new), both with the default lookahead")
    args = ap.parse_args()

    import torch
    from neurodebug.model import load_model
    from neurodebug.model.lookahead import DEFAULT

    from neurodebug.backends import bundled_model

    torch.set_num_threads(1)
    runtime = load_model(bundled_model())
    print(f"bundled model; torch threads {torch.get_num_threads()}; {args.records or 'all'} records per suite, "
          f"up to {args.frames} frames each (frames capped at {args.max_frame_tokens} tokens); new = {DEFAULT}"
          + ("; old = the same without confidence, new = with it" if args.confidence else ""))
    labels = ("confidence off", "confidence on") if args.confidence else ("one forward per token", "lookahead")
    print(f"load average {os.getloadavg()[0]:.1f} at the start")
    total = {"old": [0, 0.0, 0, 0, 0.0], "new": [0, 0.0, 0, 0, 0.0]}  # frames, seconds, forwards, tokens, CPU seconds
    for suite in args.suite:
        records = [json.loads(line) for line in Path(suite).read_text().splitlines() if line.strip()]
        chosen = sample(records, args.records)
        acc = {"old": [0, 0.0, 0, 0, 0.0], "new": [0, 0.0, 0, 0, 0.0]}
        for rec in chosen:
            if args.confidence:
                old = predict(runtime, rec, DEFAULT, args.frames, args.max_frame_tokens, confidence=False)
            else:
                old = predict(runtime, rec, None, args.frames, args.max_frame_tokens)
            new = predict(runtime, rec, DEFAULT, args.frames, args.max_frame_tokens)
            if old is None or new is None:
                continue
            if old[0] != new[0]:
                raise SystemExit(f"{rec.get('id')}: the frames differ between the two decoding loops")
            for key, (frames, seconds, forwards, tokens, cpu) in (("old", old), ("new", new)):
                for a in (acc[key], total[key]):
                    a[0] += len(frames)
                    a[1] += seconds
                    a[2] += forwards
                    a[3] += tokens
                    a[4] += cpu
        report(Path(suite).name, len(chosen), acc, labels)
    report("all suites", None, total, labels)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


def report(name: str, n_records: int | None, acc: dict, labels: tuple[str, str]) -> None:
    (fo, so, wo, to, co), (fn, sn, wn, tn, cn) = acc["old"], acc["new"]
    if not fo or not fn:
        print(f"{name}: no frames")
        return
    head = f"{name}" + (f" ({n_records} records)" if n_records is not None else "") + f": {fo} frames, identical token for token"
    print(head)
    print(f"  {'':24s} {'ms/frame':>9s} {'CPU ms/frame':>13s} {'forwards/frame':>15s} {'tokens/frame':>13s} "
          f"{'forwards/token':>15s}")
    for label, (f, s, w, t, c) in ((labels[0], (fo, so, wo, to, co)), (labels[1], (fn, sn, wn, tn, cn))):
        print(f"  {label:24s} {1000 * s / f:9.1f} {1000 * c / f:13.1f} {w / f:15.2f} {t / f:13.1f} {w / t:15.3f}")
    print(f"  ratio old/new: time x{so / sn:.2f}, CPU time x{co / cn:.2f}, forwards x{wo / wn:.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
