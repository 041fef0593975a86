"""Continue from the real run (Session.take_real): where the prediction and the real run part, the
real frames take the place of the prediction and the model predicts on from there; the
comparison counts divergences per stretch of prediction."""

from __future__ import annotations

import pytest

from neurodebug.errors import UserError
from neurodebug.model.tokenizer import llama3_tokenizer
from neurodebug.real.tracer import trace_source
from tests.dap.conftest import PROGRAM, planted_traces
from tests.replay import ReplayPredictor
from tests.sessions import started


@pytest.fixture(scope="module")
def predictor():
    """First the planted mistake (k is 2, not 1), then the real run: from the real frame on, the
    model can only follow the real run."""
    real = trace_source(PROGRAM, "total", None)
    return ReplayPredictor(llama3_tokenizer(), [planted_traces()[0], real])


def test_taking_the_real_frame_at_the_divergence_predicts_on_from_it(predictor):
    s = started(PROGRAM, "total", None, predictor, seed=0)
    s.cont()
    first = s.view().divergence
    assert first is not None and first.name == "k"  # the model's k is 2
    s.back_to(first.step)
    assert s.current.locals["k"] == "2"
    s.take_real()
    assert s.current.locals["k"] == "1" and s.view().segments()[-1].start == first.step + 1
    s.cont()
    assert s.end.reason == "end_of_text" and s.frames[-1].arg == "8"  # the real run's value, now predicted
    first_stretch, after = s.view().segments()
    # the first stretch: every frame the model wrote, the replaced one included, and where it went wrong
    assert (first_stretch.diverged, first_stretch.first) == (1, first.step)
    assert first_stretch.predicted == first.step  # frames 1..step (the call frame is the input)
    assert (after.start, after.diverged, after.first) == (first.step + 1, 0, None) and after.predicted >= 1
    assert s.view().divergence is None  # overall, what is left matches the real run
    assert s.to_json()["anchors"] == [{"start": first.step + 1, "replaced": 1, "diverged": 1, "first": first.step}]


def test_going_back_before_the_taken_frames_forgets_them(predictor):
    s = started(PROGRAM, "total", None, predictor, seed=0)
    s.cont()
    s.back_to(s.view().divergence.step)
    s.take_real()
    s.back_to(1)
    assert s.anchors == [] and len(s.view().segments()) == 1


def test_without_a_real_run_there_is_nothing_to_take(predictor):
    s = started(PROGRAM, "total", None, predictor, seed=0, run_real=False)
    with pytest.raises(UserError, match="^The real run is off for this session.$"):
        s.take_real()
