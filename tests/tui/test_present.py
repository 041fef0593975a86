"""The presentation helpers: session state -> rows, marks and sentences (no Textual involved)."""

from __future__ import annotations

from neurodebug.tui import present
from neurodebug.tui.widgets.locals_table import LocalRow, shorten

from neurodebug.compare import compare
from neurodebug.trace.frames import End, Trace, changed_names
from tests.tui.conftest import with_mistake


def test_changed_values_are_what_each_step_changed(calls_trace):
    fr = calls_trace.frames
    assert changed_names(fr, 0) == {"n"}  # the call frame: the arguments are new
    assert changed_names(fr, 4) == {"y"}  # y = a ran
    assert changed_names(fr, 3) == set()  # first line of add(): same as its call frame
    # back in f() after add() returned: t is new, n is unchanged since f's frame before the call
    assert changed_names(fr, 7) == {"t"}
    assert changed_names(fr, 6) == set()  # a return frame has no locals


def test_local_rows_pair_names_and_mark_differences(calls_trace):
    real = calls_trace.frames[4]
    wrong = with_mistake(calls_trace, 4, "y", "4").frames[4]
    rows = present.local_rows(wrong, real, {"y"}, {"y"})
    assert [r.name for r in rows] == ["a", "b", "y"]
    by = {r.name: r for r in rows}
    assert by["y"].differs and by["y"].predicted_changed and not by["a"].differs
    # a name only the real run has comes last; a missing real frame differs from nothing
    only_real = present.local_rows(calls_trace.frames[3], real, set(), set())
    assert only_real[-1] == LocalRow("y", None, "3", False, False)
    assert not any(r.differs for r in present.local_rows(real, None, set(), set()))


def test_timeline_marks(calls_trace):
    wrong = with_mistake(calls_trace, 4, "y", "4")
    predicted = Trace(wrong.source, wrong.entry, wrong.call, wrong.frames[:6], End("open"))
    rows = compare(calls_trace, predicted).rows
    marks = present.timeline_marks(6, predicted.frames, rows, False, len(calls_trace.frames))
    assert marks == ["agree"] * 4 + ["differs", "differs"] + ["unknown"] * 9
    ended = present.timeline_marks(6, predicted.frames, rows, True, len(calls_trace.frames))
    assert ended[6:] == ["real-only"] * 9
    assert present.timeline_marks(2, calls_trace.frames, None, False, None) == ["unknown", "unknown"]


def test_end_and_outcome_sentences(calls_trace):
    assert present.describe_end(End("returned", "f(3) returned 12.", "12")) == "returned 12"
    assert present.describe_end(End("raised", "", "ValueError('x')")) == "raised ValueError('x')"
    assert present.describe_end(End("timeout", "The traced code ran longer than 10 s.")) == "The traced code ran longer than 10 s."
    assert present.real_outcome(calls_trace, None, True) == ("returned 12", True)
    assert present.real_outcome(None, "The real run is off for this session.", False) == ("The real run is off for this session.", True)
    text, ok = present.real_outcome(Trace("", "f", "1", [], End("frame_limit", "The trace reached the limit of 20 frames.")),
                                    "The trace reached the limit of 20 frames.", True)
    assert not ok and text == "The trace reached the limit of 20 frames."


def test_shorten():
    assert shorten("abc", 5) == "abc"
    assert shorten("abcdefgh", 5) == "abcd…" and len(shorten("x" * 100, 10)) == 10
