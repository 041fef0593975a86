"""Confidence over HTTP, side by side in one run: the top 20 logprobs alone; then asking for the
allowed tokens they leave unnamed one token per request (``HttpPredictor.scores_exactly``, at most
16 of them: a server without ``logprob_token_ids``); then named in one request
(``HttpPredictor.names_tokens``, at most ``http.EXACT_UNNAMED`` = 128: the default); then in up to
8 requests (1024), each against a `neurodebug serve` of the bundled model on 127.0.0.1, and each
frame's confidence against the local backend's.

    python benchmarks/http_confidence.py --records 10 --max-frames 12

Prints, per mode: frames with a confidence, requests, seconds, and the worst gap to the local
backend's confidence (raw probabilities; docs/confidence.md, "Over HTTP").
"""

from __future__ import annotations

import argparse
import time


def frames_of(rec, options, predictor, max_frames: int) -> list:
    from neurodebug.confidence import RAW
    from neurodebug.session import Session

    predictor.calibration = RAW
    s = Session(rec["code"], rec.get("entry") or "f", rec["input"], options, predictor=predictor).start()
    s.cont(max_frames=max_frames)
    return s.frames[1:]  # the call frame is the input


def main(argv=None) -> int:
    from neurodebug.backends import http, make_predictor
    from neurodebug.evaluate import load_suite
    from neurodebug.options import SessionOptions
    from neurodebug.serve.server import make_server

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="examples/suites/humaneval.jsonl")
    ap.add_argument("--records", type=int, default=10)
    ap.add_argument("--max-frames", type=int, default=12, help="each record is predicted with Session.cont(max_frames=N)")
    args = ap.parse_args(argv)
    records = load_suite(args.suite, args.records)
    local_options = SessionOptions(run_real=False)
    local = [frames_of(r, local_options, local_options.make_predictor(), args.max_frames) for r in records]
    server = make_server(make_predictor(None), "127.0.0.1", 0)
    server.start()
    options = SessionOptions(run_real=False, backend="http", url=server.url + "/v1")
    print("| over HTTP | frames with a confidence | requests | seconds | worst gap to local |")
    print("|---|---|---|---|---|")
    modes = (("top 20 alone", False, False, 0), ("and up to 16 unnamed allowed tokens, one to a request", True, False, 0),
             ("and up to 128 unnamed, named in one request (the default)", True, True, http.NAMED_PER_REQUEST),
             ("and up to 1024 unnamed, 128 to a request", True, True, 1024))
    for name, exact, named, unnamed in modes:
        predictor = options.make_predictor()
        predictor.scores_exactly, predictor.names_tokens, http.EXACT_UNNAMED = exact, named, unnamed
        t0 = time.perf_counter()
        remote = [frames_of(r, options, predictor, args.max_frames) for r in records]
        seconds = time.perf_counter() - t0
        pairs = [(a, b) for la, lb in zip(local, remote) for a, b in zip(la, lb)]
        known = [abs(a.confidence - b.confidence) for a, b in pairs
                 if a.confidence is not None and b.confidence is not None]
        print(f"| {name} | {len(known)} of {len(pairs)} | {predictor.client.requests} | {seconds:.0f} | "
              f"{max(known, default=0.0):.1e} |", flush=True)
    return 0


if __name__ == "__main__":
    from neurodebug.errors import UserError

    try:
        raise SystemExit(main())
    except UserError as e:  # a wrong suite path: one sentence, no traceback
        raise SystemExit(f"error: {e}") from None
