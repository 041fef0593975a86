"""`neurodebug compare FILE [--call EXPR]`: the model's prediction next to the real run.

A side-by-side table (step; real line and locals; a mark where they differ; predicted line and
locals), the first divergence in one sentence, and CWM's metrics. `--teacher-forced` scores
every real frame given the real history (one forward pass) and shows what the model would
have written instead where it is wrong. `--json` prints the same as JSON.
"""

from __future__ import annotations

import json
import sys

from neurodebug.cli._session_args import add_real_run_arguments, add_session_arguments, session_from_args
from neurodebug.errors import UserError
from neurodebug.trace.context import call_text

NAME = "compare"
HELP = ("predict a function's execution, run it for real (isolated, under limits) and compare the two, "
        "step by step")
ORDER = 21

DIFF_STYLE = "bold red"
#: A runaway real run has thousands of frames; the table shows the first ones (and says so).
ROWS = 200
CHANGED_STYLE = "bold yellow"


def add_arguments(p) -> None:
    add_session_arguments(p, call_required=True)
    add_real_run_arguments(p, recorded=True)
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.add_argument("--teacher-forced", action="store_true",
                   help="score each real frame given the real history before it (one forward pass)")
    p.add_argument("--width", type=int, default=None, help="table width (default: the terminal's)")
    p.add_argument("--rows", type=int, default=ROWS, metavar="N",
                   help=f"show at most N steps of the table (default {ROWS}; 0 shows all)")


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def metrics_lines(m) -> list[str]:
    out = "n/a" if m.output_match is None else ("yes" if m.output_match else "no")
    return [
        f"valid format   {_pct(m.valid_format)}  ({m.n_predicted} predicted frames)",
        f"state exact    {_pct(m.state_exact)}",
        f"action exact   {_pct(m.action_exact)}  ({m.n_real} real frames; the call frame is the input, not scored)",
        f"output match   {out}",
    ]


def _locals_cell(f, differs: set[str], changed: set[str], unsure_below: float | None = None):
    """A frame's locals (or its value), differences and changes styled; with ``unsure_below``,
    the values the model was less sure of marked (``render.unsure_mark``)."""
    from rich.text import Text

    from neurodebug.render import unsure_mark

    t = Text()
    if f is None:
        return t
    if f.event in ("return", "exception"):
        t.append(f"{'→' if f.event == 'return' else '!'} {f.arg}", style=DIFF_STYLE if "arg" in differs else "")
        return t.append_text(unsure_mark(f.confidence, unsure_below))
    values = f.locals_confidence or {}
    for k, (name, v) in enumerate(f.locals.items()):
        if k:
            t.append(", ")
        style = DIFF_STYLE if f"locals:{name}" in differs else CHANGED_STYLE if name in changed else ""
        t.append(f"{name}={v}", style=style)
        t.append_text(unsure_mark(values.get(name), unsure_below))
    return t


def _line_cell(f, differs: set[str], home: str | None = None, unsure_below: float | None = None):
    from rich.text import Text

    from neurodebug.render import line_label, unsure_mark
    from neurodebug.trace.format import shorten, strip_marker

    if f is None:
        return Text("")
    style = DIFF_STYLE if differs & {"line", "event"} else ""
    ev = {"call": "call ", "return": "ret  ", "exception": "exc  "}.get(f.event, "")
    where = line_label(f, home)
    t = Text(f"{ev}{where:>3}", style=style)
    t.append_text(unsure_mark(f.confidence, unsure_below))
    t.append(" ")
    t.append("  " * f.depth + strip_marker(f.source).strip(), style=style or "dim")
    if f.malformed:
        t.append(f" [{shorten(f.malformed, 24)}]", style="italic red")
    return t


def _shown(items, limit: int, console) -> list:
    """The first ``limit`` items (all when limit is 0), and a line saying how many are left out."""
    if limit and len(items) > limit:
        console.print(f"[dim]… {len(items) - limit} more steps not shown (--rows 0 shows all)[/]")
        return items[:limit]
    return items


def render_rows(rows, console, limit: int = 0, unsure_below: float | None = None) -> None:
    from rich.table import Table

    from neurodebug.render import home_file
    from neurodebug.trace.frames import changed_names

    real = [r.real for r in rows if r.real is not None]
    pred = [r.predicted for r in rows if r.predicted is not None]
    rc = (changed_names(real, i) for i in range(len(real)))
    pc = (changed_names(pred, i) for i in range(len(pred)))
    home = home_file(real or pred)
    table = Table(show_lines=False, expand=False, header_style="bold")
    table.add_column("step", justify="right")
    table.add_column("real line")
    table.add_column("real locals")
    table.add_column(" ", justify="center")
    table.add_column("predicted line")
    table.add_column("predicted locals")
    for r in rows[: limit or len(rows)]:
        rch = next(rc) if r.real is not None else set()
        pch = next(pc) if r.predicted is not None else set()
        bad = bool(r.differs) or r.real is None or r.predicted is None
        table.add_row(str(r.step + 1), _line_cell(r.real, r.differs, home), _locals_cell(r.real, set(), rch),
                      "[bold red]✗[/]" if bad else "[green]✓[/]",
                      _line_cell(r.predicted, r.differs, home, unsure_below),
                      _locals_cell(r.predicted, r.differs, pch, unsure_below))
    console.print(table)
    _shown(rows, limit, console)


def render_teacher(tf, console, limit: int = 0) -> None:
    from rich.table import Table

    from neurodebug.render import home_file

    table = Table(header_style="bold")
    table.add_column("step", justify="right")
    table.add_column("real line")
    table.add_column("real locals")
    table.add_column(" ", justify="center")
    table.add_column("model instead (greedy, given the real history)")
    home = home_file([sc.real for sc in tf.frames])
    for sc in tf.frames[: limit or len(tf.frames)]:
        alt = ""
        if not sc.ok and sc.alternative is not None:
            a = sc.alternative
            alt = _line_cell(a, sc.differs, home)
            alt.append("  ")
            alt.append_text(_locals_cell(a, sc.differs, set()))
        elif not sc.ok:
            alt = "(not generated)" if sc.differs != {"event"} else "(ends the trace)"
        mark = "[green]✓[/]" if sc.ok else ("[dim]·[/]" if sc.step == 0 else "[bold red]✗[/]")
        table.add_row(str(sc.step + 1), _line_cell(sc.real, set(), home), _locals_cell(sc.real, set(), set()), mark, alt)
    console.print(table)
    _shown(tf.frames, limit, console)


def real_end_message(s) -> str:
    """How the real run ended; a run cut at the session's frame cap says that it was cut there, as
    the prediction is (the real run records at most --max-frames frames: SessionOptions.limits)."""
    end = s.real.end
    if (end.reason == "frame_limit" and len(s.real.frames) == s.options.max_frames
            and end.message.startswith("The trace reached the limit")):
        return (f"The real run was cut at the frame cap of {len(s.real.frames)} (--max-frames), which also "
                "caps the prediction.")
    return end.message


def run(args) -> int:
    from rich.console import Console

    if args.rows < 0:
        raise UserError("--rows must be 0 (all) or more.")
    if args.option_run_real is False and not args.real:  # --no-run
        raise UserError("With --no-run, compare needs --real TRACE.json (a trace recorded by "
                        "`neurodebug trace --json`) to compare with; `neurodebug predict` shows the prediction alone.")
    s = session_from_args(args)
    if s.real is None:
        raise UserError(s.real_note or "There is no real run to compare with.")
    console = Console(file=sys.stdout, width=args.width, highlight=False, soft_wrap=False)
    if args.teacher_forced:
        tf = s.teacher_forced()
        if args.json:
            d = {"mode": "teacher_forced", "model": s.predictor.name, "entry": s.entry, "call": s.call,
                 "real_end": s.real.end.to_dict(), **tf.to_dict()}
            json.dump(d, sys.stdout, ensure_ascii=False, indent=1)
            print()
            return 0
        render_teacher(tf, console, args.rows)
        console.print(f"end of trace: {'predicted' if tf.end_ok else 'missed' if tf.end_ok is False else 'n/a'}")
        div, m = tf.first_divergence, tf.metrics
        console.print(f"teacher-forced: one forward pass over {tf.tokens_scored} tokens; "
                      f"{tf.tokens_generated} tokens generated for the wrong frames")
    else:
        if not args.json:
            console.print(f"[dim]{s.predictor.name}: predicting {call_text(s.entry, s.call)}...[/]")
        try:
            s.cont()
        except KeyboardInterrupt:
            s.cancel()
        cmp = s.comparison()
        if args.json:
            d = {"mode": "free_running", "model": s.predictor.name, "entry": s.entry, "call": s.call,
                 "real_end": s.real.end.to_dict(), "predicted_end": s.end.to_dict(), "speed": s.speed.to_dict(),
                 **cmp.to_dict()}
            json.dump(d, sys.stdout, ensure_ascii=False, indent=1)
            print()
            return 0
        render_rows(cmp.rows, console, args.rows, s.options.unsure_below)
        console.print(f"real: {real_end_message(s)}   predicted: {s.end.message}")
        if s.speed.frames:
            console.print(f"prediction: {s.speed.line()}")
        div, m = cmp.first_divergence, cmp.metrics
    console.print("[bold]first divergence:[/] " + (div.message if div else "none, the prediction matches the real run."))
    for line in metrics_lines(m):
        console.print(line)
    return 0
