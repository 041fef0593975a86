"""CWM's execution-trace format: its special tokens and the choices the format leaves open.

Each open point of the format (docs/trace-format.md) is decided here and nowhere else, so the
recorder that writes real traces, the codec that tokenizes them and the constraints that shape
predicted ones agree by construction. Imports nothing of neurodebug.
"""

from __future__ import annotations

import json
import re
from typing import Protocol, Sequence

# == The open points of the format (docs/trace-format.md), each decided here and nowhere else ===

#: The comment that marks the entry function's ``def`` line in the context (two spaces
#: before ``#``, as in Meta's demo).
START_MARKER = "  # << START_OF_TRACE"
#: The marker anywhere in a line (finding the entry) and at its end (stripping it).
START_OF_TRACE_RE = re.compile(r"#\s*<<\s*START_OF_TRACE")
TRAILING_MARKER_RE = re.compile(r"\s*#\s*<<\s*START_OF_TRACE\s*$")


def wire_source(line: str) -> str:
    """SOURCE as written after ``<|action_sep|>``: the line without the START_OF_TRACE marker,
    ending in a newline.

    Open point 1. Meta's demo strips the marker before looking a predicted line up ("usually not
    predicted by the model") and strips a trailing "\\n" from predicted lines, and trace
    prompts written for CWM end the seeded SOURCE with "\\n"; so the marker is left out and
    the line ends in "\\n". The parser accepts either form back.
    """
    return strip_marker(line.rstrip("\r\n")) + "\n"


def exception_value(exc: BaseException) -> str:
    """VALUE of an ``exception`` frame: the exception instance's repr (open point 2),
    e.g. ``ZeroDivisionError('division by zero')``."""
    try:
        return repr(exc)
    except Exception:  # a broken __repr__ on a user exception class
        return f"<{type(exc).__name__} object>"


#: Open point 3. When an exception leaves a function, ``sys.settrace`` reports an
#: ``exception`` event and then a ``return`` event with value None; the trace keeps both
#: (``return`` VALUE ``"None"``), so the return frame closes the scope as for a normal return,
#: and the caller then shows an ``exception`` frame at the calling line. The parser also copes
#: with traces that leave that return frame out (see FrameParser).
RETURN_AFTER_EXCEPTION = True

#: Open point 4. Code objects that get no frames of their own: the line that holds a
#: comprehension, lambda or generator expression is one step of the enclosing function (as
#: Python 3.12+ runs comprehensions inline), so traces read the same on every Python.
#: Functions of the traced file that they call are traced, one level deeper. Generator
#: functions keep settrace's frames: each resume is a ``call`` frame (at the ``def`` line,
#: later at the ``yield`` line), each ``yield`` a ``return`` frame with the yielded value.
SKIPPED_SCOPES = frozenset({"<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>", "<lambda>", "<module>"})

#: Open point 5. CWM documents no cap; one value's repr is cut to this many characters (the
#: tracer's default Limits.max_repr) followed by REPR_CUT, so one huge value cannot fill a
#: model's context.
MAX_REPR_CHARS = 1000
REPR_CUT = "...<cut>"


#: Open point 7. A default repr carries the object's memory address (``<function g at 0x7f3a...>``),
#: which differs from run to run, so a trace with one could never be predicted or reproduced.
#: The recorder writes the n-th distinct address of a run as ``0x{n:x}`` (``at 0x1``, ``at 0x2``):
#: the same object keeps its label within the run, and two runs give the same trace.
ADDRESS_RE = re.compile(r"(?<= at )0x[0-9a-fA-F]+(?=>)")


#: LOCALS and VALUE are written with json.dumps' defaults, as Meta's cwmdbg demo writes them:
#: separators ", " and ": ", and non-ASCII characters escaped (ensure_ascii=True).
JSON_OPTIONS: dict = {"ensure_ascii": True, "separators": (", ", ": ")}


def cut_value(text: str) -> str:
    """A value as a trace keeps it: at most MAX_REPR_CHARS characters, then REPR_CUT.

    The one rule for values in traces: the recorder cuts real reprs so (real.recorder.safe_repr
    at its default limit), a session cuts the call frame's argument reprs so, and the parser cuts
    a model's runaway value the same. A value already cut so stays as it is.
    """
    return text if len(text) <= MAX_REPR_CHARS else text[:MAX_REPR_CHARS] + REPR_CUT


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the last one an ellipsis when cut.

    The one way values are shortened for a person (a table cell, an inlay hint, a prompt line, a
    sentence); traces themselves are cut with :func:`cut_value`.
    """
    return text if len(text) <= width else text[: width - 1] + "…"


def dump_json(value) -> str:
    return json.dumps(value, **JSON_OPTIONS)


# == Tokens ====================================================================================


class TokenizerLike(Protocol):
    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: Sequence[int]) -> str: ...
    def special_id(self, name: str) -> int: ...


BOS = "<|begin_of_text|>"
EOT = "<|end_of_text|>"
FRAME_SEP = "<|frame_sep|>"
ACTION_SEP = "<|action_sep|>"
ARG_SEP = "<|arg_sep|>"
CONTEXT_START = "<|trace_context_start|>"
EVENT_TOKENS = {
    "call": "<|call_sep|>",
    "line": "<|line_sep|>",
    "return": "<|return_sep|>",
    "exception": "<|exception_sep|>",
}
#: Tokens that end a trace when generated in place of a frame (CWM's stop tokens).
END_TOKENS = (EOT, "<|eom_id|>", "<|eot_id|>")
TRACE_TOKENS = (BOS, EOT, FRAME_SEP, ACTION_SEP, ARG_SEP, CONTEXT_START, *EVENT_TOKENS.values())


def strip_marker(line: str) -> str:
    """``line`` without a trailing START_OF_TRACE comment."""
    return TRAILING_MARKER_RE.sub("", line)


def source_lines(source: str) -> list[str]:
    """Lines as Python numbers them (only \\n, \\r\\n and \\r end a line; str.splitlines also
    splits on form feeds and other characters that Python's line numbers do not count)."""
    return re.split(r"\r\n|\r|\n", source)


def norm_line(text: str) -> str:
    """A line as the parser matches it: no marker, no trailing whitespace."""
    return strip_marker(text.rstrip("\r\n")).rstrip()


