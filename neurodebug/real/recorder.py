"""The recorder: ``sys.settrace`` hooks that turn a running function into CWM frames.

Runs inside the child process of a real run (:mod:`neurodebug.real.sandbox`), on every event
of the traced code, so it is written for speed and never raises into it. Where the format
leaves a point open, the recorder follows :mod:`neurodebug.trace.format`; docs/trace-format.md
says what each choice is and why.
"""

from __future__ import annotations

import sys
from itertools import repeat
from operator import is_
from typing import Callable

from neurodebug.real.objects import CONTAINERS, OBJECT_MARK, keeps_object_repr, object_text
from neurodebug.trace.format import ADDRESS_RE, MAX_REPR_CHARS, REPR_CUT, RETURN_AFTER_EXCEPTION, SKIPPED_SCOPES
from neurodebug.trace.source import INLINE_COMPREHENSIONS, comprehension_names, comprehension_spans, offsets_in_spans

#: Generator functions from the traced file get frames (each resume = call frame, each
#: yield = return frame); False would make them single steps like library code.
TRACE_GENERATORS = True

#: Added to the end message when recording stopped at the recursion limit.
RECURSION_NOTE = " (recording stopped at the recursion limit)"

#: Shown instead of a value whose ``__repr__`` raised.
REPR_FAILED = "<repr failed: {}>"


# -- repr with limits (runs in the child, on every line) -------------------------------------------

_SEQUENCES = {list: ("[", "]"), tuple: ("(", ")")}
_SETS = {set: ("{", "}"), frozenset: ("frozenset({", "})")}


def _head_repr(v, limit: int) -> str | None:
    """A repr prefix longer than ``limit`` for a big built-in container or string, else None.

    Only exact built-in types, whose repr is known to be the join of their items' reprs.
    None means "use repr()" (small, or a case where the prefix would not be exact).
    """
    t = type(v)
    # items enough to pass the limit: an item and its separator take at least 3 characters
    # (a dict item at least 6); fewer items than that go through plain repr()
    n = limit // (6 if t is dict else 3) + 2
    if len(v) < n:
        return None
    if t is str or t is bytes or t is bytearray:
        if len(v) <= limit:
            return None
        head = v[: limit + 2]
        # repr picks its quote from the whole string; the prefix is exact if the choice agrees
        if (b"'" in head if t is not str else "'" in head) == (b"'" in v if t is not str else "'" in v) and (
            (b'"' in head if t is not str else '"' in head) == (b'"' in v if t is not str else '"' in v)
        ):
            return repr(head)[:-2 if t is bytearray else -1]
        return None
    if t in _SEQUENCES:
        # guess from the first items how many make ``limit`` characters; n always does
        probe = v[:8]
        if any(map(is_, probe, repeat(v))):
            return None
        k = min(n, int(limit / max(1.0, (len(repr(probe)) - 1) / 8) * 1.25) + 8)
        for k in (k, n) if k < n else (n,):
            head = v[:k]  # a slice has the type's own repr, minus the closing bracket
            if any(map(is_, head, repeat(v))):
                return None  # it contains itself: repr(head) would not be a prefix
            r = repr(head)[:-1]
            if len(r) > limit:
                return r
        return None
    if t is dict:
        parts = []
        for k, x in v.items():
            if x is v:
                return None
            parts.append(f"{k!r}: {x!r}")
            if len(parts) >= n:
                break
        return "{" + ", ".join(parts)
    if t in _SETS:
        parts = []
        for x in v:
            parts.append(repr(x))
            if len(parts) >= n:
                break
        return _SETS[t][0] + ", ".join(parts)
    return None


def _near_recursion_limit() -> bool:
    depth, f = 0, sys._getframe()
    while f is not None:
        depth, f = depth + 1, f.f_back
    return depth > sys.getrecursionlimit() - 60


_GENERATOR_FLAGS = 0x20 | 0x80 | 0x200  # CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR (inspect is slow to import)

_CO_ASYNC_GENERATOR = 0x200


def _async_yielded(arg):
    """The value an async generator yields: settrace's return event at its ``yield`` carries it
    in CPython's internal wrapper, which Python code can only open through the garbage collector."""
    if type(arg).__name__ == "async_generator_wrapped_value":
        import gc

        inside = gc.get_referents(arg)
        if len(inside) == 1:
            return inside[0]
    return arg


_BIG = frozenset({str, bytes, bytearray, list, tuple, dict, set, frozenset})


def safe_repr(v, limit: int) -> str:
    """``repr(v)``, cut to ``limit`` characters plus REPR_CUT; never raises.

    An object whose class has no ``__repr__`` is written with its attributes instead
    (``Stack(items=[1, 2])``, :mod:`neurodebug.real.objects`), also inside a built-in container.
    """
    try:
        if keeps_object_repr(type(v)):
            r = object_text(v, limit, REPR_FAILED)
        else:
            r = None
            if type(v) in _BIG and len(v) * 3 > limit:
                r = _head_repr(v, limit)
                if r is not None and len(r) <= limit:
                    r = None
            if r is None:
                r = repr(v)
            if type(v) in CONTAINERS and OBJECT_MARK in r:
                r = object_text(v, limit, REPR_FAILED)
    except RecursionError:
        if _near_recursion_limit():
            raise  # the traced code is at the limit: let Recorder hand the error to it
        return REPR_FAILED.format("RecursionError")
    except BaseException as e:  # noqa: BLE001
        return REPR_FAILED.format(type(e).__name__)
    if len(r) > limit:
        return r[:limit] + REPR_CUT
    return r


# -- the recorder (the sys.settrace hooks; runs in the child) ---------------------------------------




class Recorder:
    """Records frames of project code through ``sys.settrace``: the traced file's, and with
    ``traced_file`` the other files of its project (calls into them are traced like calls within
    the file, while the standard library and installed packages stay single steps).

    Each frame is handed to ``emit`` as soon as it is recorded, as a message
    ``[event, line, depth, func, locals, keys, arg, file]`` (``file``: the code's file name, on
    ``call`` messages only; the sandbox writes it to a pipe at
    once, so that a child killed later loses nothing). To keep the hot path lean, a ``line``
    message carries only the locals whose repr changed since the previous frame of the same
    function activation, and ``keys`` (the full list of names) only when the set of names
    changed; :class:`LocalsDecoder` rebuilds full locals. ``call`` messages carry all
    locals; ``return``/``exception`` messages none, and the value in ``arg``.
    ``on_limit`` is called (and must not return) when frame ``max_frames + 1`` is due.
    """

    def __init__(self, filename: str, emit: Callable[[list], None], max_repr: int = MAX_REPR_CHARS,
                 max_frames: int | None = None, on_limit: Callable[[], None] | None = None,
                 return_after_exception: bool = RETURN_AFTER_EXCEPTION, trace_generators: bool = TRACE_GENERATORS,
                 source: str | None = None, traced_file: Callable[[str], bool] | None = None):
        self.filename = filename
        self.traced_file = traced_file or (lambda name: False)
        # Python 3.12+ runs list/set/dict comprehensions inline (PEP 709): their loop reports
        # line events in the enclosing frame. Those are dropped so that a trace reads the same as
        # on 3.11, where the comprehension is a frame of its own (SKIPPED_SCOPES).
        self._comp_spans = comprehension_spans(source) if INLINE_COMPREHENSIONS and source else ()
        self._comp_names = comprehension_names(source) if self._comp_spans else frozenset()
        self._comp_offsets: dict = {}  # code object -> byte offsets of instructions inside a comprehension
        self._in_comp: dict = {}  # frame -> its last recorded line, while in a comprehension's loop
        self._line_of: dict = {}  # frame -> line of its last line event (only kept with _comp_spans)
        self.return_after_exception = return_after_exception
        self.trace_generators = trace_generators
        self._raising = None  # the frame whose last event was an exception
        self.emit = emit
        self.max_repr = max_repr
        self.max_frames = max_frames if max_frames is not None else sys.maxsize
        self.on_limit = on_limit
        self.count = 0
        self.lost: str | None = None  # why recording stopped early, if it did
        self.level = 0  # traced frames currently active
        self._traced: dict = {}  # code object -> bool
        self._last: dict = {}  # frame -> (reprs of its last frame, the str/bytes objects behind them)
        self._addresses: dict[str, str] = {}  # memory address -> its stable label (format.ADDRESS_RE)

    def start(self) -> None:
        sys.settrace(self.global_trace)

    def stop(self) -> None:
        sys.settrace(None)

    def _locals(self, frame, last: tuple | None) -> tuple[dict, dict]:
        """(name -> repr, name -> str/bytes object) of the frame; unchanged strings are not re-repr'd."""
        limit = self.max_repr
        reprs, objs = {}, {}
        old_reprs, old_objs = last if last is not None else ({}, {})
        for k, v in frame.f_locals.items():
            t = type(v)
            if t is str or t is bytes:
                objs[k] = v
                if old_objs.get(k) is v:
                    reprs[k] = old_reprs[k]
                    continue
            reprs[k] = self._stable(safe_repr(v, limit))
        return reprs, objs

    def _stable(self, text: str) -> str:
        """``text`` with each memory address replaced by its label in this run (format.ADDRESS_RE)."""
        return ADDRESS_RE.sub(self._label, text) if " at 0x" in text else text

    def _label(self, match) -> str:
        return self._addresses.setdefault(match.group(), f"0x{len(self._addresses) + 1:x}")

    def _record(self, event: str, frame, depth: int, arg, hide=()) -> None:
        self.count += 1
        if self.count > self.max_frames:
            self.stop()
            frame.f_trace = None
            if self.on_limit is not None:
                self.on_limit()
            return
        code = frame.f_code
        try:
            if event == "line":
                last = self._last.get(frame)
                state = self._locals(frame, last)
                for name in hide:
                    state[0].pop(name, None)
                    state[1].pop(name, None)
                reprs = state[0]
                self._last[frame] = state
                if last is None:
                    self.emit([event, frame.f_lineno, depth, code.co_name, reprs, list(reprs), None, None])
                else:
                    old = last[0]
                    changed = {k: r for k, r in reprs.items() if old.get(k) is not r and old.get(k) != r}
                    keys = None if reprs.keys() == old.keys() else list(reprs)
                    self.emit([event, frame.f_lineno, depth, code.co_name, changed, keys, None, None])
            elif event == "call":
                state = self._locals(frame, None)
                self._last[frame] = state
                self.emit([event, frame.f_lineno, depth, code.co_name, state[0], None, None, code.co_filename])
            else:  # return / exception: no locals, the value instead
                if event == "return":
                    self._last.pop(frame, None)
                    if code.co_flags & _CO_ASYNC_GENERATOR:
                        arg = _async_yielded(arg)
                self.emit([event, frame.f_lineno, depth, code.co_name, {}, None, self._stable(safe_repr(arg, self.max_repr)), None])
        except RecursionError:
            # The traced code is at the recursion limit and this hook is the call that overflows.
            # Raising here makes Python remove the hook and raise RecursionError in the traced
            # code, about where it would without tracing; the trace ends with the frames so far.
            self.lost = "recursion"
            raise RecursionError("maximum recursion depth exceeded") from None
        except MemoryError:
            try:  # record the step without its values
                self._last[frame] = ({}, {})
                self.emit([event, frame.f_lineno, depth, code.co_name, {}, [], None, code.co_filename if event == 'call' else None])
            except MemoryError:
                pass

    def global_trace(self, frame, event, arg):
        code = frame.f_code
        ok = self._traced.get(code)
        if ok is None:
            ok = self._traced[code] = (
                (code.co_filename == self.filename or self.traced_file(code.co_filename))
                and code.co_name not in SKIPPED_SCOPES
                and (self.trace_generators or not code.co_flags & _GENERATOR_FLAGS)
            )
        if not ok:
            return None
        depth = self.level
        self.level += 1
        if self._comp_spans:
            self._line_of[frame] = frame.f_lineno
        self._record("call", frame, depth, None)
        return self.local_trace

    def _inside_comprehension(self, frame) -> bool:
        code = frame.f_code
        offsets = self._comp_offsets.get(code)
        if offsets is None:
            offsets = self._comp_offsets[code] = offsets_in_spans(code, self._comp_spans)
        return frame.f_lasti in offsets

    def local_trace(self, frame, event, arg):
        if event == "line":
            self._raising = None
            if self._comp_spans:
                if self._inside_comprehension(frame):
                    self._in_comp.setdefault(frame, self._line_of.get(frame))
                    return self.local_trace
                back = self._in_comp.pop(frame, 0)
                if back == frame.f_lineno:  # a multi-line comprehension ended: back on its line
                    return self.local_trace
                self._line_of[frame] = frame.f_lineno
                if back != 0:
                    # Just out of a multi-line comprehension, whose loop variables may not be
                    # cleared yet: they were never locals of this frame on 3.11.
                    last = self._last.get(frame)
                    hide = self._comp_names.difference(last[0] if last else ())
                    self._record("line", frame, self.level - 1, None, hide)
                    return self.local_trace
            self._record("line", frame, self.level - 1, None)
        elif event == "return":
            self.level -= 1
            if self._comp_spans:
                self._line_of.pop(frame, None)
                self._in_comp.pop(frame, None)
            if self._raising is frame and arg is None and not self.return_after_exception:
                self._raising = None
                self._last.pop(frame, None)
            else:
                self._record("return", frame, self.level, arg)
        elif event == "exception":
            self._raising = frame
            self._record("exception", frame, self.level - 1, arg[1])
        return self.local_trace


class LocalsDecoder:
    """Rebuilds full locals from Recorder messages (the inverse of its diff), in order."""

    def __init__(self):
        self._stack: list[dict[str, str]] = []  # last full locals per depth
        self._files: list[str | None] = []  # the file of the function visit at each depth

    def decode(self, msg: list) -> tuple[str, int, int, str, dict[str, str], str | None, str | None]:
        """(event, line, depth, func, full locals, arg, file name) of one message."""
        event, line, depth, func, loc, keys, arg, file = msg
        stack = self._stack
        if event == "call":
            del self._files[depth:]
            self._files.extend(None for _ in range(depth - len(self._files)))
            self._files.append(file)
        else:
            file = self._files[depth] if depth < len(self._files) else None
        if event == "call":
            del stack[depth:]
            stack.extend({} for _ in range(depth - len(stack)))
            stack.append(loc)
        elif event == "line":
            prev = stack[depth] if depth < len(stack) else {}
            if keys is None:
                loc = {k: loc[k] if k in loc else v for k, v in prev.items()}
            else:
                loc = {k: loc[k] if k in loc else prev.get(k, "") for k in keys}
            del stack[depth:]
            stack.extend({} for _ in range(depth - len(stack)))
            stack.append(loc)
        else:
            loc = {}
        return event, line, depth, func, loc, arg, file
