"""The streaming parser: generated ids -> frames, as they come, forgiving.

:class:`FrameParser` takes ids as they are generated, returns each frame when its
``<|frame_sep|>`` arrives, and marks what it cannot read (``Frame.malformed``) instead of raising.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Protocol, Sequence

from neurodebug.trace.format import EOT, cut_value, dump_json, norm_line, shorten, source_lines
from neurodebug.trace.frames import End, Frame, resolve_frame
from neurodebug.trace.source import Layout

if TYPE_CHECKING:
    from neurodebug.codec.codec import Codec

#: Where True, the exceptions that reading frames survives (a bug in the parser, the flow or the
#: constraints must not take a session down: the frame is marked unreadable, the flow or the
#: constraint lets go) are raised instead. Tests set it (tests/fuzz/test_frames_fuzz.py), so that a
#: bug a session would hide fails them.
RAISE_SURVIVED = False


def survived(e: Exception) -> None:
    """Called by a handler that survives an unexpected exception (a bug, not bad input): raises it
    again where ``RAISE_SURVIVED``."""
    if RAISE_SURVIVED:
        raise e


class Walker(Protocol):
    """Follows the frames read so far through the file's control flow (``constrain.flow.Cursor``).

    The parser knows nothing of the flow: it asks the walker which lines each event may name
    next (to choose among identical lines) and tells it each frame it placed."""

    def expect(self, entry: str | None) -> None: ...
    def allowed(self) -> "dict[str, frozenset[int]] | None": ...
    def feed(self, event: str, line: int | None, keys: tuple | None, depth: int) -> None: ...
    def fork(self) -> "Walker": ...


@dataclass
class _Scope:
    func: str | None
    lo: int  # first line of the scope's code (1-based, inclusive)
    hi: int  # last line
    cur: int | None = None  # line of the scope's latest frame


def _scope_of_call(layout: Layout, line: int | None) -> _Scope:
    """The scope a ``call`` frame at ``line`` enters."""
    if line is None:
        return _Scope(None, 1, layout.n)
    f = layout.defs.get(line) or layout.enclosing(line)
    if f is None:
        return _Scope("<module>", 1, layout.n, line)
    return _Scope(f[0], f[1], f[2], line)


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

    def __init__(self, codec: Codec, source: str, entry: str | None = None, walker: Walker | None = None):
        self.codec = codec
        self.walker = walker
        self.source = source
        self.entry = entry
        self.lines = source_lines(source)
        # normalized line text -> line numbers (ascending), exact and ignoring indentation
        self._exact: dict[str, list[int]] = {}
        self._loose: dict[str, list[int]] = {}
        for n, ln in enumerate(self.lines, 1):
            key = norm_line(ln)
            self._exact.setdefault(key, []).append(n)
            self._loose.setdefault(key.strip(), []).append(n)
        self.layout = Layout(source, len(self.lines))
        self.frames: list[Frame] = []
        self.frame_token_ids: list[list[int]] = []
        self.ended = False
        self.end = End("open", "The predicted trace is not finished.")
        self._buf: list[int] = []
        self._stack: list[_Scope] = []
        if walker is not None and entry:
            expect = getattr(walker, "expect", None)
            if expect is not None:
                expect(entry)  # the first frame is the entry's call frame, not another function's

    def fork(self) -> "FrameParser":
        """An independent copy of the parse state (to try a branch); shares codec and source."""
        new = copy.copy(self)
        new.frames = list(self.frames)
        new.frame_token_ids = [list(x) for x in self.frame_token_ids]
        new._buf = list(self._buf)
        new._stack = [dataclasses.replace(s) for s in self._stack]
        new.walker = self.walker.fork() if self.walker is not None else None
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
            survived(e)
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
                # text after a special token inside VALUE is the model running on, not the value
                arg, problem = _read_value(self._text(_before_special(val, c.special_names)))
                if problem:
                    problems.append(problem)

        text = self._text(src)
        line, depth, func = self._place(event, text)
        if self.walker is not None:
            ok = not any(p in problems for p in ("bad JSON locals", "locals are not a JSON object", "no <|action_sep|>"))
            keys = tuple(locals_) if event in ("call", "line") and ok and line is not None else None
            self.walker.feed(event, line, keys, depth)
        if line is None and not cut:
            problems.append("unknown line")
        source = self.lines[line - 1] if line is not None else text.rstrip("\r\n")
        frame = Frame(event, line, source, locals_, arg, depth, func, "; ".join(problems) or None)
        return resolve_frame(frame, self.frames)

    def _text(self, toks: Sequence[int]) -> str:
        return self.codec.tokenizer.decode([t for t in toks if t >= 0])

    # -- where a frame is ------------------------------------------------------------------
    def _place(self, event: str, text: str) -> tuple[int | None, int, str | None]:
        """(line, depth, func) of a frame, updating the scope stack."""
        allowed = self.walker.allowed() if self.walker is not None and not self.ended else None
        prefer = (allowed or {}).get(event)
        stack = self._stack
        top = stack[-1] if stack else None
        if event == "call":
            line = self._find(text, top, inclusive=True, prefer=prefer)
            scope = _scope_of_call(self.layout, line)
            stack.append(scope)
            return line, len(stack) - 1, scope.func
        if top is None:  # a frame before any call: the model skipped the entry's call frame
            line = self._find(text, None, inclusive=True)
            top = _scope_of_call(self.layout, line)
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
        key = norm_line(text)
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
        what = shorten(last.arg or "", 60)
        if last.malformed:
            where = f" at line {last.line}" if last.line else ""
            return End("end_of_text", f"The predicted trace ended with a malformed {last.event} frame{where} "
                                      f"({shorten(last.malformed, 60)}); it {verb} {what}.",
                       value=last.arg, line=last.line)
        return End("end_of_text", f"The predicted trace {verb} {what}.", value=last.arg, line=last.line)


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


def _before_special(toks: Sequence[int], special: dict) -> Sequence[int]:
    """The ids before the first special token (all of them when there is none)."""
    k = next((i for i, t in enumerate(toks) if t in special or t < 0), None)
    return toks if k is None else toks[:k]


def _read_value(text: str) -> tuple[str | None, str | None]:
    """VALUE text -> (value string, cut as a trace cuts values; problem or None)."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return cut_value(text.strip()) or None, "bad JSON value"
    if obj is None:
        return obj, None
    if isinstance(obj, str):
        return cut_value(obj), None
    return cut_value(dump_json(obj)), "value is not a JSON string"
