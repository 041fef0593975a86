"""What the debugger UI shows of a session, as pure functions of a snapshot (no protocol state).

The snapshot is the front ends' one view of a session (:class:`neurodebug.view.SessionView`),
taken when an operation ends in the thread that ran it, so that stack, scopes and variables
requests read one consistent state while the next prediction runs.
"""

from __future__ import annotations

from neurodebug.trace.context import CALL_ENTRY
from neurodebug.trace.frames import Frame, changed_names
from neurodebug.errors import UserError
from neurodebug.view import SessionView, alternatives_text, sure_text
from neurodebug.trace.context import call_text


def call_stack(frames: tuple[Frame, ...] | list[Frame], index: int) -> list[int]:
    """Indices of the frames on the predicted call stack at ``index``, innermost first: the frame
    itself, then for each caller the last frame it had before the call (the line that called)."""
    if not 0 <= index < len(frames):
        return []
    stack = [index]
    depth = frames[index].depth
    for j in range(index - 1, -1, -1):
        if depth <= 0:
            break
        if frames[j].depth < depth and frames[j].event in ("call", "line"):
            stack.append(j)
            depth = frames[j].depth
    return stack


def frame_name(frame: Frame, entry: str, call: str | None = None) -> str:
    """A frame's name in the call stack: its function's, or the call expression (``call``) for
    the function a call expression runs in."""
    name = frame.func or entry
    if name == CALL_ENTRY and call:
        name = call
    if frame.malformed:
        return f"{name} (malformed frame: {frame.malformed})"
    if frame.event in ("return", "exception"):
        return f"{name} ({frame.event} {frame.arg})"
    return name


def runnable_lines(source: str) -> frozenset[int]:
    """Lines of ``source`` a trace can stop on: every line with code in a function or class body
    (the def line included: the call frame names it); empty when the source does not compile."""
    from neurodebug.constrain.flow import traced_code

    codes = traced_code(source) or []
    return frozenset(line for code in codes for _, _, line in code.co_lines() if line is not None)


def not_runnable(line: int) -> str:
    return (f"Line {line} runs no code in a trace (a blank line, a comment, or code outside the "
            f"functions); put the breakpoint on a line of a function.")


def exception_of(frame: Frame) -> tuple[str, str]:
    """(type name, sentence) of a predicted exception frame: ``ZeroDivisionError('x')`` -> the name."""
    value = frame.arg or ""
    name = value.split("(", 1)[0].strip() or "Exception"
    return name, f"The model predicts that line {frame.line} raises {value}."


def threshold(condition: str | None) -> float | None:
    """The "unsure" filter's condition as a probability; None when empty; UserError otherwise."""
    if not condition:
        return None
    try:
        value = float(condition)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise UserError(f"The condition of 'Where the model is unsure' must be a probability from 0 to 1, not {condition!r}.")
    return value


def hover_note(session, stop: SessionView, i: int, expression: str) -> str:
    """What a hover adds after a predicted local's value: how sure the model was of it and its
    alternatives ('' for anything else, or when the model gives neither)."""
    name = expression.strip()
    f = stop.frames[i]
    sure = (f.locals_confidence or {}).get(name)
    if not name.isidentifier() or name not in f.locals or sure is None:
        return ""
    try:
        alternatives = session.alternatives(i, name)
    except UserError:
        alternatives = []
    also = [a for a in alternatives if a.value != f.locals[name]]
    return f"   ({sure_text(sure)}" + (f"; also {alternatives_text(also)})" if also else ")")


def data_id(func: str, name: str) -> str:
    """A data breakpoint's dataId: the local ``name`` of the function ``func``."""
    return f"{func}:{name}"


def watched(data_id: str | None) -> tuple[str, str] | None:
    """(function, local) of a dataId, None when it is not one."""
    func, sep, name = (data_id or "").partition(":")
    return (func, name) if sep and func and name.isidentifier() else None


def changes(frames, i: int, data_id: str) -> bool:
    """Predicted frame ``i`` holds a new value of the watched local: a line frame of its function
    whose value differs from the previous step of that call (a first assignment counts)."""
    func, name = watched(data_id)
    f = frames[i]
    return f.event == "line" and (f.func or "") == func and name in changed_names(frames, i)


def changed_sentence(frames, i: int, data_ids: list[str]) -> str:
    """'k changed to 2.' for the stopped event of a data breakpoint."""
    f = frames[i]
    parts = [f"{name} changed to {f.locals.get(name)}" for name in (watched(d)[1] for d in data_ids)]
    return "; ".join(parts) + "."


def summary(stop: SessionView) -> str:
    """What the prediction came to, in a few lines for the debug console."""
    if stop.call is None:  # the model proposed no arguments
        shown = stop.entry
    else:
        shown = stop.call if stop.call.startswith(f"{stop.entry}(") else call_text(stop.entry, stop.call)
    n = len(stop.frames)
    lines = [f"Predicted {n} frame{'s' if n != 1 else ''} of {shown}: {stop.end.message or stop.end.reason}"]
    if stop.real is not None:
        real = stop.real.end
        lines.append(f"The real run: {real.message or real.reason}" if real is not None else "The real run: none.")
        if stop.divergence is not None:
            lines.append(f"First divergence: {stop.divergence.message}")
        else:
            lines.append("The prediction agrees with the real run.")
        m = stop.comparison.metrics if stop.comparison is not None else None
        if m is not None and m.state_exact is not None:
            lines.append(f"State exact {100 * m.state_exact:.1f}%, action exact {100 * (m.action_exact or 0):.1f}% "
                         f"over {m.n_real} real frames.")
        lines += stop.segment_sentences()
    elif stop.real_note:
        lines.append(stop.real_note)
    return "\n".join(lines) + "\n"
