"""Jump-forward and prompt lookup on the bundled model: the same greedy frames, token for token,
as one forward per token, on a sample of both example suites (benchmarks/frame_speed.py measures
the time on more of them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neurodebug.backends import bundled_model
from neurodebug.session import Session
from tests.sessions import started

pytestmark = pytest.mark.skipif(bundled_model() is None, reason="the bundled model is not installed")

ROOT = Path(__file__).resolve().parents[2]
FRAMES = 6
#: A frame of a small model can run on (a long value): capped, the old way pays one forward per token.
MAX_FRAME_TOKENS = 128


def records():
    """count_char.py and the first record of each example suite of single sources (a project's
    record needs its files on disk: the session's context is built from them)."""
    out = [{"id": "count_char", "code": (ROOT / "examples" / "count_char.py").read_text(), "entry": "count",
            "input": "'strawberry', 'r'"}]
    for suite in sorted((ROOT / "examples" / "suites").glob("*.jsonl")):
        if suite.stem.startswith("calibration"):  # what confidence's map is fitted on, not evaluation suites
            continue
        first = json.loads(suite.read_text().splitlines()[0])
        if "files" not in first:
            out.append(first)
    return out


@pytest.fixture(scope="module")
def runtime():
    from neurodebug.model import load_model

    return load_model(bundled_model())


@pytest.mark.parametrize("rec", records(), ids=lambda r: r["id"])
def test_lookahead_predicts_the_same_frames_in_fewer_forwards(runtime, rec):
    from neurodebug.backends.local import LocalPredictor

    runs = []
    for lookahead in (None, "default"):
        s = started(rec["code"], rec.get("entry"), rec["input"], LocalPredictor.from_runtime(runtime, lookahead=lookahead),
                    run_real=False, max_frame_tokens=MAX_FRAME_TOKENS)
        s.cont(max_frames=FRAMES)
        runs.append((s._frame_ids, s.state.ids, s.speed))
    (old_frames, old_ids, old), (new_frames, new_ids, new) = runs
    assert new_frames == old_frames and new_ids == old_ids
    assert old.frames == new.frames > 0 and old.tokens == new.tokens
    assert old.forwards >= old.tokens - old.frames  # one per token (a frame's last one is computed by the next)
    # fewer forwards for the same tokens, whatever the model: the constraint forces the rest of a
    # line once its start is unique (how many fewer is benchmarks/frame_speed.py's to measure)
    assert new.forwards < old.forwards
