"""Trace <-> token ids in CWM's execution-trace format (docs/trace-format.md).

    <|begin_of_text|><|trace_context_start|>CONTEXT<|frame_sep|>FRAME FRAME ... <|end_of_text|>

Works with any tokenizer that has CWM's special tokens (looked up by name). Text pieces are
encoded one by one between the separator ids, so the ids of a whole trace are the
concatenation of its frames' ids.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from neurodebug.codec.parser import FrameParser
from neurodebug.trace.format import (
    ACTION_SEP,
    ARG_SEP,
    BOS,
    CONTEXT_START,
    END_TOKENS,
    EOT,
    EVENT_TOKENS,
    FRAME_SEP,
    START_MARKER,
    TRACE_TOKENS,
    TRAILING_MARKER_RE,
    TokenizerLike,
    dump_json,
    source_lines,
    strip_marker,
    wire_source,
)
from neurodebug.trace.frames import End, Frame, Trace, wire_locals
from neurodebug.trace.source import Layout


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
        had_marker = [i for i, ln in enumerate(lines) if TRAILING_MARKER_RE.search(ln)]
        for i in had_marker:
            lines[i] = strip_marker(lines[i])
        target = None
        if entry:
            target = Layout("\n".join(lines), len(lines)).def_line(entry)
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
    def parser(self, source: str, entry: str | None = None, walker=None) -> "FrameParser":
        """A streaming parser of this source's frames; ``walker`` follows the control flow
        (``constrain.flow.Cursor``) and tells identical lines apart."""
        return FrameParser(self, source, entry, walker)

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
