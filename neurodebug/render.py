"""Rich rendering of a Trace: one table row per frame, changed values highlighted.

Front ends reuse :func:`trace_table` (the CLI prints it; other views may embed it).
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from neurodebug.trace.frames import Frame, Trace
from neurodebug.trace.frames import changed_names as step_changed

EVENT_STYLE = {"call": "bold cyan", "line": "", "return": "bold green", "exception": "bold red"}
CHANGED_STYLE = "bold yellow"
UNCHANGED_STYLE = "dim"


def changed_names(frames: list[Frame]) -> list[frozenset[str]]:
    """What each step changed (:func:`neurodebug.trace.frames.changed_names`), for a whole table."""
    return [step_changed(frames, i) for i in range(len(frames))]


def _locals_text(f: Frame, changed: set[str], width: int) -> Text:
    text = Text()
    for i, (k, v) in enumerate(f.locals.items()):
        if i:
            text.append(", ")
        if len(v) > width:
            v = v[: width - 1] + "…"
        text.append(f"{k}=", style="" if k in changed else UNCHANGED_STYLE)
        text.append(v, style=CHANGED_STYLE if k in changed else UNCHANGED_STYLE)
    return text


def trace_table(trace: Trace, value_width: int = 60, title: str | None = None) -> Table:
    """The trace as a rich Table: step, event, line, source, locals (changed ones highlighted), value."""
    table = Table(title=title, show_lines=False, header_style="bold", expand=False)
    table.add_column("#", justify="right", style="dim", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("line", justify="right", no_wrap=True)
    table.add_column("source", no_wrap=True, overflow="ellipsis", max_width=60)
    table.add_column("locals")
    table.add_column("value", overflow="fold")
    for i, (f, changed) in enumerate(zip(trace.frames, changed_names(trace.frames)), 1):
        style = EVENT_STYLE.get(f.event, "")
        value = Text(f.arg if f.arg is not None else "", style=style)
        table.add_row(
            str(i),
            Text(f.event, style=style),
            "" if f.line is None else str(f.line),
            Text("  " * f.depth) + Text(f.source.strip()),
            _locals_text(f, changed, value_width),
            value,
        )
    return table


def end_text(trace: Trace) -> Text:
    """One line on how the trace ended."""
    ok = trace.end.reason in ("returned",)
    style = "green" if ok else ("red" if trace.end.reason in ("raised", "crashed") else "yellow")
    return Text.assemble(("end: ", "bold"), (trace.end.reason, f"bold {style}"), " - ", trace.end.message)


def trace_view(trace: Trace) -> Group:
    """The table, the end line, and the captured output (what `neurodebug trace` prints)."""
    parts = [trace_table(trace), end_text(trace)]
    for name, text in (("stdout", trace.stdout), ("stderr", trace.stderr)):
        if text:
            parts.append(Text.assemble((f"{name}:\n", "bold"), text.rstrip("\n")))
    return Group(*parts)
