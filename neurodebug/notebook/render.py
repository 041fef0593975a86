"""A session's view -> the HTML and the sentences the notebook widget shows. Pure functions, no widgets.

Everything about the execution (frames, the real frame aligned with each, the first divergence,
what each step changed) comes from :class:`neurodebug.view.SessionView`; this module only says
how it reads. (tui/present.py does the same for the terminal; the layers keep the front ends
apart, so the few lines they share are written again here.)
"""

from __future__ import annotations

import html

from neurodebug.confidence import unsure
from neurodebug.render import UNSURE_MARK
from neurodebug.trace.context import call_text
from neurodebug.trace.format import source_lines, strip_marker
from neurodebug.trace.frames import End, Frame
from neurodebug.view import LocalRow, SessionView, sure_text
from neurodebug.view import local_rows as rows_of

#: The marks' colours: translucent, so that they read on light and dark themes alike.
PREDICTED_BG = "rgba(64, 128, 255, 0.22)"
REAL_BG = "rgba(40, 180, 80, 0.22)"
CHANGED_BG = "rgba(255, 190, 0, 0.35)"
DIFFERS_FG = "#d03030"
#: The mark after a predicted value the model was unsure of (under ``unsure_below``), as the CLI's.
UNSURE_FG = "#c08000"


def local_rows(view: SessionView) -> list[LocalRow]:
    """The current step's locals: the predicted frame's names in order, then those only the real run has."""
    i = view.index
    predicted = view.current
    real_index = view.real_index
    real = view.real_frame(i)
    r_changed = view.real_changed(real_index) if real is not None and real_index is not None else frozenset()
    return rows_of(predicted, real, view.changed(i), r_changed)


def lines_marked(view: SessionView) -> tuple[int | None, int | None]:
    """(the predicted current line, the real run's line at the aligned step)."""
    cur = view.current
    real = view.real_frame(view.index)
    return (cur.line if cur is not None else None, real.line if real is not None else None)


def source_html(source: str, predicted_line: int | None, real_line: int | None) -> str:
    """The source with line numbers, the predicted line marked ▶ (blue) and the real one ● (green)."""
    rows = []
    lines = source_lines(source)
    if len(lines) > 1 and lines[-1] == "" and source.endswith("\n"):
        lines = lines[:-1]  # the empty "line" after the last newline
    for n, text in enumerate(lines, 1):
        p, r = n == predicted_line, n == real_line
        mark = ("▶" if p else " ") + ("●" if r else " ")
        style = ""
        if p and r:
            style = f"background: linear-gradient(90deg, {PREDICTED_BG}, {REAL_BG});"
        elif p:
            style = f"background: {PREDICTED_BG};"
        elif r:
            style = f"background: {REAL_BG};"
        cls = " ".join(c for c, on in (("nd-predicted", p), ("nd-real", r)) if on)
        rows.append(f'<div class="nd-line {cls}" data-line="{n}" style="{style}">'
                    f'<span style="opacity:.55">{n:>4} {mark} </span>{html.escape(strip_marker(text))}</div>')
    return ('<pre class="nd-source" style="margin:0; padding:4px 0; font-size:12px; line-height:1.35; '
            f'max-height:28em; overflow:auto">{"".join(rows) or "&nbsp;"}</pre>')


def _cell(text: str | None, changed: bool, differs: bool = False, confidence: float | None = None,
          unsure_below: float | None = None) -> str:
    """One value's cell; a predicted value's confidence is its tooltip, and an unsure one ends in
    the unsure mark (``confidence.unsure``)."""
    if text is None:
        return '<td style="opacity:.45">—</td>'
    style = "font-family: monospace; padding: 1px 8px;"
    if changed:
        style += f" background: {CHANGED_BG}; font-weight: bold;"
    if differs:
        style += f" color: {DIFFERS_FG};"
    title = f' title="{sure_text(confidence)}"' if confidence is not None else ""
    mark = (f'<span class="nd-unsure" style="color: {UNSURE_FG}; opacity: .8">{UNSURE_MARK}</span>'
            if unsure_below is not None and unsure(confidence, unsure_below) else "")
    return f'<td style="{style}"{title}>{html.escape(text)}{mark}</td>'


def locals_html(rows: list[LocalRow], has_real: bool, unsure_below: float | None = None) -> str:
    """The locals side by side: predicted, real; a changed value highlighted, a predicted value
    that differs from the real one in red, one the model was unsure of marked."""
    head = "<tr><th style='text-align:left'>name</th><th style='text-align:left'>predicted</th>" + \
        ("<th style='text-align:left'>real</th>" if has_real else "") + "</tr>"
    body = []
    for row in rows:
        cells = f"<td style='font-family: monospace; padding: 1px 8px'>{html.escape(row.name)}</td>" + \
            _cell(row.predicted, row.predicted_changed, row.differs, row.confidence, unsure_below)
        if has_real:
            cells += _cell(row.real, row.real_changed)
        body.append(f'<tr class="nd-local" data-name="{html.escape(row.name)}">{cells}</tr>')
    if not body:
        body.append(f"<tr><td colspan='{3 if has_real else 2}' style='opacity:.6'>no locals</td></tr>")
    return f'<table class="nd-locals" style="border-collapse: collapse">{head}{"".join(body)}</table>'


def describe_end(end: End) -> str:
    """How a trace ended, in a few words: 'returned 6', 'raised ValueError(...)', or its message."""
    if end.reason == "returned":
        return f"returned {end.value}" if end.value is not None else "returned"
    if end.reason == "raised":
        return f"raised {end.value}" if end.value is not None else "raised an exception"
    return end.message or end.reason.replace("_", " ")


def real_text(view: SessionView, run_real: bool) -> str:
    """How the real run went, in a few words."""
    if view.real is None:
        return view.real_note or ("off (--no-run)" if not run_real else "not run")
    text = describe_end(view.real.end)
    note = view.real_note
    return f"{text} ({note.rstrip('.')})" if note and note not in text else text


def frame_text(f: Frame | None) -> str:
    if f is None:
        return "before the first frame"
    where = f"line {f.line}" if f.line is not None else "no line"
    event = "" if f.event == "line" else f"{f.event} "
    what = f" → {f.arg}" if f.event in ("return", "exception") and f.arg is not None else ""
    cut = f" [malformed: {f.malformed}]" if f.malformed else ""
    return f"{event}at {where}{what}{cut}"


def header_html(view: SessionView, run_real: bool) -> str:
    """The title line: the call, the step, the frame; how the prediction and the real run ended."""
    call = call_text(view.entry, view.call, "…")
    total = f"{len(view.frames)}" + ("" if view.ended else "+")
    step = f"step {view.index + 1} of {total}"
    pieces = [f"<b>{html.escape(call)}</b>", html.escape(step), html.escape(frame_text(view.current))]
    if view.ended:
        pieces.append("predicted: " + html.escape(describe_end(view.end)))
    pieces.append("real: " + html.escape(real_text(view, run_real)))
    return '<div class="nd-header">' + " · ".join(pieces) + "</div>"


def divergence_sentence(view: SessionView) -> str:
    """The first divergence from the real run, in one sentence (or why there is none)."""
    if view.real is None:
        return "There is no real run to compare with."
    d = view.divergence
    if d is not None:
        return d.message
    if view.ended:
        return "The prediction and the real run agree at every step."
    return "No divergence from the real run so far."


def divergence_frame(view: SessionView) -> int | None:
    """The predicted frame at the first divergence (its last frame when the divergence is that the
    prediction ended early); None without a divergence so far."""
    d = view.divergence
    if d is None or view.comparison is None:
        return None
    rows = view.comparison.rows
    row = rows[d.step] if 0 <= d.step < len(rows) else None
    if row is not None and row.predicted is not None:
        for i, f in enumerate(view.frames):
            if f is row.predicted:
                return i
    return min(d.step, len(view.frames) - 1) if view.frames else None


def speed_text(view: SessionView) -> str:
    """'12.3 frames/s' (and forwards per frame), or '' before the model predicted a frame."""
    fps = view.speed.frames_per_s
    if fps is None:
        return ""
    fpf = view.speed.forwards_per_frame
    return f"{fps:.1f} frames/s" + (f", {fpf:.1f} forwards/frame" if fpf is not None else "")
