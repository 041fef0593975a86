"""One view of a session for every front end, and one rule for what a step changed."""

from __future__ import annotations

import copy
import textwrap

import pytest

from neurodebug.errors import UserError
from neurodebug.real.tracer import trace_source
from neurodebug.session import Session
from neurodebug.trace.frames import changed_names, changed_since, wire_locals
from neurodebug.view import SessionView
from tests.replay import ReplayPredictor
from tests.sessions import started

SOURCE = textwrap.dedent('''
    def add(a, b):
        y = a
        y = y + b
        return y


    def f(n):
        t = add(n, 2)
        try:
            q = 1 // (n - n)
        except ZeroDivisionError:
            q = 0
        return t + q
''').lstrip()


@pytest.fixture(scope="module")
def real():
    return trace_source(SOURCE, "f", "3")


@pytest.fixture(scope="module")
def tokenizer():
    from neurodebug.model.tokenizer import llama3_tokenizer

    return llama3_tokenizer()


def test_a_step_changes_what_differs_from_the_previous_step_of_its_call(real):
    fr = real.frames
    events = [(f.event, f.line, f.depth) for f in fr]
    assert events[:8] == [("call", 7, 0), ("line", 8, 0), ("call", 1, 1), ("line", 2, 1), ("line", 3, 1),
                          ("line", 4, 1), ("return", 4, 1), ("line", 9, 0)]
    changed = [changed_names(fr, i) for i in range(len(fr))]
    assert changed[0] == {"n"}  # a call frame's arguments are new
    assert changed[3] == set() and changed[4] == {"y"}
    assert changed[6] == set()  # a return frame holds no locals
    # back in f after add() returned: only t changed; the wire writes n in full there all the same
    assert changed[7] == {"t"} and wire_locals(fr)[7] == {"n": "3", "t": "5"}
    # after the exception caught in f, q = 0 changed q only (an in-frame exception is no scope change)
    exc = next(i for i, f in enumerate(fr) if f.event == "exception")
    after = next(i for i in range(exc + 1, len(fr)) if fr[i].line == 12)
    assert changed[exc] == set() and changed[after + 1] == {"q"}


def test_changed_since_compares_two_frames(real):
    fr = real.frames
    assert changed_since(None, fr[0]) == {"n"}
    assert changed_since(fr[3], fr[4]) == {"y"}
    assert changed_since(fr[4], fr[6]) == set()


def mistaken(trace, step: int, name: str, value: str):
    wrong = copy.deepcopy(trace)
    wrong.frames[step].locals[name] = value
    return wrong


def test_the_view_aligns_compares_and_copies(real, tokenizer):
    predictor = ReplayPredictor(tokenizer, [mistaken(real, 4, "y", "4")])
    s = started(SOURCE, "f", "3", predictor)
    s.step()
    s.step()
    early = SessionView.of(s)
    assert early.index == 2 and early.current.func == "add"
    assert early.aligned == (0, 1, 2) and early.real_index == 2
    assert early.divergence is None
    s.cont()
    view = SessionView.of(s)
    assert view.ended and len(view.frames) == len(real.frames)
    assert view.aligned == tuple(range(len(real.frames)))
    assert view.aligned_real() == list(real.frames)
    assert view.divergence.step == 4 and view.divergence.name == "y"
    assert view.changed(4) == {"y"} and view.real_changed(4) == {"y"}
    assert view.changed(99) == frozenset() and view.real_changed(-1) == frozenset()
    # a snapshot: the session moving on leaves it as it was
    assert len(early.frames) == 3 and early.divergence is None
    # the JSON front ends (the language server's notification) read the same view
    data = s.to_json(view)
    assert data["aligned_real"] == list(view.aligned) and data["divergence"]["step"] == 4
    assert s.to_json() == data


def test_without_a_real_run_nothing_is_aligned(real, tokenizer):
    s = started(SOURCE, "f", "3", ReplayPredictor(tokenizer, [real]), run_real=False)
    s.cont()
    view = SessionView.of(s)
    assert view.real is None and view.comparison is None and view.divergence is None
    assert view.aligned == (None,) * len(view.frames) and view.real_index is None
    assert view.aligned_real() == [None] * len(view.frames) and view.real_frames == []


# -- a Session that starts and cancels --------------------------------------------------------------


class CountingPredictor(ReplayPredictor):
    """A replaying predictor that counts the states it opens and can run a hook in ``open``."""

    def __init__(self, tokenizer, traces, on_open=None):
        super().__init__(tokenizer, traces)
        self.opened = 0
        self.on_open = on_open

    def open(self, prompt_ids):
        self.opened += 1
        if self.on_open is not None:
            self.on_open()
        return super().open(prompt_ids)


def test_building_a_session_runs_nothing_and_start_does_the_work(real, tokenizer):
    from neurodebug.session import Session

    p = CountingPredictor(tokenizer, [real])
    s = Session(SOURCE, "f", "3", predictor=p)
    assert (p.opened, s.real, s.started, s.frames) == (0, None, False, [])
    with pytest.raises(UserError, match=r"^The session has not started yet: call start\(\) first\.$"):
        s.step()
    with pytest.raises(UserError, match="no function 'nope'"):
        Session(SOURCE, "nope", "3", predictor=p)  # a bad entry is said before any work
    assert s.start() is s and s.started and p.opened == 1
    assert s.real is not None and s.current.event == "call"
    s.start()  # a second start does nothing
    assert p.opened == 1 and len(s.frames) == 1


def test_a_cancelled_start_goes_on_where_it_stopped(real, tokenizer):
    from neurodebug.session import Cancelled, Session

    s = None
    p = CountingPredictor(tokenizer, [real], on_open=lambda: s.cancel())  # a cancel arrives during the start
    s = Session(SOURCE, "f", "3", predictor=p)
    with pytest.raises(Cancelled):
        s.start()
    assert not s.started and s.real is not None  # the real run that finished is kept
    first_real = s.real
    p.on_open = None
    s.start()
    assert s.started and s.real is first_real and s.current.event == "call"


def test_a_cancel_from_another_thread_stops_the_start(tokenizer, tmp_path):
    """The real run sleeps at import; a cancel meanwhile ends start() once the run is over."""
    import threading

    from neurodebug.session import Cancelled, Session

    program = tmp_path / "slow.py"
    program.write_text("import time\ntime.sleep(0.5)\n\n\ndef f(n):\n    return n\n")
    s = Session.from_file(program, "f", "3", predictor=CountingPredictor(tokenizer, []))
    outcome = []

    def start():
        try:
            s.start()
            outcome.append("started")
        except Cancelled:
            outcome.append("cancelled")

    t = threading.Thread(target=start)
    t.start()
    while t.is_alive():  # start() clears a cancel that came before it: say it until it is heard
        s.cancel()
        t.join(0.05)
    assert outcome == ["cancelled"] and not s.started


def test_back_to_a_frame_cuts_the_state_where_the_next_frame_began(real, tokenizer):
    s = started(SOURCE, "f", "3", ReplayPredictor(tokenizer, [real]))
    s.cont()
    assert s.ended
    lengths = [s._starts[i + 1] for i in range(len(s.frames) - 1)]
    assert s.back_to(3).event == s.frames[3].event and s.index == 3 and not s.ended
    assert len(s.state) == lengths[3]
    s.back_to(-5)  # the call frame is the input: it stays
    assert s.index == 0 and s.current.event == "call"
    s.cont()
    assert [f.to_dict() for f in s.frames] == [f.to_dict() for f in real.frames]  # and predicted again alike


def test_the_view_is_computed_once_per_change(real, tokenizer):
    s = started(SOURCE, "f", "3", ReplayPredictor(tokenizer, [real]))
    first = s.view()
    assert s.view() is first and s.real_frame(0) is first.real_frame(0)
    s.step()
    second = s.view()
    assert second is not first and second.index == 1 and s.view() is second
