"""Trace <-> token ids in CWM's execution-trace format (shared/design/TRACE_FORMAT.md).

    <|begin_of_text|><|trace_context_start|>CONTEXT<|frame_sep|>FRAME FRAME ... <|end_of_text|>

    <|call_sep|>LOCALS<|action_sep|>SOURCE<|frame_sep|>
    <|line_sep|>LOCALS<|action_sep|>SOURCE<|frame_sep|>
    <|return_sep|><|action_sep|>SOURCE<|arg_sep|>VALUE<|frame_sep|>
    <|exception_sep|><|action_sep|>SOURCE<|arg_sep|>VALUE<|frame_sep|>

Works with any tokenizer that has CWM's special tokens (looked up by name; see
``model/tokenizer.py`` for the interface). Text pieces are encoded one by one between the
separator ids, so the ids of a whole trace are the concatenation of its frames' ids.

Parsing is streaming and forgiving: :class:`FrameParser` takes generated ids as they come,
returns each frame when its ``<|frame_sep|>`` arrives, and marks what it cannot read
(``Frame.malformed``) instead of raising.

This module imports nothing heavy (no torch, no tokenizer files): the tracer may import the
format decisions below.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Protocol, Sequence

from .frames import End, Frame, Trace, resolve_locals, wire_locals

if TYPE_CHECKING:  # imported where used: flow imports the codec
    from .flow import Flow

# == The open points of TRACE_FORMAT.md, each decided here and nowhere else ==================

#: The comment that marks the entry function's ``def`` line in the context (two spaces
#: before ``#``, as in Meta's demo).
START_MARKER = "  # << START_OF_TRACE"
_MARKER_RE = re.compile(r"\s*#\s*<<\s*START_OF_TRACE\s*$")


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


#: LOCALS and VALUE are written with json.dumps' defaults, as Meta's cwmdbg demo writes them:
#: separators ", " and ": ", and non-ASCII characters escaped (ensure_ascii=True).
JSON_OPTIONS: dict = {"ensure_ascii": True, "separators": (", ", ": ")}


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
    return _MARKER_RE.sub("", line)


def source_lines(source: str) -> list[str]:
    """Lines as Python numbers them (only \\n, \\r\\n and \\r end a line; str.splitlines also
    splits on form feeds and other characters that Python's line numbers do not count)."""
    return re.split(r"\r\n|\r|\n", source)


def _norm(text: str) -> str:
    return strip_marker(text.rstrip("\r\n")).rstrip()


# == Where functions are =======================================================================


@dataclass
class _Scope:
    func: str | None
    lo: int  # first line of the scope's code (1-based, inclusive)
    hi: int  # last line
    cur: int | None = None  # line of the scope's latest frame
    last: str | None = None  # event of the scope's latest frame (for the flow)
    keys: tuple | None = None  # LOCALS keys of its latest call/line frame (None: not known)


class _Layout:
    """Functions of the source by line, from its AST (empty when the source does not parse)."""

    def __init__(self, source: str, n_lines: int):
        self.n = n_lines
        self.defs: dict[int, tuple[str, int, int]] = {}  # def/decorator line -> (name, lo, hi)
        self.functions: list[tuple[str, int, int]] = []  # (name, lo, hi), outer before inner
        self.def_lines: dict[str, int] = {}  # dotted name ("C.m", "f") -> def line
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            return
        self._walk(tree, "")

    def _walk(self, node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            dotted = prefix
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lo = min([child.lineno] + [d.lineno for d in child.decorator_list])
                hi = child.end_lineno or child.lineno
                entry = (child.name, lo, hi)
                self.functions.append(entry)
                for line in range(lo, child.lineno + 1):
                    self.defs.setdefault(line, entry)
                dotted = f"{prefix}{child.name}"
                self.def_lines.setdefault(dotted, child.lineno)
                dotted += "."
            elif isinstance(child, ast.ClassDef):
                dotted = f"{prefix}{child.name}."
            self._walk(child, dotted)

    def def_line(self, entry: str) -> int | None:
        return self.def_lines.get(entry) or next(
            (ln for name, ln in self.def_lines.items() if name.rsplit(".", 1)[-1] == entry), None
        )

    def enclosing(self, line: int) -> tuple[str, int, int] | None:
        best = None
        for f in self.functions:
            if f[1] <= line <= f[2] and (best is None or f[1] >= best[1]):
                best = f
        return best

    def scope_of_call(self, line: int | None) -> _Scope:
        """The scope a ``call`` frame at ``line`` enters."""
        if line is None:
            return _Scope(None, 1, self.n)
        f = self.defs.get(line) or self.enclosing(line)
        if f is None:
            return _Scope("<module>", 1, self.n, line)
        return _Scope(f[0], f[1], f[2], line)

    def func_of(self, line: int) -> str | None:
        f = self.enclosing(line)
        return f[0] if f else None


# == The codec =================================================================================


class Codec:
    """Trace <-> ids for one tokenizer with CWM's special tokens."""

    def __init__(self, tokenizer: TokenizerLike):
        self.tokenizer = tokenizer
        sid = tokenizer.special_id
        self.bos_id = sid(BOS)
        self.end_of_text_id = sid(EOT)
        self.frame_sep_id = sid(FRAME_SEP)
        self.action_sep_id = sid(ACTION_SEP)
        self.arg_sep_id = sid(ARG_SEP)
        self.context_start_id = sid(CONTEXT_START)
        self.event_ids = {event: sid(name) for event, name in EVENT_TOKENS.items()}
        self.event_of_id = {i: e for e, i in self.event_ids.items()}
        has = getattr(tokenizer, "has_special", None)
        self.end_ids = [sid(n) for n in END_TOKENS if n == EOT or has is None or has(n)]
        # Every special id of the tokenizer, to spot separators where text should be.
        specials = getattr(tokenizer, "specials", None)
        self.special_names: dict[int, str] = (
            {i: n for n, i in specials.items()} if specials else {sid(n): n for n in TRACE_TOKENS}
        )

    @property
    def stop_ids(self) -> list[int]:
        """Ids that stop the generation of one frame: frame_sep, end_of_text, eom, eot."""
        return [self.frame_sep_id, *self.end_ids]

    # -- encoding --------------------------------------------------------------------------
    def context(self, source: str, entry: str | None) -> str:
        """``source`` with START_MARKER on the entry function's ``def`` line (and nowhere else)."""
        lines = source_lines(source)
        had_marker = [i for i, ln in enumerate(lines) if _MARKER_RE.search(ln)]
        for i in had_marker:
            lines[i] = strip_marker(lines[i])
        target = None
        if entry:
            target = _Layout("\n".join(lines), len(lines)).def_line(entry)
            if target is None:  # source that does not parse: find the def by its text
                pat = re.compile(rf"^\s*(async\s+)?def\s+{re.escape(entry.rsplit('.', 1)[-1])}\s*\(")
                target = next((i + 1 for i, ln in enumerate(lines) if pat.match(ln)), None)
        elif len(had_marker) == 1:
            target = had_marker[0] + 1
        if target is None:
            return source
        lines[target - 1] = lines[target - 1].rstrip() + START_MARKER
        return "\n".join(lines)

    def prompt_ids(self, source: str, entry: str | None) -> list[int]:
        """BOS, trace_context_start, the context, frame_sep: what a model continues with frames."""
        return [
            self.bos_id,
            self.context_start_id,
            *self.tokenizer.encode(self.context(source, entry)),
            self.frame_sep_id,
        ]

    def frame_ids(self, frame: Frame, wire: dict[str, str] | None = None) -> list[int]:
        """One frame, ending in frame_sep. ``wire`` is the frame's wire-form locals (with "..");
        the resolved locals are written when it is None."""
        enc = self.tokenizer.encode
        event = frame.event if frame.event in self.event_ids else "line"
        ids = [self.event_ids[event]]
        if event in ("call", "line"):
            ids += enc(dump_json(frame.locals if wire is None else wire))
        ids.append(self.action_sep_id)
        ids += enc(wire_source(frame.source))
        if event in ("return", "exception"):
            ids.append(self.arg_sep_id)
            ids += enc(dump_json(frame.arg))
        ids.append(self.frame_sep_id)
        return ids

    def frames_ids(self, frames: Sequence[Frame], offset: int = 0) -> tuple[list[int], list[tuple[int, int]]]:
        """Frames in the diff form, and each frame's (start, end) token range from ``offset``."""
        ids: list[int] = []
        spans = []
        for f, w in zip(frames, wire_locals(frames)):
            start = offset + len(ids)
            ids += self.frame_ids(f, w)
            spans.append((start, offset + len(ids)))
        return ids, spans

    def encode_trace(self, trace: Trace, close: bool = True) -> tuple[list[int], list[tuple[int, int]]]:
        """Prompt + frames (+ end_of_text when execution left the entry function and ``close``).

        spans[i] is the (start, end) range of frame i in the ids, from its event token through
        its frame_sep; when end_of_text is written its one-token span comes last.
        """
        ids = self.prompt_ids(trace.source, trace.entry)
        frame_part, spans = self.frames_ids(trace.frames, offset=len(ids))
        ids += frame_part
        if close and left_entry(trace):
            spans.append((len(ids), len(ids) + 1))
            ids.append(self.end_of_text_id)
        return ids, spans

    def frame_parts(self, ids: Sequence[int], span: tuple[int, int]) -> dict[str, tuple[int, int]]:
        """Token ranges inside one encoded frame, for scoring a model part by part:
        'event' (the event token), 'locals' (call/line), 'source', 'value' (return/exception),
        and 'end' (the frame_sep). An end_of_text span gives {'event': span}."""
        s, e = span
        if e - s == 1:
            return {"event": (s, e)}
        a = next((i for i in range(s, e) if ids[i] == self.action_sep_id), s + 1)
        g = next((i for i in range(a, e) if ids[i] == self.arg_sep_id), None)
        parts = {"event": (s, s + 1)}
        if a > s + 1:
            parts["locals"] = (s + 1, a)
        parts["source"] = (a + 1, g if g is not None else e - 1)
        if g is not None:
            parts["value"] = (g + 1, e - 1)
        parts["end"] = (e - 1, e)
        return parts

    # -- decoding --------------------------------------------------------------------------
    def parser(self, source: str, entry: str | None = None) -> "FrameParser":
        return FrameParser(self, source, entry)

    def parse(self, source: str, entry: str | None, ids: Iterable[int]) -> tuple[list[Frame], End]:
        """All frames in ``ids`` (generated after the prompt) and how the trace ended."""
        p = self.parser(source, entry)
        p.feed(ids)
        p.close()
        return p.frames, p.end


def left_entry(trace: Trace) -> bool:
    """True when execution left the entry function, the point where CWM writes end_of_text."""
    if trace.end.reason in ("returned", "raised"):
        return True
    last = trace.frames[-1] if trace.frames else None
    return last is not None and last.event == "return" and last.depth == 0


# == The streaming parser ======================================================================


class FrameParser:
    """Reads generated ids into frames, one frame per ``<|frame_sep|>``; never raises.

    feed(ids) returns the frames completed by these ids (resolved: no ".." left unless it
    could not be resolved, which marks the frame malformed). ``frames`` holds all of them,
    ``frame_token_ids`` each one's ids (through its frame_sep, like Codec.frame_ids). An end
    token (end_of_text, eom, eot) ends the trace: ``ended`` becomes True and ``end`` is
    End('end_of_text'); later ids are ignored.

    Line numbers: a predicted SOURCE is looked up in the current function first, forward from
    the current line (wrapping round to the function's start), then in the whole file; so the
    second of two identical lines (``i += 1``) maps to the second. Depth: a call enters a scope,
    a return leaves it; after an exception, a frame whose line belongs to a caller's function
    (and not to the current one) means the exception left the function without a return frame.
    """

    def __init__(self, codec: Codec, source: str, entry: str | None = None):
        self.codec = codec
        self.source = source
        self.entry = entry
        self.lines = source_lines(source)
        # normalized line text -> line numbers (ascending), exact and ignoring indentation
        self._exact: dict[str, list[int]] = {}
        self._loose: dict[str, list[int]] = {}
        for n, ln in enumerate(self.lines, 1):
            key = _norm(ln)
            self._exact.setdefault(key, []).append(n)
            self._loose.setdefault(key.strip(), []).append(n)
        self.layout = _Layout(source, len(self.lines))
        self.frames: list[Frame] = []
        self.frame_token_ids: list[list[int]] = []
        self.ended = False
        self.end = End("open", "The predicted trace is not finished.")
        self._buf: list[int] = []
        self._stack: list[_Scope] = []
        self._flow: "Flow | None | bool" = False  # computed on first use

    @property
    def flow(self) -> "Flow | None":
        """The static control flow of the source (:mod:`neurodebug.flow`), None when it has none."""
        if self._flow is False:
            from .flow import Flow

            self._flow = Flow.of(self.source)
        return self._flow

    def next_allowed(self) -> "dict[str, frozenset[int]] | None":
        """What the next frame may be by the flow (:func:`neurodebug.flow.allowed_at`): event ->
        the lines it may name ({} once the entry function returned: only the end of the trace),
        or None where the flow restricts nothing."""
        from .flow import allowed_at

        flow = self.flow
        if flow is None or self.ended:
            return None
        if not self._stack:
            last = self.frames[-1] if self.frames else None
            return {} if last is not None and last.event == "return" and last.depth == 0 else None
        top = self._stack[-1]
        return allowed_at(flow, top.cur, top.last)

    def next_dots(self) -> "frozenset[str] | None":
        """The keys whose value the next frame, if it is a ``line`` frame, may write as ``".."``
        (the diff rule, as :func:`neurodebug.frames.resolve_locals` reads it): those of the frame
        right before when that one is a call/line frame of the same function visit, else none;
        None before the trace starts."""
        if self.ended or not self._stack or not self.frames:
            return None
        prev = self.frames[-1]
        if prev.event in ("call", "line") and prev.depth == len(self._stack) - 1:
            return frozenset(k for k, v in prev.locals.items() if v != "..")
        return frozenset()

    def next_keys(self) -> "tuple[frozenset[str], frozenset[str]] | None":
        """(required, possible) LOCALS keys of the next frame if it is a ``line`` frame, by the
        flow (:meth:`neurodebug.flow.Flow.next_keys`), or None where not known."""
        flow = self.flow
        if flow is None or self.ended or not self._stack:
            return None
        top = self._stack[-1]
        if top.cur is None or top.keys is None or top.last not in ("call", "line"):
            return None
        return flow.next_keys(top.keys, top.cur)

    def fork(self) -> "FrameParser":
        """An independent copy of the parse state (to try a branch); shares codec and source."""
        new = copy.copy(self)
        new.frames = list(self.frames)
        new.frame_token_ids = [list(x) for x in self.frame_token_ids]
        new._buf = list(self._buf)
        new._stack = [dataclasses.replace(s) for s in self._stack]
        return new

    def __deepcopy__(self, memo) -> "FrameParser":
        return self.fork()  # never copy the tokenizer's vocabulary

    @property
    def partial(self) -> list[int]:
        """Ids of the frame being received (not yet ended by frame_sep)."""
        return list(self._buf)

    @property
    def depth(self) -> int:
        """Depth of the scope the next frame runs in (-1 before the entry's call frame)."""
        return len(self._stack) - 1

    def feed(self, ids: Iterable[int]) -> list[Frame]:
        done: list[Frame] = []
        end_ids = set(self.codec.end_ids)
        for t in ids:
            if self.ended:
                break
            try:
                t = int(t)
            except (TypeError, ValueError):
                t = -1
            if t == self.codec.frame_sep_id:
                if self._buf:
                    done.append(self._emit(self._buf + [t], cut=False))
                    self._buf = []
            elif t in end_ids:
                if self._buf:
                    done.append(self._emit(self._buf, cut=True))
                    self._buf = []
                self.ended = True
                self.end = self._end_of_text(self.codec.special_names.get(t, EOT))
            else:
                self._buf.append(t)
        return done

    def close(self, reason: str = "open", message: str = "") -> list[Frame]:
        """The stream stopped (token or frame cap, cancel, end of input): a frame still being
        received is kept, marked cut off. Sets ``end`` unless the model already ended."""
        done = []
        if self._buf:
            done.append(self._emit(self._buf, cut=True))
            self._buf = []
        if not self.ended:
            self.end = End(reason, message or self.end.message)
        return done

    # -- one frame -------------------------------------------------------------------------
    def _emit(self, toks: list[int], cut: bool) -> Frame:
        try:
            frame = self._read(toks if cut else toks[:-1], cut)
        except Exception as e:  # a parser bug must not take a session down
            frame = Frame("line", None, "", depth=max(self.depth, 0), malformed=f"unreadable frame ({e})")
        self.frames.append(frame)
        self.frame_token_ids.append(list(toks))
        return frame

    def _read(self, toks: list[int], cut: bool) -> Frame:
        c = self.codec
        problems = ["cut off"] if cut else []
        start = next((i for i, t in enumerate(toks) if t in c.event_of_id), None)
        if start is None:
            return Frame(
                "line", None, self._text(toks).rstrip("\n"), depth=max(self.depth, 0),
                malformed="; ".join(problems + ["no event token"]),
            )
        if start > 0:
            problems.append("text before the event token")
        event = c.event_of_id[toks[start]]
        body = toks[start + 1 :]
        a = _index(body, c.action_sep_id)
        if a is None:
            problems.append("no <|action_sep|>")
            head, src, val = (body, [], None) if event in ("call", "line") else ([], body, None)
        else:
            head, rest = body[:a], body[a + 1 :]
            g = _index(rest, c.arg_sep_id)
            src, val = (rest, None) if g is None else (rest[:g], rest[g + 1 :])
        for part in (head, src, val or []):
            bad = next((t for t in part if t in c.special_names or t < 0), None)
            if bad is not None:
                problems.append(f"unexpected token {c.special_names.get(bad, bad)}")
                break

        locals_: dict[str, str] = {}
        arg = None
        if event in ("call", "line"):
            locals_, problem = _read_locals(self._text(head))
            if problem:
                problems.append(problem)
            if val is not None:
                problems.append("unexpected <|arg_sep|>")
        else:
            if head:
                problems.append("locals on a return/exception frame")
            if val is None:
                if a is not None:
                    problems.append("no <|arg_sep|>")
            else:
                arg, problem = _read_value(self._text(val))
                if problem:
                    problems.append(problem)

        text = self._text(src)
        line, depth, func = self._place(event, text)
        if event in ("call", "line") and self._stack:
            ok = not any(p in problems for p in ("bad JSON locals", "locals are not a JSON object", "no <|action_sep|>"))
            self._stack[-1].keys = tuple(locals_) if ok and line is not None else None
        if line is None and not cut:
            problems.append("unknown line")
        source = self.lines[line - 1] if line is not None else text.rstrip("\r\n")
        frame = Frame(event, line, source, locals_, arg, depth, func, "; ".join(problems) or None)
        if ".." in locals_.values():
            prev = self.frames[-1] if self.frames else None
            frame = resolve_locals([prev, frame] if prev else [frame])[-1]
        return frame

    def _text(self, toks: Sequence[int]) -> str:
        return self.codec.tokenizer.decode([t for t in toks if t >= 0])

    # -- where a frame is ------------------------------------------------------------------
    def _place(self, event: str, text: str) -> tuple[int | None, int, str | None]:
        """(line, depth, func) of a frame, updating the scope stack."""
        allowed = self.next_allowed() or {}
        prefer = allowed.get(event)
        stack = self._stack
        top = stack[-1] if stack else None
        if event == "call":
            line = self._find(text, top, inclusive=True, prefer=prefer)
            scope = self.layout.scope_of_call(line)
            scope.last = "call"
            stack.append(scope)
            return line, len(stack) - 1, scope.func
        if top is None:  # a frame before any call: the model skipped the entry's call frame
            line = self._find(text, None, inclusive=True)
            top = self.layout.scope_of_call(line)
            top.func = self.layout.func_of(line) if line else None
            stack.append(top)
        line = self._find(text, top, inclusive=event != "line", prefer=prefer)
        prev = self.frames[-1] if self.frames else None
        if (
            line is not None
            and prev is not None
            and prev.event == "exception"
            and not (top.lo <= line <= top.hi)
            and len(stack) > 1
        ):
            # The exception left the function without a return frame: continue in the caller
            # whose function holds this line.
            for k in range(len(stack) - 2, -1, -1):
                caller = stack[k]
                found = self._find(text, caller, inclusive=True)
                if found is not None and caller.lo <= found <= caller.hi:
                    del stack[k + 1 :]
                    top, line = caller, found
                    break
        if line is not None:
            top.cur = line
            top.last = event
        else:  # a frame that names no line: where the scope is, the flow no longer knows
            top.last = None
        depth = len(stack) - 1
        func = top.func
        if event == "return":
            stack.pop()
        return line, depth, func

    def _find(self, text: str, scope: _Scope | None, inclusive: bool, prefer=None) -> int | None:
        """Line number of a predicted SOURCE: among the lines with that text, those the flow
        allows here (``prefer``) first; then in ``scope`` forward from its current line
        (wrapping to its start), then anywhere in the file; exact text first, then ignoring
        indentation."""
        key = _norm(text)
        if not key.strip():
            return None
        for candidates in (self._exact.get(key), self._loose.get(key.strip())):
            if candidates:
                if prefer:
                    candidates = [c for c in candidates if c in prefer] or candidates
                return _pick(candidates, scope, inclusive, len(self.lines))
        return None

    def _end_of_text(self, token: str) -> End:
        top = [f for f in self.frames if f.depth == 0 and f.event in ("return", "exception")]
        if not top:
            return End("end_of_text", f"The model ended the trace ({token}).")
        last = top[-1]
        if last.event == "return" and len(top) > 1 and top[-2].event == "exception" and self.frames[-2] is top[-2]:
            last = top[-2]  # the exception left the entry function (RETURN_AFTER_EXCEPTION)
        verb = "returned" if last.event == "return" else "raised"
        return End("end_of_text", f"The predicted trace {verb} {last.arg}.", value=last.arg, line=last.line)


def _pick(candidates: list[int], scope: _Scope | None, inclusive: bool, n_lines: int) -> int:
    """The first of ``candidates`` (ascending line numbers) in search order: the scope from its
    current line to its end, then from its start, then the first in the file."""
    if scope is not None:
        lo, hi = max(scope.lo, 1), min(scope.hi, n_lines)
        first = lo
        if scope.cur is not None and lo <= scope.cur <= hi:
            first = scope.cur if inclusive else scope.cur + 1
        ahead = [c for c in candidates if first <= c <= hi]
        if ahead:
            return ahead[0]
        behind = [c for c in candidates if lo <= c < first]
        if behind:
            return behind[0]
    return candidates[0]


def _index(seq: Sequence[int], value: int) -> int | None:
    try:
        return seq.index(value)
    except ValueError:
        return None


def _read_locals(text: str) -> tuple[dict[str, str], str | None]:
    """LOCALS text -> (name -> repr string, problem or None)."""
    if not text.strip():
        return {}, "no locals"
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return {}, "bad JSON locals"
    if not isinstance(obj, dict):
        return {}, "locals are not a JSON object"
    out = {}
    problem = None
    for k, v in obj.items():
        if not isinstance(v, str):
            v = dump_json(v)
            problem = "a local's value is not a JSON string"
        out[str(k)] = v
    return out, problem


def _read_value(text: str) -> tuple[str | None, str | None]:
    """VALUE text -> (value string, problem or None)."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return text.strip() or None, "bad JSON value"
    if obj is None or isinstance(obj, str):
        return obj, None
    return dump_json(obj), "value is not a JSON string"
