"""The real execution tracer: runs a Python function in a child process and records CWM frames.

``trace_file`` / ``trace_source`` execute the traced module (with ``__name__`` set to the
file's stem, never ``"__main__"``) in a sandboxed child process (see ``neurodebug.sandbox``),
call the entry function under ``sys.settrace`` there, and return a ``frames.Trace`` whose
frames follow TRACE_FORMAT.md: ``call`` / ``line`` / ``return`` / ``exception`` events, locals
as ``repr`` strings (stored resolved; ``frames.wire_locals`` derives the ``..`` wire form),
nested calls inline, and frames only for code from the traced source.

Choices this module makes where TRACE_FORMAT.md leaves the point open (each one also lives
in a named constant below, so it can be changed in one place):

* Comprehensions, lambdas and generator expressions (``SKIPPED_SCOPES``) get no frames of
  their own: the line that contains them is one step of the enclosing function. Python 3.12+
  runs list/set/dict comprehensions inline (PEP 709), and its trace hook then reports a line
  event in the enclosing frame for every iteration, with the loop variable among the locals:
  those events are dropped (``INLINE_COMPREHENSIONS``), so a trace reads the same on every
  Python (checked against 3.13: 2,683 generated traces identical but for CPython's own
  wording of a few error messages). Functions from the traced file that they call are traced
  normally, one level deeper than the enclosing function.
* Generator functions from the traced file are traced as ``sys.settrace`` reports them
  (``TRACE_GENERATORS``): every resumption is a ``call`` frame (all locals in full; its
  source is the ``def`` line the first time, the ``yield`` line on later resumptions),
  every ``yield`` is a ``return`` frame whose value is the yielded value, and the final
  exhaustion is a ``return`` frame with ``None``.
* An exception's VALUE is the ``repr`` of the exception instance (``ValueError('bad')``).
* An exception that propagates out of a function gives what settrace reports
  (``RETURN_AFTER_EXCEPTION``): an ``exception`` frame at the raising line, then a
  ``return`` frame on the same line whose value is ``"None"``, then an ``exception`` frame
  in the caller at the calling line.
* An ``async def`` entry is run with ``asyncio.run``; its coroutine frames are recorded
  like generator frames (each resumption a ``call``, each suspension a ``return``).
  Threads started by the traced code are not traced.
* A ``call`` frame's source is the ``def`` line, also for decorated functions (Python
  reports the first decorator line there).
* At the recursion limit, the tracer's own hook is the call that overflows: Python then
  removes the hook and raises RecursionError in the traced code (a few frames earlier than
  without tracing). The trace keeps every frame up to there, ends with that RecursionError
  (``raised``), and its end message says that recording stopped there
  (``RECURSION_NOTE``); the unwinding frames are not recorded.
* A repr longer than ``Limits.max_repr`` characters is cut to that length and ``REPR_CUT``
  is appended; a ``__repr__`` that raises gives ``<repr failed: ExceptionName>``.
  Large built-in containers and strings are rendered only as far as needed, so a
  100-million-element list costs no more to record than a short one.
"""

from __future__ import annotations

import ast
import builtins
import os
import re
import sys
from dataclasses import asdict, dataclass
from itertools import repeat
from operator import is_
from typing import Callable

from neurodebug.errors import UserError
from neurodebug.frames import End, Frame, Trace

# The trace format's open points live in one place, the codec; the recorder follows them.
from neurodebug.codec import MAX_REPR_CHARS, REPR_CUT, RETURN_AFTER_EXCEPTION, SKIPPED_SCOPES  # noqa: E402

#: Generator functions from the traced file get frames (each resume = call frame, each
#: yield = return frame); False would make them single steps like library code.
TRACE_GENERATORS = True

#: Added to the end message when recording stopped at the recursion limit.
RECURSION_NOTE = " (recording stopped at the recursion limit)"

#: Shown instead of a value whose ``__repr__`` raised.
REPR_FAILED = "<repr failed: {}>"

#: Appended to captured stdout/stderr cut at ``Limits.max_output`` bytes.
OUTPUT_CUT = "\n...<output cut: {} more bytes>"

#: The marker comment that names the entry function (TRACE_FORMAT.md, "Prompt").
MARKER_RE = re.compile(r"#\s*<<\s*START_OF_TRACE")
_DEF_RE = re.compile(r"^\s*(?:async\s+)?def\s+([^\W\d]\w*)\s*\(")
#: A ``# neurodebug: f(...)`` comment above a def gives the call to trace when none is passed.
CALL_COMMENT_RE = re.compile(r"^\s*#\s*neurodebug:\s*(.+?)\s*$")


@dataclass
class Limits:
    """Resource limits of one traced run; each has a CLI flag in `neurodebug trace`."""

    wall_s: float = 10.0  # wall-clock time, enforced by the parent (kills the child)
    cpu_s: float = 10.0  # CPU time (RLIMIT_CPU in the child)
    memory_mb: int = 1024  # address space (RLIMIT_AS in the child)
    max_frames: int = 10_000  # frames recorded before the trace is ended
    max_repr: int = MAX_REPR_CHARS  # characters of one repr before it is cut
    max_output: int = 65536  # bytes of captured stdout and of stderr, each


# -- user errors that become a Trace end ---------------------------------------------------------


class NoSuchFunction(UserError):
    """The entry function is missing (End reason 'no_such_function')."""


class BadCall(UserError):
    """The call expression is not usable (End reason 'bad_call')."""


# -- entry and call --------------------------------------------------------------------------------


def split_lines(source: str) -> list[str]:
    """The source's lines as Python numbers them (\\n, \\r\\n and \\r end a line; nothing else)."""
    return re.split(r"\r\n|\r|\n", source)


def find_entry(source: str) -> str | None:
    """The function whose ``def`` line carries ``# << START_OF_TRACE``, or None."""
    for text in split_lines(source):
        m = _DEF_RE.match(text)
        if m and MARKER_RE.search(text):
            return m.group(1)
    return None


def find_call_comment(source: str, entry: str) -> str | None:
    """The call written as ``# neurodebug: f(...)`` in the comment lines right above ``def entry``."""
    lines = split_lines(source)
    for i, text in enumerate(lines):
        m = _DEF_RE.match(text)
        if not m or m.group(1) != entry:
            continue
        j = i - 1
        while j >= 0 and lines[j].lstrip().startswith(("@", "#")):
            c = CALL_COMMENT_RE.match(lines[j])
            if c:
                return c.group(1)
            j -= 1
    return None


def _top_level_functions(tree: ast.Module) -> set[str]:
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _parse_call(text: str) -> ast.Call | None:
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return node if isinstance(node, ast.Call) else None


def _args_text(text: str, call: ast.Call) -> str:
    """The text between the parentheses of a call expression."""
    text = text.strip()
    lines = text.split("\n")
    # offset of the end of the callee (AST columns are UTF-8 byte offsets)
    line = lines[call.func.end_lineno - 1].encode()[: call.func.end_col_offset].decode(errors="replace")
    end = sum(len(s) + 1 for s in lines[: call.func.end_lineno - 1]) + len(line)
    inner = text[end:].strip()
    return inner[1:-1].strip()  # drop "(" and ")"


def resolve_call(source: str, entry: str | None, call: str | None) -> tuple[str, str]:
    """(entry, argument expression) for a run.

    ``call`` is an argument expression (``"'strawberry', 'r'"``) or a call expression
    (``"f('strawberry', 'r')"``). It counts as a call expression when it calls the given
    entry by name, or, with no entry given, a function defined at the top of ``source``.
    Without an entry the ``# << START_OF_TRACE`` marker names it. Without a call, the
    ``# neurodebug: f(...)`` comment above the entry's def gives it, else no arguments.
    Raises NoSuchFunction / BadCall (both UserError) with one sentence.
    """
    node = _parse_call(call) if call and call.strip() else None
    callee = node.func.id if node is not None and isinstance(node.func, ast.Name) else None
    if entry is None:
        try:
            defined = _top_level_functions(ast.parse(source))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            defined = {m.group(1) for m in map(_DEF_RE.match, split_lines(source)) if m and m.group(0)[0] != " "}
        if callee is not None and callee in defined:
            entry = callee
        elif callee is not None and not hasattr(builtins, callee):
            # `--call "g(1)"` names a function; treating it as f's argument would only confuse
            raise NoSuchFunction(f"There is no function {callee!r} at the top level of the file.")
        else:
            entry = find_entry(source)
        if entry is None:
            raise NoSuchFunction(
                "No entry function given: pass --entry NAME, call it as --call \"f(...)\", "
                "or mark its def line with '# << START_OF_TRACE'."
            )
    if call is None or not call.strip():
        call = find_call_comment(source, entry) or ""
        node = _parse_call(call) if call.strip() else None
        callee = node.func.id if node is not None and isinstance(node.func, ast.Name) else None
    if callee == entry:
        return entry, _args_text(call, node)
    args = call.strip()
    check = _parse_call(f"_({args})")
    if check is None or not isinstance(check.func, ast.Name) or check.func.id != "_":
        raise BadCall(f"The call {call.strip()!r} is neither an argument list nor a call of {entry}(...).")
    return entry, args


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

_BIG = frozenset({str, bytes, bytearray, list, tuple, dict, set, frozenset})


def safe_repr(v, limit: int) -> str:
    """``repr(v)``, cut to ``limit`` characters plus REPR_CUT; never raises."""
    try:
        if type(v) in _BIG and len(v) * 3 > limit:
            r = _head_repr(v, limit)
            if r is not None and len(r) > limit:
                return r[:limit] + REPR_CUT
        r = repr(v)
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


#: Whether this Python runs list/set/dict comprehensions inline in the enclosing frame (PEP 709).
INLINE_COMPREHENSIONS = sys.version_info >= (3, 12)


def _comprehension_spans(source: str) -> tuple:
    """((start, end, iter_start, iter_end), ...) of every list/set/dict comprehension in source, as
    (line, column) pairs; the iterable of the first ``for`` is evaluated outside the comprehension."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return ()
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp)):
            it = node.generators[0].iter
            spans.append(((node.lineno, node.col_offset), (node.end_lineno, node.end_col_offset),
                          (it.lineno, it.col_offset), (it.end_lineno, it.end_col_offset)))
    return tuple(spans)


def _comprehension_names(source: str) -> frozenset:
    """Names bound by the ``for`` targets of list/set/dict comprehensions in source."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return frozenset()
    return frozenset(n.id for node in ast.walk(tree) if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp))
                     for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name))


def _offsets_in_spans(code, spans) -> frozenset:
    """Byte offsets of code's instructions that run inside an inlined comprehension's loop.

    Python evaluates a comprehension's first iterable before the comprehension starts; after that,
    every instruction placed in the comprehension's span (its iterable's span included: the loop's
    GET_ITER, FOR_ITER and END_FOR sit there) belongs to the loop."""
    positions = list(code.co_positions())
    inside = set()
    for start, end, it_start, it_end in spans:
        begun = False
        for i, (line, _end_line, col, _end_col) in enumerate(positions):
            if line is None or col is None:
                continue
            pos = (line, col)
            if not start <= pos < end:
                continue
            if not begun and it_start <= pos < it_end:
                continue  # the first iterable, evaluated before the comprehension
            begun = True
            inside.add(2 * i)
    return frozenset(inside)


class Recorder:
    """Records frames of code from one file through ``sys.settrace``.

    Each frame is handed to ``emit`` as soon as it is recorded, as a message
    ``[event, line, depth, func, locals, keys, arg]`` (the sandbox writes it to a pipe at
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
                 source: str | None = None):
        self.filename = filename
        # Python 3.12+ runs list/set/dict comprehensions inline (PEP 709): their loop reports
        # line events in the enclosing frame. Those are dropped so that a trace reads the same as
        # on 3.11, where the comprehension is a frame of its own (SKIPPED_SCOPES).
        self._comp_spans = _comprehension_spans(source) if INLINE_COMPREHENSIONS and source else ()
        self._comp_names = _comprehension_names(source) if self._comp_spans else frozenset()
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
            reprs[k] = safe_repr(v, limit)
        return reprs, objs

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
                    self.emit([event, frame.f_lineno, depth, code.co_name, reprs, list(reprs), None])
                else:
                    old = last[0]
                    changed = {k: r for k, r in reprs.items() if old.get(k) is not r and old.get(k) != r}
                    keys = None if reprs.keys() == old.keys() else list(reprs)
                    self.emit([event, frame.f_lineno, depth, code.co_name, changed, keys, None])
            elif event == "call":
                state = self._locals(frame, None)
                self._last[frame] = state
                self.emit([event, frame.f_lineno, depth, code.co_name, state[0], None, None])
            else:  # return / exception: no locals, the value instead
                if event == "return":
                    self._last.pop(frame, None)
                self.emit([event, frame.f_lineno, depth, code.co_name, {}, None, safe_repr(arg, self.max_repr)])
        except RecursionError:
            # The traced code is at the recursion limit and this hook is the call that overflows.
            # Raising here makes Python remove the hook and raise RecursionError in the traced
            # code, about where it would without tracing; the trace ends with the frames so far.
            self.lost = "recursion"
            raise RecursionError("maximum recursion depth exceeded") from None
        except MemoryError:
            try:  # record the step without its values
                self._last[frame] = ({}, {})
                self.emit([event, frame.f_lineno, depth, code.co_name, {}, [], None])
            except MemoryError:
                pass

    def global_trace(self, frame, event, arg):
        code = frame.f_code
        ok = self._traced.get(code)
        if ok is None:
            ok = self._traced[code] = (
                code.co_filename == self.filename
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
            offsets = self._comp_offsets[code] = _offsets_in_spans(code, self._comp_spans)
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

    def decode(self, msg: list) -> tuple[str, int, int, str, dict[str, str], str | None]:
        event, line, depth, func, loc, keys, arg = msg
        stack = self._stack
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
        return event, line, depth, func, loc, arg


# -- the parent side: run, then turn the child's messages into a Trace -----------------------------


def _def_lines(tree: ast.Module) -> dict[int, int]:
    """first-decorator line -> def line, for decorated functions (call frames show the def)."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.decorator_list:
            out[min(d.lineno for d in node.decorator_list)] = node.lineno
    return out


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _end_message(reason: str, d: dict, call_text: str, limits: Limits, name: str) -> str:
    value, line = d.get("value"), d.get("line")
    at = f" at line {line}" if line else ""
    if reason == "returned":
        return f"{call_text} returned {_short(value or '')}."
    if reason == "raised":
        return f"{call_text} raised {_short(value or '')}{at}."
    if reason == "exited":
        if d.get("how") == "sys.exit":
            return f"{call_text} called sys.exit({_short(value or '')}){at}."
        return f"The traced code ended the process with exit status {value}."
    if reason == "memory_limit":
        return f"The traced code ran out of memory (limit {limits.memory_mb} MB){at}."
    if reason == "frame_limit":
        return f"The trace reached the limit of {limits.max_frames} frames."
    if reason == "timeout":
        return f"The traced code ran longer than the wall-time limit of {limits.wall_s:g} s."
    if reason == "cpu_limit":
        return f"The traced code used more than the CPU-time limit of {limits.cpu_s:g} s."
    if reason == "no_such_function":
        return f"There is no function named {d.get('entry')!r} in {name}."
    if reason == "bad_call":
        return f"Evaluating the arguments of {call_text} raised {_short(value or '')}."
    if reason == "import_error":
        return f"Running the module {name} raised {_short(value or '')}{at}."
    if reason == "crashed":
        return d.get("message") or "The traced process crashed."
    return d.get("message") or reason


def trace_source(source: str, entry: str | None, call: str | None, limits: Limits = Limits(),
                 filename: str = "<string>") -> Trace:
    """Trace ``entry(call)`` from ``source`` in a child process; see the module docstring.

    Never raises for problems of the traced code or the call: those end the Trace with a
    reason and one sentence (``trace.end``). ``filename`` names the source in messages;
    a real path also lets the traced module import its neighbours.
    """
    from neurodebug import sandbox

    limits = limits or Limits()
    name = os.path.basename(filename) if not filename.startswith("<") else "the source"
    try:
        entry, args = resolve_call(source, entry, call)
        bad = None
    except (NoSuchFunction, BadCall) as e:
        bad, args = e, call
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as e:
        msg = (e.msg or "invalid syntax").rstrip(".")
        end = End("syntax_error", f"{name} has a syntax error at line {e.lineno}: {msg}.", line=e.lineno)
        return Trace(source, entry or "", args, end=end)
    except (ValueError, RecursionError, MemoryError) as e:
        return Trace(source, entry or "", args, end=End("syntax_error", f"{name} cannot be parsed ({type(e).__name__})."))
    if bad is not None:
        reason = "no_such_function" if isinstance(bad, NoSuchFunction) else "bad_call"
        return Trace(source, entry or "", call, end=End(reason, str(bad)))

    # a pseudo file name must not collide with code that exec() makes, such as dataclass methods
    code_name = filename if not filename.startswith("<") else f"<neurodebug {filename.strip('<>')}>"
    stem = os.path.splitext(os.path.basename(filename))[0] if not filename.startswith("<") else ""
    spec = {
        "source": source,
        "filename": code_name,
        "module": stem if stem.isidentifier() else "__traced__",
        "path_dir": os.path.dirname(os.path.abspath(filename)) if not filename.startswith("<") else None,
        "entry": entry,
        "args": args,
        "limits": asdict(limits),
    }
    result = sandbox.run(spec, limits)

    lines = split_lines(source)
    def_lines = _def_lines(tree)
    frames: list[Frame] = []
    end_msg = None
    decoder = LocalsDecoder()
    for msg in result.messages:
        if isinstance(msg, dict):
            end_msg = msg
            continue
        event, line, depth, func, loc, arg = decoder.decode(msg)
        if event == "call":
            line = def_lines.get(line, line)
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        frames.append(Frame(event, line, text, loc, arg, depth, func))

    call_text = _short(f"{entry}({args})")
    if result.timed_out:
        d = {"reason": "timeout"}
    elif result.cpu_exceeded:
        d = {"reason": "cpu_limit"}
    elif end_msg is not None:
        d = end_msg
    elif result.signal is not None:
        d = {"reason": "crashed", "message": f"The traced process was killed by signal {result.signal}."}
    elif result.returncode is not None:
        d = {"reason": "exited", "value": str(result.returncode)}
    else:
        d = {"reason": "crashed"}
    reason = d["reason"]
    message = _end_message(reason, d, call_text, limits, name)
    if d.get("lost") == "recursion":
        message = message[:-1] + RECURSION_NOTE + "."
    end = End(reason, message, d.get("value"), d.get("line"))
    return Trace(source, entry, args, frames, end, result.stdout, result.stderr)


def trace_file(path: str | os.PathLike, entry: str | None, call: str | None, limits: Limits = Limits()) -> Trace:
    """Trace ``entry(call)`` from the Python file at ``path``; a bad path raises UserError."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise UserError(f"There is no file {path!r}.")
    if os.path.isdir(path):
        raise UserError(f"{path!r} is a directory, not a Python file.")
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as e:
        raise UserError(f"Cannot read {path!r}: {e.strerror or e}.") from None
    try:
        source = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{path!r} is not UTF-8 text.") from None
    return trace_source(source, entry, call, limits, filename=os.path.abspath(path))

