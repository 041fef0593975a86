"""What the editor shows, computed from frames alone: inlay hints, hover history, diagnostics.

Plain functions over :class:`neurodebug.trace.frames.Frame` lists, tested without the protocol.
``real`` is always the list aligned with the predicted frames (``real[i]`` is the real frame
aligned with predicted frame ``i``, or None), as :meth:`neurodebug.view.SessionView.aligned_real`
gives it. What a step changed is ``trace.frames.changed_names``, as everywhere.
Lines are 1-based here; the server converts to LSP's 0-based positions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from neurodebug.trace.format import shorten
from neurodebug.trace.frames import Frame, changed_names, changed_since
from neurodebug.confidence import unsure
from neurodebug.errors import UserError
from neurodebug.view import LocalRow, object_rows, sure_text

#: After an inlay hint's value the model was unsure of (under the unsureBelow setting).
UNSURE_MARK = " ?"

#: Longest value shown in an inlay hint before it is cut with an ellipsis.
HINT_VALUE_CHARS = 40
#: Most steps listed in a hover; the latest are kept.
HOVER_ROWS = 30
#: Longest value in a hover's table cell before it is cut with an ellipsis.
HOVER_CELL_CHARS = 80

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Hint:
    line: int
    label: str
    tooltip: str


@dataclass(frozen=True)
class Diagnostic:
    line: int
    severity: str  # 'information' | 'warning'
    message: str


# -- inlay hints ----------------------------------------------------------------------------


def _after(frames: Sequence[Frame], k: int) -> int | None:
    """Index of the frame that shows the state right after frame ``k``'s line ran.

    That is the next frame of the same scope visit (a callee's frames in between skipped);
    None when the scope ended first or the trace stops before it.
    """
    depth = frames[k].depth
    for j in range(k + 1, len(frames)):
        if frames[j].depth == depth:
            return j if frames[j].event != "call" else None
        if frames[j].depth < depth:
            return None
    return None


def _short(value: str | None) -> str:
    if value is None:
        return "?"
    return shorten(" ".join(value.split()), HINT_VALUE_CHARS)


def _same_line(pred: Frame, real: Frame | None) -> bool:
    return real is not None and real.line == pred.line and real.event == pred.event


def inlay_hints(frames: Sequence[Frame], index: int, real: Sequence[Frame | None] = (),
                file: str | None = None, unsure_below: float | None = None) -> list[Hint]:
    """One hint per executed line of the document (the frames of ``file``: Frame.file), for its
    latest execution (that changed something) up to step ``index``.

    A line frame's hint lists the variables that line changed (``x = 3``), and where the
    aligned real run gave another value, that value too (``x = 3  real 4``). A return or
    exception frame's hint is its value. Lines whose effect is not known yet get none. With
    ``unsure_below``, a predicted value the model gave less than that ends in UNSURE_MARK.
    """
    real = list(real) + [None] * (len(frames) - len(real))
    by_line: dict[int, Hint] = {}
    last = min(index, len(frames) - 1)
    for k in range(last + 1):
        f = frames[k]
        if f.line is None or f.malformed or f.file != file:
            continue
        if f.event in ("return", "exception"):
            hint = _value_hint(f, real[k], k)
        elif f.event == "line" and (j := _after(frames, k)) is not None and j <= last:
            hint = _line_hint(frames, real, k, j, unsure_below)
        else:
            continue
        if hint is not None:  # a run that changed nothing (a loop's last test) keeps the previous hint
            by_line[f.line] = hint
    return [by_line[line] for line in sorted(by_line)]


def _value_hint(f: Frame, r: Frame | None, k: int) -> Hint:
    """A return or exception frame's value, and the real one where it differs."""
    label = f"{'return' if f.event == 'return' else 'raises'} {_short(f.arg)}"
    if _same_line(f, r) and r.arg != f.arg:
        label += f"  real {_short(r.arg)}"
    return Hint(f.line, label, f"step {k}: {f.event} {f.arg}")


def _line_hint(frames: Sequence[Frame], real: list[Frame | None], k: int, j: int,
               unsure_below: float | None = None) -> Hint | None:
    """What line frame ``k``'s line changed, seen at frame ``j`` (the next of its call), and the
    real run's values where they differ; None when neither run changed anything."""
    f = frames[k]
    changed = changed_names(frames, j)
    pred = {n: v for n, v in frames[j].locals.items() if n in changed}
    real_after: Frame | None = None
    real_only: list[str] = []  # what only the real run's line changed
    real_raised: str | None = None
    if _same_line(f, real[k]) and real[j] is not None and real[j].depth == real[k].depth:
        if real[j].event == "line":
            real_after = real[j]
            real_changed = changed_since(real[k], real_after)
            real_only = [n for n in real_after.locals if n in real_changed and n not in pred]
        elif real[j].event == "exception" and real[j].line == f.line:
            real_raised = real[j].arg
    parts = []
    sure = frames[j].locals_confidence or {}
    for name in list(pred) + real_only:
        text = f"{name} = {_short(pred.get(name))}"
        if unsure_below is not None and unsure(sure.get(name), unsure_below):
            text += UNSURE_MARK
        if real_after is not None and real_after.locals.get(name) != pred.get(name):
            text += f"  real {_short(real_after.locals.get(name))}"
        parts.append(text)
    label = ", ".join(parts)
    if real_raised is not None:
        label = (label + "  " if label else "") + f"real raises {_short(real_raised)}"
    return Hint(f.line, label, f"step {k} -> {j}") if label else None


# -- hover ----------------------------------------------------------------------------------


def word_at(text: str, character: int) -> str | None:
    """The identifier in ``text`` that covers 0-based column ``character``."""
    for m in IDENTIFIER.finditer(text):
        if m.start() <= character <= m.end():
            return m.group(0)
    return None


def history(
    frames: Sequence[Frame], name: str, real: Sequence[Frame | None] = (), func: str | None = None
) -> list[tuple[int, int | None, str | None, str | None]]:
    """(step, line, predicted value, real value) each time the pair changes, for ``name``.

    ``func`` restricts it to frames of that function (a name is local to one function).
    """
    real = list(real) + [None] * (len(frames) - len(real))
    rows = []
    last: tuple[str | None, str | None] | None = None
    for k, f in enumerate(frames):
        if f.event not in ("call", "line") or (func is not None and f.func not in (None, func)):
            continue
        r = real[k]
        pv = f.locals.get(name)
        rv = r.locals.get(name) if r is not None else None
        if pv is None and rv is None:
            continue
        if (pv, rv) != last:
            rows.append((k, f.line, pv, rv))
            last = (pv, rv)
    return rows


def sureness_markdown(session, view, name: str, rows) -> str:
    """How sure the model was of the latest predicted value in ``rows`` (``history``'s), what else
    it would have written there, and how likely the prediction was still on the real path at that
    step (``SessionView.on_track``); '' when the model gave no probability for it."""
    if not rows or rows[-1][2] is None:
        return ""
    step, _, value, _ = rows[-1]
    sure = (view.frames[step].locals_confidence or {}).get(name)
    if sure is None:
        return ""
    try:
        also = [a for a in session.alternatives(step, name) if a.value != value]
    except UserError:
        also = []
    text = f"\n\nThe model was {sure_text(sure)} of {_cell(value)} at step {step}"
    text += f"; it also gave {', '.join(f'{_cell(a.value)} {100 * a.probability:.0f}%' for a in also)}." if also else "."
    track = view.on_track(step)
    return text + (f" The prediction was {100 * track:.0f}% likely still on the real path there (on track)."
                   if track is not None else "")


def hover_markdown(name: str, rows, has_real: bool, index: int) -> str | None:
    """A Markdown table of a variable's history; None when it never had a value."""
    if not rows:
        return None
    shown = rows[-HOVER_ROWS:]
    out = [f"**{name}**: predicted" + (" vs real" if has_real else "") + f" (current step {index})", ""]
    if has_real:
        out += ["| step | line | predicted | real |", "|---:|---:|---|---|"]
    else:
        out += ["| step | line | predicted |", "|---:|---:|---|"]
    for step, line, pv, rv in shown:
        cells = [str(step), str(line if line is not None else "?"), _cell(pv)]
        if has_real:
            cells.append(_cell(rv) + (" ✗" if rv != pv else ""))
        out.append("| " + " | ".join(cells) + " |")
    if len(rows) > len(shown):
        out.append(f"\n({len(rows) - len(shown)} earlier changes not shown)")
    step, _, pv, rv = rows[-1]
    return "\n".join(out + _attribute_table(name, step, pv, rv, has_real))


def _attribute_table(name: str, step: int, pv: str | None, rv: str | None, has_real: bool) -> list[str]:
    """The latest value's attributes, a row each, when it is an object written with its attributes
    (``Stack(items=[1, 2])``): a table cell holds one line, so an object's state is spread here."""
    objects = object_rows(LocalRow(name, pv, rv))
    if objects is None or not objects.rows:
        return []
    kind = objects.predicted if objects.predicted is not None else objects.real
    out = ["", f"**{name}** ({_cell(kind)}) at step {step}, attribute by attribute:", ""]
    out += ["| attribute | predicted | real |", "|---|---|---|"] if has_real else ["| attribute | predicted |", "|---|---|"]
    for a in objects.rows:
        cells = [a.name, _cell(a.predicted)] + ([_cell(a.real) + (" ✗" if a.real != a.predicted else "")] if has_real else [])
        out.append("| " + " | ".join(cells) + " |")
    return out


def _cell(value: str | None) -> str:
    if value is None:
        return "-"
    value = " ".join(value.split()).replace("|", "\\|").replace("`", "'")
    return f"`{shorten(value, HOVER_CELL_CHARS)}`"


# -- diagnostics ----------------------------------------------------------------------------


def divergence_diagnostic(divergence, real_by_step: Sequence[Frame | None] = (), file: str | None = None) -> Diagnostic | None:
    """An Information diagnostic for a :class:`compare.Divergence`.

    It sits on the line whose execution the model got wrong: the previous frame of the same
    scope in the real run (the line that produced a wrong value or took a branch the model
    did not), else the divergent frame's own line. ``real_by_step[i]`` is the real frame of
    the comparison's row i. A divergence in another file of the project (not ``file``, the
    document's) sits on the document's line that led there: the latest real frame in it.
    """
    if divergence is None:
        return None
    line = divergence.real_line or divergence.predicted_line
    step = divergence.step
    here = real_by_step[step] if 0 <= step < len(real_by_step) else None
    if here is not None and divergence.kind != "value":
        for k in range(step - 1, -1, -1):
            r = real_by_step[k]
            if r is None or r.depth < here.depth:
                break
            if r.depth == here.depth and r.event in ("call", "line") and r.line:
                line = r.line
                break
    if here is not None and here.file != file:
        line = next((r.line for r in reversed(real_by_step[:step]) if r is not None and r.file == file and r.line), None)
    if not line:
        return None
    return Diagnostic(line, "information", f"First divergence from the real run: {divergence.message}")


def exception_diagnostics(predicted: Sequence[Frame], real: Sequence[Frame], file: str | None = None) -> list[Diagnostic]:
    """Warnings where one run raises on a line of the document (of ``file``) and the other never raises there."""
    pred = {f.line: f.arg for f in predicted if f.event == "exception" and f.line and f.file == file}
    actual = {f.line: f.arg for f in real if f.event == "exception" and f.line and f.file == file}
    out = []
    for line in sorted(set(pred) - set(actual)):
        out.append(Diagnostic(line, "warning", f"The model predicts that this line raises {pred[line]}; the real run does not raise here."))
    for line in sorted(set(actual) - set(pred)):
        out.append(Diagnostic(line, "warning", f"The real run raises {actual[line]} here; the model does not predict it."))
    return out
