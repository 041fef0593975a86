"""Started sessions for the tests: ``Session`` is cheap to build and ``start()`` does the work."""

from __future__ import annotations

from neurodebug.options import SessionOptions
from neurodebug.session import Session


def started(source: str, entry: str | None, call: str | None, predictor, *, path=None, real=None, **options) -> Session:
    """A started Session on ``source`` with ``predictor`` and the SessionOptions ``options``."""
    return Session(source, entry, call, SessionOptions(**options), predictor=predictor, path=path, real=real).start()


def started_file(path, predictor, entry: str | None = None, call: str | None = None, **options) -> Session:
    """A started Session on the file at ``path``."""
    return Session.from_file(path, entry, call, SessionOptions(**options), predictor=predictor).start()


def repaired_record_frames(predictor, max_frames: int = 10) -> list:
    """HumanEval/1's first predicted frames after its call frame, on the model's raw
    probabilities: frames the constraints repair, which the http backend scores exactly from each
    allowed token's logprob (neurodebug/backends/http.py); no real run."""
    from pathlib import Path

    from neurodebug.confidence import RAW
    from neurodebug.evaluate import load_suite

    suite = Path(__file__).resolve().parents[1] / "examples" / "suites" / "humaneval.jsonl"
    rec = next(r for r in load_suite(str(suite)) if r["id"] == "HumanEval/1")
    predictor.calibration = RAW
    s = started(rec["code"], rec["entry"], rec["input"], predictor, run_real=False)
    s.cont(max_frames=max_frames)
    return s.frames[1:]
