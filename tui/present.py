"""A session's view -> what the widgets show. Pure functions and the rows they make, no Textual.

The TUI computes nothing about execution: frames, alignment, divergences and what each step
changed come from :class:`neurodebug.view.SessionView`. What lives here is presentation: which
rows a table has, which mark each timeline cell gets, how a run's end reads in one line.

This module owns the types the widgets display (:class:`Shown`, :class:`Where`, and
:class:`LocalRow`, which it takes from neurodebug.view, where the notebook's view gets it too);
the widgets import them from here, and nothing here imports a widget.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from neurodebug.compare import TeacherForced
from neurodebug.trace.frames import End, Frame, Trace
from neurodebug.view import LocalRow, SessionView, local_rows


@dataclass(frozen=True)
class Where:
    """What the where bar shows: the step, the frame, the real cursor, how the prediction ended."""

    step: int  # 1-based; 0 before the first step
    total: int  # predicted steps so far
    final: bool  # the prediction has ended, so ``total`` is the whole predicted trace
    event: str | None = None
    line: int | None = None
    source: str = ""
    arg: str | None = None
    depth: int = 0
    func: str | None = None
    malformed: str | None = None
    real_step: int | None = None  # 1-based index of the real frame shown, None without one
    real_total: int | None = None
    real_detached: bool = False  # the real cursor was moved apart with [ / ]
    end: str | None = None  # how the prediction ended, once it has
    on_track: float | None = None  # how likely the prediction is still on the real path (SessionView.on_track)


@dataclass(frozen=True)
class Shown:
    """Everything the main screen shows of a session at one moment, one field per widget."""

    source: str
    predicted_line: int | None  # the source view's two markers
    real_line: int | None
    where: Where
    rows: tuple[LocalRow, ...]  # the locals table
    teacher_forced: bool
    marks: tuple[str, ...]  # the timeline: one mark per step, the current cell, the real cursor's
    current: int
    real_cell: int | None
    mode: str  # the status line: the teacher-forced scores, how the real run went, the speed
    real: str
    real_ok: bool
    tokens_per_s: float | None
    frames_per_s: float | None
    forwards_per_frame: float | None
    unsure_below: float = 0.5  # a predicted value under it is marked unsure
    file: str | None = None  # the file ``source`` is: the current frame's (Frame.file)
    home: bool = True  # it is the session's own file (run to line and breakpoints are of that file)


def shown(view: SessionView, real_cursor: int | None, teacher: TeacherForced | None, run_real: bool) -> Shown:
    """What the screen shows of ``view``: the real side at ``real_cursor`` when the user moved it
    apart with [ / ] (else the aligned real step), and, with ``teacher``, each real step as the
    model predicts it from the real past."""
    frames, index, cur = list(view.frames), view.index, view.current
    real_frames = view.real_frames if view.real is not None else None
    n_real = len(real_frames) if real_frames else None
    detached = real_cursor is not None
    real_index = real_cursor if detached else view.real_index
    real = real_frames[real_index] if real_frames is not None and real_index is not None else None
    predicted, predicted_changed = cur, view.changed(index)
    if teacher is not None and real_index is not None and real_index < len(teacher.frames):
        score = teacher.frames[real_index]
        predicted = score.real if score.ok else score.alternative
        predicted_changed = view.real_changed(real_index) if score.ok else frozenset()
    real_changed = view.real_changed(real_index) if real is not None else frozenset()
    if teacher is not None:
        marks, current, real_cell = teacher_marks(teacher.ok), real_index if real_index is not None else -1, None
        m = teacher.metrics
        mode = f"teacher-forced: state {_pct(m.state_exact)}, action {_pct(m.action_exact)}"
    else:
        rows = view.comparison.rows if view.comparison is not None else None
        marks = timeline_marks(len(frames), frames, rows, view.ended, n_real)
        current, real_cell, mode = index, real_index if detached else None, ""
    real_text, real_ok = real_outcome(view.real, view.real_note, run_real)
    # the source pane follows the current frame into the other files of the project
    file = (predicted or real).file if (predicted or real) is not None else view.home
    return Shown(
        source=view.file_text(file),
        predicted_line=predicted.line if predicted is not None and predicted.file == file else None,
        real_line=real.line if real is not None and real.file == file else None,
        file=file,
        home=file == view.home,
        unsure_below=view.unsure_below,
        where=replace(where(frames, index, view.ended, view.end, real_index, n_real, detached),
                      on_track=view.on_track(index)),
        rows=tuple(local_rows(predicted, real, predicted_changed, real_changed)),
        teacher_forced=teacher is not None,
        marks=tuple(marks),
        current=current,
        real_cell=real_cell,
        mode=mode,
        real=real_text,
        real_ok=real_ok,
        tokens_per_s=view.tokens_per_s,
        frames_per_s=view.speed.frames_per_s,
        forwards_per_frame=view.speed.forwards_per_frame,
    )


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


def describe_end(end: End) -> str:
    """How a trace ended, in a few words: 'returned 6', 'raised ValueError(...)', 'timeout: ...'."""
    if end.reason == "returned":
        return f"returned {end.value}" if end.value is not None else "returned"
    if end.reason == "raised":
        return f"raised {end.value}" if end.value is not None else "raised an exception"
    if end.message:
        return end.message
    return end.reason.replace("_", " ")


def real_outcome(real: Trace | None, note: str | None, run_real: bool) -> tuple[str, bool]:
    """(text, ok) for the status line's real-run part."""
    if real is None:
        if not run_real:
            return (note or "off (--no-run)", True)
        return (note or "not run", False)
    text = describe_end(real.end)
    if note and note not in text:
        text = f"{text} ({note})" if real.end.reason == "returned" else note
    return (text, real.end.reason == "returned")


def timeline_marks(n_predicted: int, predicted: list[Frame], rows, ended: bool, n_real: int | None) -> list[str]:
    """One mark per step from a compare.Comparison's rows (or None without a real trace)."""
    marks: list[str] = []
    for i in range(n_predicted):
        f = predicted[i]
        if f.malformed:
            marks.append("malformed")
        elif rows is None:
            marks.append("unknown")
        elif i >= len(rows) or rows[i].real is None:
            marks.append("predicted-only")
        elif rows[i].differs:
            marks.append("differs")
        else:
            marks.append("agree")
    if rows is not None and ended:
        marks.extend("real-only" for r in rows[n_predicted:] if r.real is not None and r.predicted is None)
    elif n_real is not None and n_real > n_predicted:
        marks.extend("unknown" for _ in range(n_real - n_predicted))
    return marks


def teacher_marks(ok: list[bool]) -> list[str]:
    return ["agree" if good else "differs" for good in ok]


def where(
    frames: list[Frame],
    index: int,
    ended: bool,
    end: End | None,
    real_index: int | None,
    n_real: int | None,
    detached: bool,
) -> Where:
    cur = frames[index] if 0 <= index < len(frames) else None
    end_text = None
    if ended and end is not None and index >= len(frames) - 1:
        end_text = end.message or describe_end(end)
    return Where(
        step=index + 1,
        total=len(frames),
        final=ended,
        event=cur.event if cur else None,
        line=cur.line if cur else None,
        source=cur.source if cur else "",
        arg=cur.arg if cur else None,
        depth=cur.depth if cur else 0,
        func=cur.func if cur else None,
        malformed=cur.malformed if cur else None,
        real_step=real_index + 1 if real_index is not None else None,
        real_total=n_real,
        real_detached=detached,
        end=end_text,
    )
