"""Rich rendering of a Trace: one table row per frame, changed values highlighted.

Front ends reuse :func:`trace_table` (the CLI prints it; other views may embed it).
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from neurodebug.trace.format import shorten
from neurodebug.trace.frames import Frame, Trace, changed_names

EVENT_STYLE = {"call": "bold cyan", "line": "", "return": "bold green", "exception": "bold red"}
CHANGED_STYLE = "bold yellow"
UNCHANGED_STYLE = "dim"
#: After a predicted value (or a frame's line) the model was unsure of (``confidence.unsure``):
#: visible, and quiet enough not to compete with a difference or a change.
UNSURE_MARK, UNSURE_STYLE = "?", "dim"


def unsure_mark(confidence: float | None, below: float | None) -> Text:
    """A dim '?' when ``confidence`` is under ``below`` (None: nothing is marked), else nothing."""
    from neurodebug.confidence import unsure

    return Text(UNSURE_MARK, style=UNSURE_STYLE) if below is not None and unsure(confidence, below) else Text()


def _locals_text(f: Frame, changed: set[str], width: int, unsure_below: float | None = None) -> Text:
    text = Text()
    values = f.locals_confidence or {}
    for i, (k, v) in enumerate(f.locals.items()):
        if i:
            text.append(", ")
        v = shorten(v, width)
        text.append(f"{k}=", style="" if k in changed else UNCHANGED_STYLE)
        text.append(v, style=CHANGED_STYLE if k in changed else UNCHANGED_STYLE)
        text.append_text(unsure_mark(values.get(k), unsure_below))
    return text


#: Rows of a trace table on a terminal: the first half and the last half of these, and a count of
#: the frames between (`neurodebug trace --rows 0` shows all; --json always keeps all).
ROWS = 60


def shown_rows(n: int, rows: int) -> tuple[range, range]:
    """(first, last) frame indices a table of at most ``rows`` rows shows (``rows`` 0: all)."""
    if not rows or n <= rows:
        return range(n), range(n, n)
    head = (rows + 1) // 2
    return range(head), range(n - (rows - head), n)


def line_label(f: Frame, home: str | None) -> str:
    """A frame's line as a table shows it: the number in the trace's own file (``home``: its first
    frame's), ``b.py:3`` in another file of the project, '?' when unknown."""
    if f.line is None:
        return "?"
    return str(f.line) if f.file == home or f.file is None else f"{f.file}:{f.line}"


def home_file(frames) -> str | None:
    """The file a trace's line numbers are in unless a frame says otherwise (its first frame's)."""
    return frames[0].file if frames else None


def trace_table(trace: Trace, value_width: int = 60, title: str | None = None, rows: int = 0,
                unsure_below: float | None = None) -> Table:
    """The trace as a rich Table: step, event, line, source, locals (changed ones highlighted), value.

    With ``rows``, a long trace shows its first and last frames and one row saying how many
    are left out between them. With ``unsure_below``, a predicted frame's line and value and each
    of its values the model was less sure of are marked (``unsure_mark``).
    """
    table = Table(title=title, show_lines=False, header_style="bold", expand=False)
    table.add_column("#", justify="right", style="dim", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("line", justify="right", no_wrap=True)
    table.add_column("source", no_wrap=True, overflow="ellipsis", max_width=60)
    table.add_column("locals")
    table.add_column("value", overflow="fold")
    head, tail = shown_rows(len(trace.frames), rows)
    home = home_file(trace.frames)
    for i in list(head) + list(tail):
        if tail and i == tail.start:
            left_out = tail.start - head.stop
            table.add_row("…", "", "", Text(f"… {left_out:,} frames not shown", style="italic"), "", "")
        f = trace.frames[i]
        style = EVENT_STYLE.get(f.event, "")
        value = Text(shorten(f.arg, value_width) if f.arg is not None else "", style=style)
        if f.arg is not None:
            value.append_text(unsure_mark(f.confidence, unsure_below))
        if f.malformed:
            value.append(f" [malformed: {shorten(f.malformed, 40)}]", style="italic red")
        table.add_row(
            str(i + 1),
            Text(f.event, style=style),
            Text("" if f.line is None else line_label(f, home)) + unsure_mark(f.confidence, unsure_below),
            Text("  " * f.depth) + Text(f.source.strip()),
            _locals_text(f, changed_names(trace.frames, i), value_width, unsure_below),
            value,
        )
    return table


def end_text(trace: Trace) -> Text:
    """One line on how the trace ended."""
    ok = trace.end.reason in ("returned",)
    style = "green" if ok else ("red" if trace.end.reason in ("raised", "crashed") else "yellow")
    return Text.assemble(("end: ", "bold"), (trace.end.reason, f"bold {style}"), " - ", trace.end.message)


def trace_view(trace: Trace, rows: int = ROWS) -> Group:
    """The table, the end line, and the captured output (what `neurodebug trace` prints)."""
    parts = [trace_table(trace, rows=rows), end_text(trace)]
    head, tail = shown_rows(len(trace.frames), rows)
    if tail:
        parts.insert(1, Text(f"{len(trace.frames):,} frames; the table shows the first {len(head)} and the last "
                             f"{len(tail)} (--rows 0 or --json shows all).", style="dim"))
    for name, text in (("stdout", trace.stdout), ("stderr", trace.stderr)):
        if text:
            parts.append(Text.assemble((f"{name}:\n", "bold"), text.rstrip("\n")))
    return Group(*parts)
