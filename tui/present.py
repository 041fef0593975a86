"""Session state -> what the widgets show. Pure functions, no Textual.

The TUI computes nothing about execution: frames, alignment and divergences come from the
session and compare layers. What lives here is presentation: which rows a table has, which
values to emphasise, which mark each timeline cell gets, how a run's end reads in one line.
"""

from __future__ import annotations

from neurodebug.tui.widgets.locals_table import LocalRow
from neurodebug.tui.widgets.where import Where

from neurodebug import render
from neurodebug.trace.frames import End, Frame, Trace


def changed_names(frames: list[Frame], i: int) -> set[str]:
    """Locals of frame ``i`` that are new or changed since the same scope's previous frame.

    The rule is the trace table's (``neurodebug.render.changed_names``): one definition of
    "changed" for every view.
    """
    if not 0 <= i < len(frames):
        return set()
    return render.changed_names(frames[: i + 1])[-1]


def local_rows(predicted: Frame | None, real: Frame | None, p_changed: set[str], r_changed: set[str]) -> list[LocalRow]:
    """One row per name in either frame: predicted order first, then names only the real run has."""
    p = predicted.locals if predicted is not None else {}
    r = real.locals if real is not None else {}
    names = list(p) + [n for n in r if n not in p]
    has_real = real is not None
    return [
        LocalRow(
            name=n,
            predicted=p.get(n),
            real=r.get(n) if has_real else None,
            predicted_changed=n in p_changed,
            real_changed=n in r_changed,
        )
        for n in names
    ]


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
