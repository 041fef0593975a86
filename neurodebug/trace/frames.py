"""The one data model of neurodebug: a Frame of execution and a Trace of frames.

Both the real tracer and the model's parsed predictions produce these. Locals are
always stored *resolved* (every value written in full, as Python's repr string);
the wire form with the ``".."`` placeholder (docs/trace-format.md, "The diff rule") is
derived on demand by :func:`wire_locals`, never stored beside it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

EVENTS = ("call", "line", "return", "exception")

#: The placeholder for an unchanged value in a ``line`` frame's wire-form locals.
UNCHANGED = ".."


@dataclass
class Frame:
    """One observation + action of an execution trace.

    event:     'call' | 'line' | 'return' | 'exception'
    line:      1-based line number in the traced source; None when unknown (malformed).
    source:    the source text of the line, with its indentation, no trailing newline.
    locals:    name -> repr string, fully resolved (no ".."); empty on return/exception frames.
    arg:       the return value / exception repr on 'return' and 'exception' frames, else None.
    depth:     call depth; the entry function's frames are depth 0, its callees 1, ...
    func:      name of the function the frame belongs to, when known.
    malformed: None for a well-formed frame, else a short reason (bad JSON, unknown line, cut off).
    file:      the file the line is in, relative to the project root ('/'-separated); None when
               the trace is of a source with no file (a string, a notebook cell).
    confidence:        predicted frames: the probability the model gave to what it wrote, under
                       the constraints decoding used; None for real frames or when unknown.
    locals_confidence: predicted frames: name -> that probability for each value written in full.
    """

    event: str
    line: int | None
    source: str
    locals: dict[str, str] = field(default_factory=dict)
    arg: str | None = None
    depth: int = 0
    func: str | None = None
    malformed: str | None = None
    file: str | None = None
    confidence: float | None = None
    locals_confidence: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Frame":
        return cls(
            event=d["event"],
            line=d.get("line"),
            source=d.get("source", ""),
            locals=dict(d.get("locals") or {}),
            arg=d.get("arg"),
            depth=int(d.get("depth", 0)),
            func=d.get("func"),
            malformed=d.get("malformed"),
            file=d.get("file"),
            confidence=d.get("confidence"),
            locals_confidence=d.get("locals_confidence"),
        )


@dataclass
class End:
    """How a trace ended.

    reason is one of:
      real runs:   'returned', 'raised', 'timeout', 'cpu_limit', 'frame_limit', 'memory_limit',
                   'exited' (sys.exit / os._exit), 'crashed', 'syntax_error', 'no_such_function',
                   'bad_call', 'import_error'
      predictions: 'end_of_text' (the model closed the trace), 'frame_cap', 'token_cap',
                   'malformed', 'cancelled', 'open' (not finished yet)
    message: one sentence for the user.
    value:   the return value / exception repr when there is one.
    line:    a line number that the end refers to (syntax error, exception), when known.
    """

    reason: str
    message: str = ""
    value: str | None = None
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "End":
        return cls(reason=d["reason"], message=d.get("message", ""), value=d.get("value"), line=d.get("line"))


#: End reasons meaning the trace was recorded normally (whatever the traced code did).
RECORDED = {"returned", "raised", "exited", "timeout", "cpu_limit", "frame_limit", "memory_limit", "crashed"}


@dataclass
class Trace:
    """A whole execution: the source, the entry function, the call, its frames and its end."""

    source: str
    entry: str
    call: str | None
    frames: list[Frame] = field(default_factory=list)
    end: End = field(default_factory=lambda: End("open"))
    stdout: str = ""
    stderr: str = ""

    # -- JSON -------------------------------------------------------------------------------
    def to_json_dict(self, wire: bool = True) -> dict[str, Any]:
        """The JSON form used by the CLI and the front ends.

        With ``wire=True`` each frame's ``locals`` is CWM's wire form (with ".."), as
        `neurodebug trace --json` prints it; with ``wire=False`` locals are resolved.
        """
        wl = wire_locals(self.frames) if wire else [f.locals for f in self.frames]
        frames = []
        for f, loc in zip(self.frames, wl):
            d = {
                "event": f.event,
                "line": f.line,
                "source": f.source,
                "locals": loc,
                "arg": f.arg,
                "depth": f.depth,
                "func": f.func,
                "file": f.file,
            }
            if f.malformed:
                d["malformed"] = f.malformed
            if f.confidence is not None:
                d["confidence"] = f.confidence
            if f.locals_confidence is not None:
                d["locals_confidence"] = f.locals_confidence
            frames.append(d)
        return {
            "source": self.source,
            "entry": self.entry,
            "call": self.call,
            "frames": frames,
            "end": self.end.to_dict(),
            "stdout": self.stdout,
            "stderr": self.stderr,
        }

    def to_json(self, wire: bool = True, **kw) -> str:
        return json.dumps(self.to_json_dict(wire=wire), ensure_ascii=False, **kw)

    @classmethod
    def from_json_dict(cls, d: dict[str, Any]) -> "Trace":
        raw = [Frame.from_dict(f) for f in d.get("frames", [])]
        frames = resolve_locals(raw)
        return cls(
            source=d.get("source", ""),
            entry=d.get("entry", ""),
            call=d.get("call"),
            frames=frames,
            end=End.from_dict(d["end"]) if d.get("end") else End("open"),
            stdout=d.get("stdout", ""),
            stderr=d.get("stderr", ""),
        )

    @classmethod
    def from_json(cls, text: str) -> "Trace":
        return cls.from_json_dict(json.loads(text))

    @property
    def return_value(self) -> str | None:
        """The entry function's return value repr, if the trace returned."""
        for f in reversed(self.frames):
            if f.event == "return" and f.depth == 0:
                return f.arg
        return None


# -- the diff rule ------------------------------------------------------------------------------


def diff_base(before: Sequence[Frame], depth: int) -> Frame | None:
    """The frame whose locals a ``line`` frame at ``depth`` after ``before`` is diffed against.

    The latest frame before it, passing exception frames (an exception caught in the same
    function is not a scope change), when that is a call/line frame of the same depth; None after
    a scope change (a callee's return) or at the start: then every value is written in full.
    """
    return _base(before, len(before), depth, past_callees=False)


def _base(frames: Sequence[Frame], end: int, depth: int, past_callees: bool) -> Frame | None:
    """:func:`diff_base` of ``frames[:end]`` without copying it; with ``past_callees`` a callee's
    frames are passed too (the previous step of the same call, for :func:`changed_names`)."""
    for k in range(end - 1, -1, -1):
        prev = frames[k]
        if prev.event == "exception" or (past_callees and prev.depth > depth):
            continue
        return prev if prev.event in ("call", "line") and prev.depth == depth else None
    return None


def wire_locals(frames: Sequence[Frame]) -> list[dict[str, str]]:
    """Each frame's locals in CWM's wire form (docs/trace-format.md, "The diff rule").

    * call frames: every value in full;
    * line frames: a value whose repr equals the one in :func:`diff_base` is ".."; with no
      base (the first frame back in a caller) every value is written in full;
    * return/exception frames: no locals.
    """
    out: list[dict[str, str]] = []
    for i, f in enumerate(frames):
        base = diff_base(frames[:i], f.depth) if f.event == "line" else None
        if base is not None:
            out.append({k: (UNCHANGED if base.locals.get(k) == v else v) for k, v in f.locals.items()})
        else:
            out.append(dict(f.locals) if f.event in ("call", "line") else {})
    return out


def unchanged_keys(before: Sequence[Frame], depth: int) -> frozenset[str]:
    """The keys a ``line`` frame at ``depth`` after ``before`` may write as ".." (those of its
    :func:`diff_base`): what a decoder may allow so that every ".." it writes resolves."""
    base = diff_base(before, depth)
    return frozenset(k for k, v in base.locals.items() if v != UNCHANGED) if base is not None else frozenset()


def resolve_frame(frame: Frame, before: Sequence[Frame]) -> Frame:
    """``frame`` with each ".." replaced as Meta's reader (``cwmdbg``) resolves it.

    Walk back through the frames before it: the first that has the name gives its value;
    exception frames are passed; the walk stops after a call frame and at a return frame (a
    context change). A ".." that does not resolve is kept and marks the frame malformed.
    """
    if UNCHANGED not in frame.locals.values():
        return frame
    resolved, bad = {}, False
    for k, v in frame.locals.items():
        if v == UNCHANGED:
            v = _last_value(k, before)
            bad = bad or v is None
        resolved[k] = UNCHANGED if v is None else v
    frame = Frame(**{**frame.__dict__, "locals": resolved})
    if bad and not frame.malformed:
        frame.malformed = "unresolved '..'"
    return frame


def _last_value(name: str, before: Sequence[Frame]) -> str | None:
    for prev in reversed(before):
        v = prev.locals.get(name, UNCHANGED)
        if v != UNCHANGED:
            return v
        if prev.event in ("call", "return"):
            return None
    return None


def resolve_locals(frames: list[Frame]) -> list[Frame]:
    """Every frame with its ".." placeholders resolved (:func:`resolve_frame`); never raises."""
    resolved: list[Frame] = []
    for f in frames:
        resolved.append(resolve_frame(f, resolved))
    return resolved


# -- what a step changed ------------------------------------------------------------------------


def changed_since(before: Frame | None, after: Frame) -> frozenset[str]:
    """The locals ``after`` holds differently from ``before`` (all of them without one); a return
    or exception frame holds none."""
    if after.event not in ("call", "line"):
        return frozenset()
    old = before.locals if before is not None else {}
    return frozenset(k for k, v in after.locals.items() if old.get(k) != v)


def changed_names(frames: Sequence[Frame], i: int) -> frozenset[str]:
    """The locals that step ``i`` changed: new, or different from the previous step of the same call.

    What the front ends emphasise. Unlike the diff rule, a callee's frames are passed, so that
    once a callee returns only the values the caller's line changed stand out (the wire writes
    them all in full there). A call frame's locals are all new.
    """
    f = frames[i]
    base = _base(frames, i, f.depth, past_callees=True) if f.event == "line" else None
    return changed_since(base, f)
