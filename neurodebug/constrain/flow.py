"""The control flow of a file from its bytecode, without running it: which frame can come next.

:class:`Flow` holds the static successor sets (a line's possible next lines, a call's first
lines, the functions a line can call, the names a line can bind); :class:`Cursor` walks a trace
through them. The parser uses the walker to tell identical lines apart, the grammar to rule out
frames that cannot happen; docs/constraints.md gives the rules and how they were checked.
"""

from __future__ import annotations

import ast
import builtins
import dis
import functools
import types
from collections import deque

from neurodebug.codec.parser import survived
from neurodebug.trace.format import SKIPPED_SCOPES, source_lines
from neurodebug.trace.source import (INLINE_COMPREHENSIONS, Layout, comprehension_names, comprehension_spans,
                                     offsets_in_spans)

#: Opcodes after which control does not fall through to the next instruction.
_NO_FALL_THROUGH = frozenset(
    dis.opmap[name]
    for name in ("RETURN_VALUE", "RETURN_CONST", "RAISE_VARARGS", "RERAISE", "JUMP_FORWARD", "JUMP_BACKWARD",
                 "JUMP_BACKWARD_NO_INTERRUPT", "JUMP_ABSOLUTE", "JUMP", "JUMP_NO_INTERRUPT")
    if name in dis.opmap
)
_JUMPS = frozenset(dis.hasjrel) | frozenset(dis.hasjabs) | frozenset(getattr(dis, "hasjump", ()))
_RESUME = dis.opmap.get("RESUME")
#: Opcodes a frame returns (or, in a generator or coroutine, suspends) at: a ``return`` frame can
#: only be at a line that has one, unless an exception is leaving the function.
_RETURNS = frozenset(("RETURN_VALUE", "RETURN_CONST", "YIELD_VALUE"))
#: Opcodes that bind or unbind a local name of the frame.
_STORES = frozenset(("STORE_FAST", "STORE_NAME", "STORE_DEREF", "STORE_FAST_STORE_FAST", "STORE_FAST_LOAD_FAST",
                     "STORE_FAST_MAYBE_NULL", "IMPORT_NAME", "IMPORT_FROM"))
_DELETES = frozenset(("DELETE_FAST", "DELETE_NAME", "DELETE_DEREF"))
#: Code flags of generators, coroutines and async generators (resumed by a ``call`` frame).
_RESUMABLE = 0x20 | 0x80 | 0x100 | 0x200
_GENERATOR = 0x20
#: Parts of the names of the opcodes that can start a generator (iterate: call ``next`` on it) or
#: run a class body (a call of ``__build_class__``): calls, iteration, unpacking, ``in``, ``*``
#: and ``**`` displays, ``yield from``/``await``, ``with``. A line without one cannot.
_STARTS = ("CALL", "ITER", "UNPACK", "CONTAINS", "EXTEND", "UPDATE", "MERGE", "SEND", "YIELD_FROM", "AWAIT",
           "ANEXT", "WITH", "THROW")


def traced_code(source: str) -> list[types.CodeType] | None:
    """The code objects of ``source`` whose frames a trace records (every function and class body,
    not the module, comprehensions or lambdas); None when it does not compile."""

    try:
        code = compile(source, "<source>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return None
    out, todo = [], [code]
    while todo:
        c = todo.pop()
        todo.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
        if c.co_name not in SKIPPED_SCOPES:
            out.append(c)
    return out


def _stored(ins: dis.Instruction) -> tuple[str, ...]:
    """The local names an instruction binds (STORE_FAST_STORE_FAST binds two, STORE_FAST_LOAD_FAST
    the first of its pair)."""
    if ins.opname not in _STORES:
        return ()
    v = ins.argval
    if isinstance(v, str):
        return (v,)
    if isinstance(v, tuple):
        names = tuple(x for x in v if isinstance(x, str))
        return names[:1] if ins.opname == "STORE_FAST_LOAD_FAST" else names
    return ()


class _Graph:
    """One code object's instructions as a graph: line (None when the tracer sees none), edges."""

    def __init__(self, code: types.CodeType, hidden: frozenset):
        ins = list(dis.get_instructions(code))
        self.offsets = [i.offset for i in ins]
        index = {off: k for k, off in enumerate(self.offsets)}
        self.lines: list[int | None] = []
        for i in ins:
            line = i.positions.lineno if i.positions is not None else None
            self.lines.append(None if i.offset in hidden else line)
        self.edges: list[list[int]] = [[] for _ in ins]
        for k, i in enumerate(ins):
            if i.opcode not in _NO_FALL_THROUGH and k + 1 < len(ins):
                self.edges[k].append(k + 1)
            if i.opcode in _JUMPS and isinstance(i.argval, int) and i.argval in index:
                self.edges[k].append(index[i.argval])
        for entry in dis.Bytecode(code).exception_entries:
            target = index.get(entry.target)
            if target is None:
                continue
            for k, off in enumerate(self.offsets):
                if entry.start <= off < entry.end:
                    self.edges[k].append(target)
        self.resume = next((k for k, i in enumerate(ins) if i.opcode == _RESUME), None)
        self.stores: list[tuple[str, ...]] = [_stored(i) for i in ins]
        self.opnames: list[str] = [i.opname for i in ins]
        #: lines with an instruction that can start a generator or run a class body (_STARTS)
        self.starters = frozenset(i.positions.lineno for i in ins if i.positions is not None and i.positions.lineno
                                  and any(part in i.opname for part in _STARTS))
        self.deletes = frozenset(i.argval for i in ins if i.opname in _DELETES and isinstance(i.argval, str))
        #: lines a frame of this code can return at; None when one has no line (then any line can be)
        returns = {line for i, line in zip(ins, self.lines) if i.opname in _RETURNS}
        self.returns: frozenset[int] | None = None if None in returns else frozenset(returns)

    def successors(self, line: int) -> set[int]:
        """Lines whose line event can come next after one at ``line`` in this code."""
        starts = [k for k, ln in enumerate(self.lines) if ln == line]
        return self._walk(starts, line)

    def entry(self) -> set[int]:
        """Lines of the first line event after the call event."""
        if self.resume is None:
            return set()
        return self._walk([self.resume], None, first=True)

    def _walk(self, starts: list[int], line: int | None, first: bool = False) -> set[int]:
        out: set[int] = set()
        seen = set(starts)
        todo = deque(starts)
        while todo:
            a = todo.popleft()
            for b in self.edges[a]:
                lb = self.lines[b]
                if lb is not None and (lb != line or first):
                    out.add(lb)
                    continue
                if lb is not None and (self.offsets[b] <= self.offsets[a] or self.lines[a] is None):
                    out.add(lb)  # back to the same line: a backward jump, or after a line-less instruction
                if b not in seen:
                    seen.add(b)
                    todo.append(b)
        return out


class Flow:
    """The static successor sets of one source file (see the module docstring)."""

    def __init__(self, source: str, codes: list[types.CodeType]):
        hidden_spans = comprehension_spans(source) if INLINE_COMPREHENSIONS else ()
        self._after_line: dict[int, set[int]] = {}
        self._after_call: dict[int, set[int]] = {}
        self._stores: dict[int, set[str]] = {}
        self._returns: set[int] = set()
        #: def line -> (call lines, parameters, free variables) of each function's code
        self._functions: dict[int, tuple[frozenset[int], frozenset[str], frozenset[str]]] = {}
        #: line of a generator or coroutine -> the lines a call frame may name after it suspended
        #: as the trace's last visit (see :meth:`resumes`)
        self._resumes: dict[int, frozenset[int] | None] = {}
        self._source = source
        deleted: set[str] = set(comprehension_names(source)) if hidden_spans else set()
        call_lines: set[int] = set()
        starters: set[int] = set()  # lines that can start a generator or run a class body
        started: set[int] = set()  # call lines of generators' starts and class bodies
        entered: set[int] = set()  # every other call line
        header_end = _header_ends(source)
        for code in codes:
            hidden = offsets_in_spans(code, hidden_spans) if hidden_spans else frozenset()
            g = _Graph(code, hidden)
            for line in {ln for ln in g.lines if ln is not None}:
                self._after_line.setdefault(line, set()).update(g.successors(line))
            # names a line frame can have that the frame before it had not: what the line before
            # stored, or an instruction on no line (or hidden) of the same code
            loose = {n for ns, ln in zip(g.stores, g.lines) if ln is None for n in ns}
            for ns, ln in zip(g.stores, g.lines):
                if ns and ln is not None:
                    self._stores.setdefault(ln, set()).update(ns)
            for ln in {ln for ln in g.lines if ln is not None}:
                self._stores.setdefault(ln, set()).update(loose)
            deleted.update(g.deletes)
            self._returns.update(g.returns if g.returns is not None else (ln for ln in g.lines if ln is not None))
            if not code.co_flags & 0x0001:  # a class body: the names the class statement sets up
                deleted.update(code.co_names)
            first = code.co_firstlineno
            last = max(header_end.get((code.co_name, first), first), first)
            header = range(first, last + 1)
            entry = g.entry()
            for line in header:
                self._after_call.setdefault(line, set()).update(entry)
            call_lines.update(header)
            starters.update(g.starters)
            is_class = not code.co_flags & 0x0001
            (started if is_class or code.co_flags & _RESUMABLE == _GENERATOR else entered).update(header)
            if code.co_flags & 0x0001:  # a function: its call frame's LOCALS are its parameters
                n_args = code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)
                self._functions[last] = (frozenset(header), frozenset(code.co_varnames[:n_args]),
                                         frozenset(code.co_freevars))
            if code.co_flags & _RESUMABLE:  # resumed where it yielded: a call frame at that line
                resumed = {ln for ln in g.lines if ln is not None}
                call_lines.update(resumed)
                # a generator comes back at a line after a yield: not at its def line, unless it yields there
                yields = {ln for ln, i in zip(g.lines, g.opnames) if i == "YIELD_VALUE"}
                entered.update(ln for ln in resumed if ln not in header or ln in yields)
                for line in resumed:  # a coroutine's event loop may run any task or callback next
                    self._resumes[line] = frozenset(resumed) if code.co_flags & _RESUMABLE == _GENERATOR else None
                for line in resumed:
                    self._after_call.setdefault(line, set()).update(self._after_line.get(line, ()))
        self.call_lines: frozenset[int] = frozenset(call_lines)
        #: lines of coroutines and async generators: an entry there runs under an event loop
        self._loop_lines = frozenset(ln for ln, v in self._resumes.items() if v is None)
        self._resumes = {ln: self.call_lines if v is None else v for ln, v in self._resumes.items()}
        #: which functions each line can call (see _call_sites); None when calls can come from anywhere
        self._calls: _CallSites | None = _call_sites(source, codes, self.call_lines)
        #: call lines entered only from a line of ``starters``: a generator's start (its def line:
        #: resumed elsewhere, it comes back at the line it left, which is not among these) and a
        #: class body; a function that is entered without being named may be entered from any line
        self._started = frozenset(started - entered)
        self._starters = frozenset(starters)
        #: Names a frame can lose between two line frames (``del``, an ``except ... as`` name).
        self.deleted: frozenset[str] = frozenset(deleted)

    @staticmethod
    def of(source: str) -> "Flow | None":
        """The flow of ``source`` (cached), or None when it does not compile or cannot be read."""
        return _flow_of(source)

    def after_line(self, line: int) -> frozenset[int]:
        """Lines a ``line`` frame can name right after a ``line`` frame at ``line`` of the same
        function visit, or after the function got back to ``line`` (a callee returned; an
        exception was raised there)."""
        return frozenset(self._after_line.get(line, ()))

    def callees(self, line: int) -> frozenset[int]:
        """Lines a ``call`` frame may name while the function it is called from is at ``line``:
        the plain functions its statement calls by name, every function that can be entered
        without being named (see :func:`_call_sites`), all of them where it calls something
        unknown; a generator's start and a class body only where the line can start them."""
        calls = self._calls
        if calls is None or line in calls.unknown:
            lines = self.call_lines
        else:
            lines = calls.direct.get(line, frozenset()) | calls.pool
        return lines if line in self._starters else lines - self._started

    def stores(self, line: int) -> frozenset[str]:
        """Local names the code of ``line`` can bind: new keys of the next ``line`` frame's LOCALS."""
        return frozenset(self._stores.get(line, ()))

    def next_keys(self, keys, line: int) -> tuple[frozenset[str], frozenset[str]]:
        """(required, possible): the LOCALS keys of a ``line`` frame after a frame with ``keys``
        at ``line`` of the same function visit (or after a callee returned there). Every key it
        had stays, unless the file can delete it; new keys are names ``line`` stores."""
        keys = frozenset(keys)
        return keys - self.deleted, keys | self.stores(line)

    def can_return(self, line: int) -> bool:
        """Whether a ``return`` frame can be at ``line`` other than right after an exception there:
        a return statement, the end of a body (the implicit return), or a ``yield``."""
        return line in self._returns

    def entry_call(self, entry: str) -> "tuple[frozenset[int], frozenset[str], frozenset[str]] | None":
        """What the first frame of a trace of ``entry`` can be: (the lines its call frame may name,
        the LOCALS keys it must have: the parameters, the keys it may have); None when ``entry``
        names no function of the file."""
        line = Layout(self._source, len(source_lines(self._source))).def_line(entry)
        found = self._functions.get(line) if line is not None else None
        if found is None:
            return None
        lines, params, free = found
        return lines, params, params | free

    def resumes(self, line: int) -> frozenset[int]:
        """The lines a call frame may name after the generator or coroutine at ``line`` suspended
        and left the trace's last visit: the generator's own (where it is resumed), any function's
        for a coroutine (its event loop runs whichever task or callback is ready); empty when the
        function at ``line`` is neither."""
        return self._resumes.get(line, frozenset())

    def runs_loop(self, line: int) -> bool:
        """Whether the function at ``line`` is a coroutine or an async generator (as the entry,
        it runs under an event loop, which may run any function of the file between its steps)."""
        return line in self._loop_lines

    def after_call(self, line: int) -> frozenset[int]:
        """Lines the first ``line`` frame after a ``call`` frame at ``line`` can name."""
        return frozenset(self._after_call.get(line, frozenset()) | self._after_line.get(line, frozenset()))


@functools.lru_cache(maxsize=64)
def _flow_of(source: str) -> Flow | None:
    codes = traced_code(source)
    if codes is None:
        return None
    try:
        return Flow(source, codes)
    except Exception as e:  # noqa: BLE001 - an unexpected code shape: no flow, never a crash
        survived(e)
        return None


def _header_ends(source: str) -> dict[tuple[str, int], int]:
    """(name, first line with decorators) -> the line of ``def``/``class`` for every function and
    class of ``source`` (a call frame may name any line from the first decorator to it)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            out[(node.name, first)] = node.lineno
    return out


#: What :meth:`Cursor.allowed` answers: event -> the lines a frame of that event may name (an event
#: missing from the dict may not come next; "end": the trace may end there, which an empty dict
#: also says), or None when the flow does not restrict the frame.
Allowed = "dict[str, frozenset[int]] | None"


class Cursor:
    """Where a trace is in the flow, frame by frame: feed it each frame's event and line
    (:meth:`feed`), ask what the next frame may be (:meth:`allowed`).

    It keeps a stack of function visits with the line each is on and the event that put it
    there. The next frame of a visit at line L after a ``line`` frame (or after a callee returned
    to it): a ``line`` frame at a successor of L (none: no ``line`` frame), an ``exception`` frame
    at L, a ``return`` frame at L where the code can return there (:meth:`Flow.can_return`), a ``call`` frame at a function's first line; after its ``call``
    frame, a ``line`` frame at the function's first line(s). After the entry function returned,
    only the end of the trace, or where the entry is a generator or coroutine that the real run
    goes on to resume, a call frame resuming it. Before the first frame, given the entry (:meth:`expect`), only
    its call frame, with its parameters as LOCALS. Where the position is unknown (a frame named
    no line, an exception was just raised, the trace has not started and the entry is not
    known) the flow restricts nothing."""

    def __init__(self, flow: Flow, entry: str | None = None):
        self.flow = flow
        self._stack: list[list] = []  # [line or None, event, keys or None]
        self._started = False
        self.ended = False
        #: (call lines, required keys, possible keys) of the first frame: the entry's call frame
        self._first: tuple[frozenset[int], frozenset[str], frozenset[str]] | None = None
        #: after the entry left at a line where it suspends (a generator, a coroutine): where the
        #: real run can resume it, so the trace may go on with a call frame there
        self._resume: frozenset[int] = frozenset()
        #: every call line where the entry runs under an event loop (any task or callback may come
        #: whenever the stack is empty), else empty
        self._loop: frozenset[int] = frozenset()
        if entry:
            self.expect(entry)

    def expect(self, entry: str | None) -> None:
        """The trace is one of ``entry``: its first frame can only be ``entry``'s call frame, with
        its parameters as LOCALS (before this, or for a name the file does not define, the flow
        restricts nothing before the trace starts)."""
        self._first = self.flow.entry_call(entry) if entry else None

    def feed(self, event: str, line: int | None, keys=None, depth: int | None = None) -> None:
        """Follow one frame. ``depth``, where the reader placed the frame, ends the visits an
        exception left without a return frame (a model's trace may skip them)."""
        stack = self._stack
        if depth is not None:
            del stack[max(depth + (event != "call"), 0):]
        if event == "call":
            if not self._started and line is not None and self.flow.runs_loop(line):
                self._loop = self.flow.call_lines
            stack.append([line, "call", keys])
            self.ended = False
        elif not stack:
            stack.append([line, event, None])
        if event in ("line", "exception"):
            stack[-1][0] = line
            stack[-1][1] = event
            if event == "line":
                stack[-1][2] = keys
        elif event == "return":
            left = stack.pop()
            self.ended = not stack
            self._resume = ((self.flow.resumes(left[0]) if left[0] is not None else frozenset()) | self._loop
                            if self.ended else frozenset())
        self._started = True

    def fork(self) -> "Cursor":
        new = Cursor(self.flow)
        new._stack = [list(v) for v in self._stack]
        new._started, new.ended, new._first = self._started, self.ended, self._first
        new._resume, new._loop = self._resume, self._loop
        return new

    def allowed(self) -> "dict[str, frozenset[int]] | None":
        if not self._stack:
            if not self._started:
                return {"call": self._first[0]} if self._first is not None else None
            if not self.ended:
                return None
            return {"call": self._resume, "end": frozenset()} if self._resume else {}
        return allowed_at(self.flow, *self._stack[-1][:2])

    def keys(self) -> tuple[frozenset[str], frozenset[str]] | None:
        """(required, possible) LOCALS keys of the next frame if it is a ``line`` frame (see
        :meth:`Flow.next_keys`), or, before the trace starts (:meth:`expect`), of the entry's
        call frame, the only frame that can come then; None when not known."""
        if not self._stack:
            if not self._started and self._first is not None:
                return self._first[1], self._first[2]
            return None
        line, event, keys = self._stack[-1]
        if line is None or keys is None or event not in ("call", "line"):
            return None
        return self.flow.next_keys(keys, line)


def allowed_at(flow: Flow, line: int | None, event: str | None) -> "dict[str, frozenset[int]] | None":
    """What the next frame may be when the innermost function visit is at ``line`` after a frame
    of ``event`` there (see :class:`Cursor`): event -> lines, or None when nothing is known."""
    if line is None or event not in ("call", "line"):
        return None
    nxt = flow.after_call(line) if event == "call" else flow.after_line(line)
    out = {"exception": frozenset((line,))}
    if flow.can_return(line):
        out["return"] = frozenset((line,))
    callees = flow.callees(line)
    if callees:
        out["call"] = callees
    if nxt:
        out["line"] = nxt
    return out


def check(source: str, frames, entry: str | None = None) -> list[str]:
    """The frames of a real trace of ``source`` that :class:`Cursor` would not allow (one
    sentence each); empty when the flow holds. ``frames``: objects with ``event`` and ``line``;
    ``entry``: the traced function (its call frame must come first)."""
    flow = Flow.of(source)
    if flow is None:
        return ["the source does not compile"]
    cur = Cursor(flow, entry)
    out = []
    for i, f in enumerate(frames):
        allowed = cur.allowed()
        if allowed is not None:
            lines = allowed.get(f.event)
            if lines is None:
                out.append(f"frame {i}: a {f.event} frame is not allowed here (allowed: {sorted(allowed)})")
            elif f.line not in lines:
                out.append(f"frame {i}: {f.event} at line {f.line} is not allowed (allowed: {sorted(lines)})")
        keys = cur.keys()
        if keys is not None and (f.event == "line" or i == 0):
            required, possible = keys
            have = set(f.locals)
            if not required <= have:
                out.append(f"frame {i}: line {f.line} lost the locals {sorted(required - have)}")
            if not have <= possible:
                out.append(f"frame {i}: line {f.line} has the unexpected locals {sorted(have - possible)}")
        cur.feed(f.event, f.line, tuple(f.locals) if f.event in ("call", "line") else None)
    return out


#: Names whose use can reach a function without naming it in a call.
_INDIRECT = frozenset(("eval", "exec", "globals", "locals", "vars", "getattr", "__import__", "compile"))


def _header_end(stmt: ast.stmt) -> int:
    """The last line of a statement's own code: all of a simple statement, the header of a
    compound one (up to its first inner statement)."""
    body = getattr(stmt, "body", None)
    if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
        return max(body[0].lineno - 1, stmt.lineno)
    return stmt.end_lineno or stmt.lineno


def _stmt_start(stmt: ast.stmt) -> int:
    """The first line of a statement, its decorators included."""
    decorators = getattr(stmt, "decorator_list", None) or ()
    return min([stmt.lineno] + [d.lineno for d in decorators])


def _rebound(tree: ast.AST) -> set[str]:
    """Names the file binds other than by a ``def`` or ``class`` statement of that name:
    assignments and other targets, ``del``, parameters, imports, ``global``/``nonlocal``,
    ``except ... as``, match captures, type parameters."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            out.add(node.id)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, ast.alias):
            out.add((node.asname or node.name).split(".", 1)[0])
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            out.update(node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.add(node.name)
        elif type(node).__name__ in ("MatchAs", "MatchStar", "TypeVar", "ParamSpec", "TypeVarTuple"):
            if getattr(node, "name", None):
                out.add(node.name)
        elif type(node).__name__ == "MatchMapping" and getattr(node, "rest", None):
            out.add(node.rest)
    return out


def _lazy_parts(node: ast.AST) -> list[ast.AST]:
    """The parts of ``node`` that may run later, wherever what it makes is called or iterated: all
    of a lambda; all of a generator expression but its first iterable (evaluated at once). Empty
    for anything else."""
    if isinstance(node, ast.Lambda):
        return [node]
    if isinstance(node, ast.GeneratorExp) and node.generators:
        first, *rest = node.generators
        return [node.elt, first.target, *first.ifs, *rest]
    return []


class _CallSites:
    """Which functions of the file each line can call (see :func:`_call_sites`)."""

    def __init__(self, direct: dict[int, frozenset[int]], unknown: frozenset[int], pool: frozenset[int]):
        #: line -> def lines of the *plain* functions that its statement calls by name
        self.direct = direct
        #: lines whose statement calls something that cannot be resolved (a parameter, an attribute,
        #: an imported name, a call's result ...): a call frame may come into any function there
        self.unknown = unknown
        #: call lines of every function that is not plain (methods, class bodies, generators and
        #: coroutines with the lines they resume at, decorated functions, functions used as values
        #: or called from a lambda or a generator expression): one of these may be entered from any line
        self.pool = pool


def _call_sites(source: str, codes: list[types.CodeType], call_lines: frozenset[int]) -> "_CallSites | None":
    """Which functions of the file a line can call, resolved by name, conservatively.

    A function is *plain* when the only way into it is a call that names it: a ``def`` (not
    ``async``, not a generator, not decorated, not a method, not a dunder) whose name the file
    never binds otherwise, never uses other than as the callee of a call, and never calls from a
    lambda or the lazy part of a generator expression. A call frame into a plain function can
    only come while the caller is on a statement (a multi-line statement: any of its lines) that
    calls it by name. Every other function of the file (its call lines are the pool) can be
    entered from any line: a method by an operator, an attribute or ``__del__``, a generator where
    it is iterated or collected, a function passed on wherever it is called (:meth:`Flow.callees`
    then keeps a generator's start and a class body to the lines that can start them).

    A line whose statement calls something that names no function, class or builtin of the file
    (a parameter, a local, an attribute such as ``self.f`` or ``mod.f``, an imported name) keeps
    the permissive rule: a call frame into any function may come there, since that callee is
    not known without running the code (it could be the file's own module reached by import).
    What is not followed: the module reached by introspection and passed on to a builtin
    (``map(sys.modules[__name__].f, xs)``) or kept in a lambda called later. None (any function
    from any line) when the file uses eval/exec/getattr/globals/locals/vars/``__import__``/
    compile or a star import, or does not parse.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    funcs: dict[str, list[ast.AST]] = {}
    classes: set[str] = set()
    methods: set[int] = set()  # ids of defs directly in a class body
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in _INDIRECT:
            return None
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            return None
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            funcs.setdefault(node.name, []).append(node)
        if isinstance(node, ast.ClassDef):
            classes.add(node.name)
            methods.update(id(c) for c in node.body if isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef)))
    ambiguous = _rebound(tree) | (set(funcs) & classes)
    resumable = {(c.co_name, c.co_firstlineno) for c in codes if c.co_flags & _RESUMABLE}

    callee_ids: set[int] = set()  # ids of the Name nodes that are the callee of a call
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            callee_ids.add(id(node.func))
    escaped = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in funcs and id(n) not in callee_ids}
    lazily_called: set[str] = set()
    for node in ast.walk(tree):
        for part in _lazy_parts(node):
            for n in ast.walk(part):
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Name):
                    lazily_called.add(n.func.id)

    def plain_def(d: ast.AST) -> bool:
        return (isinstance(d, ast.FunctionDef) and not d.decorator_list and id(d) not in methods
                and (d.name, d.lineno) not in resumable)

    plain = {name for name, defs in funcs.items()
             if all(plain_def(d) for d in defs) and name not in ambiguous and name not in escaped
             and name not in lazily_called and not (name.startswith("__") and name.endswith("__"))}
    plain_lines = {d.lineno for name in plain for d in funcs[name]}

    def known(func: ast.AST) -> bool:
        """A callee that names a function, class or builtin of the file (its frames are the
        plain function's, or in the pool)."""
        if not isinstance(func, ast.Name) or func.id in ambiguous:
            return False
        return func.id in funcs or func.id in classes or hasattr(builtins, func.id)

    direct: dict[int, set[int]] = {}
    unknown: set[int] = set()

    def visit(node: ast.AST, stmt: ast.stmt | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, ast.stmt) else stmt
            if isinstance(child, ast.Call) and stmt is not None:
                lines = range(min(_stmt_start(stmt), child.lineno),
                              max(_header_end(stmt), child.end_lineno or child.lineno) + 1)
                if not known(child.func):
                    unknown.update(lines)
                elif child.func.id in plain:
                    for ln in lines:
                        direct.setdefault(ln, set()).update(d.lineno for d in funcs[child.func.id])
            visit(child, inner)

    visit(tree, None)
    pool = frozenset(call_lines - plain_lines)
    return _CallSites({ln: frozenset(v) for ln, v in direct.items()}, frozenset(unknown), pool)
