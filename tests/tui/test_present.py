"""The presentation helpers: session state -> rows, marks and sentences (no Textual involved)."""

from __future__ import annotations

from neurodebug.tui import present
from neurodebug.tui.present import LocalRow

from neurodebug.compare import compare
from neurodebug.trace.frames import End, Trace, changed_names
from tests.tui.conftest import with_mistake
from tests.sessions import started_file


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
    from neurodebug.trace.format import shorten

    assert shorten("abc", 5) == "abc"
    assert shorten("abcdefgh", 5) == "abcd…" and len(shorten("x" * 100, 10)) == 10


def test_present_owns_the_rows_and_imports_no_widget():
    """The widgets import their row types from present; present imports no widget (nor Textual)."""
    import subprocess
    import sys

    code = ("import sys, neurodebug.tui.present as p; "
            "bad = sorted(m for m in sys.modules if m.startswith(('neurodebug.tui.widgets', 'textual'))); "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    from neurodebug.tui.widgets import locals_table, value_detail, where

    assert locals_table.LocalRow is value_detail.LocalRow is present.LocalRow
    assert where.Where is present.Where


def test_what_the_screen_shows_follows_the_view_and_the_real_cursor(programs, calls_trace, replay):
    from neurodebug.session import Session
    from neurodebug.view import SessionView

    s = started_file(programs / "calls.py", call="3", predictor=replay(with_mistake(calls_trace, 4, "y", "4")))
    for _ in range(5):
        s.step()
    view = SessionView.of(s)
    shown = present.shown(view, None, None, run_real=True)
    assert shown.marks == ("agree",) * 4 + ("differs", "differs") + ("unknown",) * 9
    assert (shown.current, shown.real_cell) == (5, None) and not shown.teacher_forced
    assert shown.predicted_line == shown.real_line == 4  # both at `return y` in add()
    assert (shown.where.step, shown.where.real_step, shown.where.real_detached) == (6, 6, False)
    assert {r.name: (r.predicted, r.real, r.differs) for r in shown.rows}["y"] == ("4", "5", True)
    assert (shown.real, shown.real_ok) == ("returned 12", True)
    # the real cursor moved apart with [ / ]: the real side shows that step, the timeline marks it
    apart = present.shown(view, 2, None, run_real=True)
    assert (apart.real_cell, apart.where.real_step, apart.where.real_detached) == (2, 3, True)
    assert apart.real_line == calls_trace.frames[2].line and apart.predicted_line == 4
    assert [(r.name, r.real) for r in apart.rows] == [("a", "3"), ("b", "2"), ("y", None)]
