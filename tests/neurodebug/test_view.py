"""One view of a session for every front end, and one rule for what a step changed."""

from __future__ import annotations

import copy
import textwrap

import pytest

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
