"""A predicted value's alternatives (neurodebug.alternatives) on the bundled model: the value the
model wrote is among them with the confidence its frame gives it (both through the model's value
map), they are ranked, and under the map lies the model's own distribution; the sentences for
what has none."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from neurodebug import Session, SessionOptions
from neurodebug.backends import bundled_model
from neurodebug.confidence import RAW, Calibration
from neurodebug.errors import UserError

COUNT_CHAR = Path(__file__).resolve().parents[2] / "examples" / "count_char.py"


@pytest.fixture(scope="module")
def session():
    """count('strawberry', 'r') on the bundled model, unconstrained and greedy: the probabilities
    decoding used are the model's own, the ones alternatives are ranked by."""
    options = SessionOptions(seed=0, constrain=False, max_frames=8, run_real=False)
    predictor = options.make_predictor()
    predictor.calibration = RAW  # the model's own probabilities (the map: test_the_value_map_puts_...)
    s = Session.from_file(COUNT_CHAR, None, None, options, predictor=predictor).start()
    s.cont(6)
    return s


def test_the_written_value_is_an_alternative_with_its_own_probability(session):
    checked = 0
    for i, f in enumerate(session.frames):
        for name, p in (f.locals_confidence or {}).items():
            alts = session.alternatives(i, name)
            assert alts == sorted(alts, key=lambda a: -a.probability) and len(alts) <= 3
            assert sum(a.probability for a in alts) <= 1 + 1e-6
            written = {a.value: a.probability for a in alts}
            assert f.locals[name] in written, (i, name, alts)
            # the same tokens, up to the last: a frame's token that closes the value may also close
            # the object ('"} against '" and more locals), a choice the value alone does not make
            assert written[f.locals[name]] == pytest.approx(p, abs=0.02)
            checked += 1
    assert checked >= 2


def test_the_value_map_puts_alternatives_on_the_scale_of_confidence(session):
    """With the bundled model's calibration map, each alternative reads as a value's confidence
    does: the map of the model's own probability, in the same order."""
    bundled = Calibration.load(bundled_model())
    assert bundled.value is not None
    i, name = next((i, n) for i, f in enumerate(session.frames) for n in f.locals_confidence or {})
    raw = session.alternatives(i, name)
    session.predictor.calibration = bundled
    try:
        mapped = session.alternatives(i, name)
    finally:
        session.predictor.calibration = RAW
    assert [a.value for a in mapped] == [a.value for a in raw]
    assert [a.probability for a in mapped] == pytest.approx([bundled.value_confidence(math.log(a.probability))
                                                             for a in raw])


def test_what_has_no_alternatives_says_why(session):
    with pytest.raises(UserError, match="^Step 1 was written by the session"):
        session.alternatives(0, "s")
    with pytest.raises(UserError, match="^Step 2 has no local nope.$"):
        session.alternatives(1, "nope")
    unchanged = next(i for i, f in enumerate(session.frames) if f.event == "line" and "s" in f.locals and i > 0)
    with pytest.raises(UserError, match=r"writes s as unchanged \(\.\.\)"):
        session.alternatives(unchanged, "s")
