"""The neural debugger: a Session steps through the execution a model predicts.

One source file, its entry function and call, a Predictor (any backend) and the predicted frames
so far, kept as token ids in the predictor's state (for the local backend, a KV cache that steps
forward and back). The TUI, the language server, the debug adapter and `neurodebug debug` all drive
this API; docs/session.md describes it and the choices it makes.
"""

from __future__ import annotations

import ast
import functools
import math
import os
import random
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from neurodebug import compare as _compare
from neurodebug.codec import Codec
from neurodebug.confidence import unsure, values_logprob
from neurodebug.errors import UserError
from neurodebug.options import SessionOptions
from neurodebug.trace.context import CALL_ENTRY, CONTEXT_SHARE, whole_file
from neurodebug.trace.context import build as build_context
from neurodebug.trace.format import cut_value, source_lines
from neurodebug.trace.frames import End, Frame, Trace, unchanged_keys, wire_locals
from neurodebug.trace.source import (call_expression, find_def, literal_arguments, read_source, resolve_entry,
                                     trace_root)
from neurodebug.view import Anchor, SessionView

#: Force ``<|line_sep|>`` as the event of the frame after a call frame (see module docstring).
FORCE_LINE_AFTER_CALL = True


class _Cancelled(Exception):
    pass


class Cancelled(Exception):
    """``start()`` was cancelled (by :meth:`Session.cancel`) before the session was ready; calling
    ``start()`` again goes on from where it stopped (a loaded model and a finished real run are kept)."""


class Session:
    """One debugging session over a model's predicted execution (see the module docstring).

    Constructing one is cheap and runs nothing: it checks the entry and the call against the
    source. :meth:`start` does the work (loads the model unless a predictor was given, runs the
    program for real when the options ask for it, writes the call frame) and can be cancelled
    from another thread; the debugger moves need a started session.
    """

    def __init__(self, source: str, entry: str | None = None, call: str | None = None,
                 options: SessionOptions | None = None, *, predictor=None, path=None, real: Trace | None = None):
        self.source = source
        self.path = str(path) if path is not None else None
        self.options = options if options is not None else SessionOptions()
        self.predictor = predictor
        self._recorded = real  # a real trace recorded earlier stands in for the real run
        self.base_seed = self.options.seed if self.options.seed is not None else random.randrange(2**31)
        self.last_tokens_per_s: float | None = None
        self.speed = Speed()
        self._lock = threading.RLock()
        self._cancel = threading.Event()
        self.started = False
        self._changes = 0  # operations so far: the cached view is of the latest
        self._view: SessionView | None = None
        self._view_at = -1

        self.entry, self.call = resolve_entry(source, entry, call, Path(path).name if path is not None else None)
        if real is not None and self.call is None:
            self.call = real.call  # the recorded run's call, not one the model proposes
        #: what the model reads; built again for the model's budget at start (trace.context)
        self.context = whole_file(source, self._file_name(), self.expression)
        self._def = find_def(ast.parse(self.context.text), self.entry)
        self.real: Trace | None = None
        self.real_note: str | None = None
        self._real_done = False
        self.codec = self.state = None
        self._source_constraint = None  # built on the first generated frame
        self._clear()

    @property
    def expression(self) -> str | None:
        """The call, when it is an expression run in a function of its own (context.CALL_ENTRY)."""
        return self.call if self.entry == CALL_ENTRY else None

    def _file_name(self) -> str | None:
        """Frame.file of the session's own file: its path from the project root."""
        if self.path is None:
            return None
        return os.path.relpath(os.path.abspath(self.path), trace_root(self.path)).replace(os.sep, "/")

    @property
    def root(self) -> str | None:
        """The folder Frame.file is relative to: the project root of the session's file."""
        return trace_root(self.path) if self.path is not None else None

    def file_texts(self, files) -> dict:
        """Frame.file -> the file's text, for ``files`` (those of the context first, else read
        from the project; '' for one that cannot be read)."""
        read = self.__dict__.setdefault("_read_files", {})  # each file read once per session
        for file in files:
            if file in self.context.files or file in read or not file or file.startswith("<") or self.root is None:
                continue
            try:
                read[file] = read_source(os.path.join(self.root, *file.split("/")))
            except UserError:
                read[file] = ""
        known = {**read, **self.context.files}
        return {file: known[file] for file in files if file in known}

    def _build_context(self) -> None:
        """The code the entry can reach within the model's budget (CONTEXT_SHARE of its context)."""
        if self.path is None:
            return
        limit = self.predictor.context_limit
        budget = int(limit * CONTEXT_SHARE) if limit else None
        fits = (lambda text: True) if budget is None else \
            (lambda text: len(self.codec.prompt_ids(text, self.entry)) <= budget)
        self.context = build_context(self.path, self.source, trace_root(self.path), self.entry, self.expression,
                                     fits, read_source)
        self._def = find_def(ast.parse(self.context.text), self.entry)

    @classmethod
    def from_file(cls, path, entry: str | None = None, call: str | None = None,
                  options: SessionOptions | None = None, **kw) -> "Session":
        """A session on a Python file; a bad path, entry or call raises UserError."""
        return cls(read_source(path), entry, call, options, path=str(Path(path)), **kw)

    # -- starting --------------------------------------------------------------------------------
    def start(self) -> "Session":
        """Load the model (unless given), run the program for real (when asked and the call is
        known), and write the call frame, or let the model propose it. Returns the session.

        :meth:`cancel` from another thread stops it between these steps, and a prediction of the
        call frame at its next token: then it raises :class:`Cancelled` and a later ``start()``
        goes on. The real run itself is not interrupted; its wall-clock limit bounds it.
        A second ``start()`` of a started session does nothing."""
        with self._lock:
            if self.started:
                return self
            self._cancel.clear()
            try:
                self._load_predictor()
                if self.call is not None and not self._real_done:
                    self._run_real()
                    self._check_cancel()
                self._open_state()
                self._check_cancel()
                self.started = True
                if self.call is not None:
                    self._force(self._call_frame())
                else:
                    try:
                        self._propose_call()
                    except _Cancelled:
                        pass  # the first move proposes it again
            finally:
                self._changes += 1
                self._cancel.clear()
        return self

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise Cancelled("The session's start was cancelled.")

    def _load_predictor(self) -> None:
        if self.predictor is None:
            self.predictor = self.options.make_predictor()
            self._check_cancel()
        if self.codec is None:
            self.codec = Codec(self.predictor.tokenizer)

    def _open_state(self) -> None:
        """The prompt (the context and the entry) in a fresh predictor state."""
        self._build_context()
        self.prompt_ids = self.codec.prompt_ids(self.context.text, self.entry)
        limit = self.predictor.context_limit
        if limit and len(self.prompt_ids) >= limit:
            what = "source" if self.context.is_whole_file else "code the entry reaches"
            raise UserError(f"The {what} is {len(self.prompt_ids)} tokens long, over the model's context limit of {limit}.")
        self.state = self.predictor.open(self.prompt_ids)
        self._parser = self.new_parser()

    def _clear(self) -> None:
        self.frames: list[Frame] = []
        self._frame_ids: list[list[int]] = []
        self._starts: list[int] = []
        self._forced: set[int] = set()  # frames written by us, not the model
        #: each place the real run's frames were taken (take_real): the prediction goes on after it
        self.anchors: list[Anchor] = []
        self.elided: set[int] = set()  # forced return frames of a call stepped over
        self.ended = False
        self.end = End("open", "The prediction is not finished.")
        self._end_start: int | None = None
        self._parser = self.new_parser() if self.codec is not None else None

    def _run_real(self) -> None:
        self._real_done = True
        if self._recorded is not None:
            self._use_recorded(self._recorded)
            return
        if not self.options.run_real:
            self.real, self.real_note = None, "The real run is off for this session."
            return
        from neurodebug.real.tracer import trace_source

        trace = trace_source(self.source, self.entry, self.call, self.options.limits(),
                             filename=self.path or "<string>")
        if trace.end.reason in ("syntax_error", "no_such_function", "bad_call"):
            raise UserError(trace.end.message)
        self.real = trace
        self.real_note = None if trace.end.reason in ("returned", "raised") else trace.end.message

    def _use_recorded(self, trace: Trace) -> None:
        """A recorded real trace, when it is of this source, entry and call (else UserError)."""
        if trace.source != self.source or trace.entry != self.entry:
            raise UserError(f"The recorded trace is of {trace.entry or 'another function'}() in another source, "
                            f"not of {self.entry}() in this file.")
        if self.call is not None and (trace.call or "").strip() != self.call.strip():
            raise UserError(f"The recorded trace is of the call {trace.entry}({trace.call}), "
                            f"not {self.entry}({self.call}).")
        self.call = trace.call
        self.real = trace
        self.real_note = None if trace.end.reason in ("returned", "raised") else trace.end.message

    def _call_frame(self) -> Frame:
        """Frame 0 for a given call: the real call frame, else the arguments as literals."""
        if self.real is not None and self.real.frames and self.real.frames[0].event == "call":
            f = self.real.frames[0]
            return Frame("call", f.line, f.source, dict(f.locals), None, 0, f.func or self.entry, file=f.file)
        # a call expression's own function takes no arguments: the model predicts all it runs
        values = {} if self.expression is not None else literal_arguments(self._def, self.call)
        if values is None and not self.options.run_real and self._recorded is None:
            raise UserError(f"The arguments {self.call!r} are not all Python literals, and without a real run nothing "
                            "can evaluate them; a command that runs the program (compare, debug) can.")
        if values is None:
            why = self.real_note or "there is no real run"
            raise UserError(f"The arguments {self.call!r} are not all Python literals and the real run has no call "
                            f"frame to take their values from ({why.rstrip('.')}).")
        file, line = self.context.where(self._def.lineno)
        text = self.context.line_text(file, line)
        return Frame("call", line, text, {k: cut_value(repr(v)) for k, v in values.items()}, None, 0, self.entry,
                     file=file)

    def _propose_call(self) -> None:
        """Let the model write the call frame (its arguments), then run for real on them if we can."""
        f = self._advance(force_event="call")
        if f is None:
            return
        args = call_expression(self._def, f)
        if args is None:
            self.real_note = "The model's proposed arguments are not all Python literals, so there is no real run."
            return
        self.call = args
        self._run_real()

    # -- reading --------------------------------------------------------------------------------
    @property
    def index(self) -> int:
        return len(self.frames) - 1

    @property
    def current(self) -> Frame | None:
        return self.frames[-1] if self.frames else None

    @property
    def depth(self) -> int:
        return self.current.depth if self.current else 0

    @property
    def constrained(self) -> bool:
        """True when generated frames' SOURCE is constrained to lines of the file (asked for, and
        the backend applies it)."""
        return self.options.constrain and self._applies_constraint

    @property
    def constrained_locals(self) -> bool:
        """True when the keys of generated frames' LOCALS are constrained to local names of the
        file (asked for, and the backend applies it)."""
        return self.options.constrains_locals and self._applies_constraint

    @property
    def beaming(self) -> bool:
        """True when frames are predicted by beam search (a width over 1, greedy decoding, and a
        backend that supports it); otherwise token by token."""
        return self.options.beam > 1 and self.options.temperature == 0 and self.state is not None and self.state.supports_beam

    @property
    def constrained_flow(self) -> bool:
        """True when generated frames follow the file's control flow (asked for, the source
        compiles, and the backend applies constraints)."""
        return self.options.constrains_flow and self.flow is not None and self._applies_constraint

    @property
    def _applies_constraint(self) -> bool:
        """The started session's backend restricts generated tokens (the State declares it)."""
        return self.state is not None and self.state.applies_constraint

    @functools.cached_property
    def flow(self):
        """The file's static control flow (constrain.flow.Flow), None when it does not compile."""
        from neurodebug.constrain.flow import Flow

        return Flow.of(self.context.text)

    def new_parser(self):
        """A parser of this file's predicted frames that follows its control flow (a walker
        through the flow also tells identical lines apart)."""
        from neurodebug.constrain.flow import Cursor

        return self.codec.parser(self.context.text, self.entry, Cursor(self.flow) if self.flow is not None else None)

    def _constraint(self, prefix: list[int]):
        """The constraint hook of one frame's generation (None when unconstrained)."""
        return self.frame_constraint(self._parser, prefix)

    def frame_constraint(self, parser, prefix=()):
        """The constraint hook (None when unconstrained) of a frame generated after the frames
        ``parser`` (a codec.FrameParser of this source) has read, starting with ``prefix``: the
        session's own frames, or a real history under teacher forcing."""
        o = self.options
        if not o.constrain or not self._applies_constraint:
            return None
        if self._source_constraint is None:
            from neurodebug.constrain.grammar import SourceConstraint

            self._source_constraint = SourceConstraint(self.codec, self.context.text, self.entry, constrain_source=True,
                                                       constrain_locals=o.constrains_locals)
        # the first frame is the entry's call frame even without the flow constraint (the flow says whose)
        walker = parser.walker if (o.constrains_flow or not parser.frames) and not parser.ended else None
        flow = walker.allowed() if walker is not None else None
        keys = walker.keys() if walker is not None else None
        dots = unchanged_keys(parser.frames, parser.depth) \
            if o.constrains_locals and not parser.ended and parser.frames and parser.depth >= 0 else None
        return self._source_constraint.for_frame(prefix, flow, keys, dots)

    @property
    def tokens_computed(self) -> int:
        return self.state.tokens_computed if self.state is not None else 0

    def source_line(self, line: int | None) -> str:
        lines = source_lines(self.source)
        return lines[line - 1] if line and 0 < line <= len(lines) else ""

    def predicted_trace(self) -> Trace:
        return Trace(self.source, self.entry, self.call, list(self.frames), self.end)

    def real_frame(self, i: int) -> Frame | None:
        """The real frame aligned with predicted frame i (None when there is none)."""
        return self.view().real_frame(i)

    def view(self) -> SessionView:
        """What the front ends show of the session now: computed once per change (the alignment
        with the real run and the comparison included), then shared."""
        with self._lock:
            if self._view_at != self._changes:
                self._view, self._view_at = SessionView.of(self), self._changes
            return self._view

    def comparison(self):
        """compare.Comparison of the predicted frames so far against the real run."""
        return _compare.compare(self._real_or_say(), self.predicted_trace(), self.elided)

    def teacher_forced(self):
        """compare.TeacherForced: every real frame predicted from the real history before it
        (one forward pass, then only the wrong frames generated); the session's own prediction
        is untouched. cancel() stops it; it then returns None."""
        real = self._real_or_say()
        if not self.started:
            raise UserError("The session has not started yet: call start() first.")
        with self._lock:
            self._cancel.clear()
            try:
                return _compare.teacher_forced(real, self.predictor, self.codec, max_frame_tokens=self.options.max_frame_tokens,
                                               should_stop=self._cancel.is_set, constraint=self.frame_constraint,
                                               parser=self.new_parser(), context=self.context.text,
                                               place=self.context.place)
            except _compare.Cancelled:
                return None
            finally:
                self._cancel.clear()

    def alternatives(self, i: int, name: str, k: int = 3):
        """The model's ``k`` most likely values of the local ``name`` in predicted frame ``i``,
        with their probabilities (neurodebug.alternatives) put through the model's value map,
        as its values' confidence is; UserError with one sentence where there are none to give."""
        from neurodebug.alternatives import alternatives

        with self._lock:
            if not self.started or not 0 <= i < len(self.frames):
                raise UserError(f"There is no predicted frame {i + 1}.")
            if i in self._forced:
                raise UserError(f"Step {i + 1} was written by the session (the call, an edit or the real run), "
                                "not predicted: it has no alternatives.")
            if name not in self.frames[i].locals:
                raise UserError(f"Step {i + 1} has no local {name}.")
            ids = self._frame_ids[i]
            if self.codec.action_sep_id not in ids:
                raise UserError(f"Step {i + 1} is cut off before its locals end.")
            locals_ids = ids[1:ids.index(self.codec.action_sep_id)]
            prefix = self.state.ids[:self._starts[i]] + ids[:1]  # everything before, and the event token
            try:
                found = alternatives(self.predictor, self.codec.tokenizer.decode, prefix, locals_ids, name, k)
            except UserError:
                if name in self.frames[i].locals:  # written as "..": its value is the one before
                    raise UserError(f"Step {i + 1} writes {name} as unchanged (..): its alternatives are where "
                                    "it was last written.") from None
                raise
            # each on the scale of the values' confidence: the written one reads as its confidence
            calibration = self.predictor.calibration
            return [replace(a, probability=calibration.value_confidence(math.log(a.probability))) for a in found]

    def _real_or_say(self) -> Trace:
        if self.real is None:
            raise UserError(self.real_note or "There is no real run to compare with.")
        return self.real

    def to_json(self, view: SessionView | None = None) -> dict:
        """Everything a front end shows, as JSON-ready data (``view``: this session's view, when
        the caller has taken it already)."""
        view = view or self.view()
        divergence = view.divergence
        return {
            "source": self.source,
            "path": self.path,
            "entry": self.entry,
            "call": self.call,
            "index": self.index,
            "ended": self.ended,
            "end": self.end.to_dict(),
            "depth": self.depth,
            "frames": [f.to_dict() for f in self.frames],
            "forced": sorted(self._forced),
            "anchors": [asdict(a) for a in self.anchors],
            "elided": sorted(self.elided),
            "real": self.real.to_json_dict(wire=False) if self.real is not None else None,
            "real_note": self.real_note,
            "aligned_real": list(view.aligned),
            "divergence": divergence.to_dict() if divergence else None,
            "tokens": len(self.state),
            "tokens_computed": self.tokens_computed,
            "last_tokens_per_s": self.last_tokens_per_s,
            "speed": self.speed.to_dict(),
            "constrained": self.constrained,
            "constrained_locals": self.constrained_locals,
            "constrained_flow": self.constrained_flow,
            "beam": self.options.beam if self.beaming else 1,
        }

    # -- the engine: one frame --------------------------------------------------------------------
    def _seed(self, i: int) -> int:
        return (self.base_seed * 1_000_003 + i) % (2**63)

    def _advance(self, force_event: str | None = None) -> Frame | None:
        """Predict one frame (its event forced when given) and append it; None when the trace ended."""
        if self.ended:
            return None
        if len(self.frames) >= self.options.max_frames:
            self._finish(End("frame_cap", f"The prediction stopped at the cap of {self.options.max_frames} frames."))
            return None
        if force_event is None and FORCE_LINE_AFTER_CALL and self.current is not None and self.current.event == "call":
            force_event = "line"
        start = len(self.state)
        budget = self.options.max_frame_tokens
        room = _compare.context_room(self.predictor, start)
        if room is not None:
            budget = min(budget, room)
            if budget < 2:
                limit = self.predictor.context_limit
                self._finish(End("token_cap", f"The trace reached the model's context limit of {limit} tokens."))
                return None
        prefix = [self.codec.event_ids[force_event]] if force_event else []
        constraint = self._constraint(prefix)
        extra = {} if constraint is None else {"constraint": constraint}
        logprobs = [0.0] * len(prefix)  # a forced event token: the constraint's, probability 1
        if self.state.gives_logprobs:
            extra["logprobs"] = logprobs
        t0 = time.perf_counter()
        forwards = self.state.forwards
        try:
            if prefix:
                self.state.extend(prefix)
            if self.beaming:
                factory = (lambda: self._constraint(prefix)) if constraint is not None else None
                new = self.state.beam(self.options.beam, budget, self.codec.stop_ids, should_stop=self._cancel.is_set,
                                      constraint=factory, **({"logprobs": logprobs} if "logprobs" in extra else {}))
            else:
                new = self.state.generate(budget, stop_ids=self.codec.stop_ids, temperature=self.options.temperature,
                                          top_p=self.options.top_p, seed=self._seed(len(self.frames)),
                                          should_stop=self._cancel.is_set, **extra)
        except BaseException:  # Ctrl-C, a server gone away: drop the partial frame, keep the session
            self.state.truncate(min(start, len(self.state)))
            raise
        dt = time.perf_counter() - t0
        if new:
            self.last_tokens_per_s = len(new) / dt if dt > 0 else None
        if self._cancel.is_set():
            self.state.truncate(start)
            raise _Cancelled()
        self.speed.add(dt, len(prefix) + len(new), self.state.forwards - forwards)
        ids = prefix + new
        end_ids = set(self.codec.end_ids)
        if new and new[-1] in end_ids:
            body = ids[:-1]
            if body:  # a frame cut off by the end token: keep it, marked, then end
                self._append(start, body, self._with_confidence(self._parse(body, cut=True), body, logprobs[:-1]),
                             forced=False)
            self._end_start = len(self.state) - 1
            self._parser.feed(new[-1:])
            self._finish(self._parser.end if self._parser.ended else End("end_of_text", "The model ended the trace."))
            return self.current if body else None
        if not new or new[-1] != self.codec.frame_sep_id:
            self._append(start, ids, self._with_confidence(self._parse(ids, cut=True), ids, logprobs), forced=False)
            self._finish(End("token_cap", f"A frame ran past {budget} tokens without ending; the prediction stopped."))
            return self.current
        frame = self._parse(ids, cut=False)
        self._append(start, ids, self._with_confidence(frame, ids, logprobs), forced=False)
        return self.current

    def _with_confidence(self, frame: Frame, ids: list[int], logprobs: list[float]) -> Frame:
        """The frame with the confidence of its tokens and of each value its LOCALS write in full
        (``neurodebug.confidence``); as it was when the backend gave no log-probabilities."""
        if len(logprobs) != len(ids) or not ids:
            return frame
        calibration = self.predictor.calibration  # the model's map (confidence.Calibration)
        parts = self.codec.frame_parts(ids, (0, len(ids)))
        a, b = parts.get("locals", (0, 0))
        values = values_logprob(self.codec.tokenizer.decode, ids[a:b], logprobs[a:b])
        first = len(self.frames) == _compare.SCORE_FROM  # the frame right after the call frame
        return replace(frame, confidence=calibration.frame_confidence(logprobs, parts, values, first),
                       locals_confidence={k: calibration.value_confidence(v) for k, v in values.items()}
                       if parts.get("locals") else None)

    def _parse(self, ids: list[int], cut: bool) -> Frame:
        """Feed one frame's ids to the parser (which tracks scopes) and return the frame.

        A frame without its closing frame_sep (cut off) is closed for the parser only, so the
        parser's state always ends on a frame boundary."""
        got = self._parser.feed(_closed(ids, self.codec.frame_sep_id))
        if got:
            f = got[0]
        else:  # an empty frame (frame_sep right away)
            f = Frame("line", None, "", depth=max(self._parser.depth, 0), malformed="empty frame")
        f = self.context.place(f)  # read on the context's lines; the user sees the file's
        if cut and not (f.malformed or "").startswith("cut off"):
            f = replace(f, malformed="cut off" + (f"; {f.malformed}" if f.malformed else ""))
        return f

    def _append(self, start: int, ids: list[int], frame: Frame, forced: bool) -> None:
        self.frames.append(frame)
        self._frame_ids.append(list(ids))
        self._starts.append(start)
        if forced:
            self._forced.add(len(self.frames) - 1)

    def _force(self, frame: Frame) -> Frame:
        """Write a frame ourselves (the call frame, an edited frame) and append it."""
        wire = wire_locals(self.frames + [frame])[-1] if self.frames else dict(frame.locals)
        ids = self.codec.frame_ids(frame, wire)
        start = len(self.state)
        self.state.extend(ids)
        parsed = self._parse(ids, cut=False)
        # keep what we wrote; the parser only supplies depth/function bookkeeping
        f = replace(frame, depth=parsed.depth, func=frame.func or parsed.func, malformed=None)
        self._append(start, ids, f, forced=True)
        return f

    def _finish(self, end: End) -> None:
        if end.line is not None:  # the parser's line is the context's: the user's is the file's
            file, line = self.context.where(end.line)
            end = replace(end, line=line if file == self.context.main else None)
        self.ended = True
        self.end = end

    def _truncate_frames(self, n: int) -> None:
        """Keep the first n frames: cut the state back and rebuild the parser's scope stack."""
        cut = self._starts[n] if n < len(self._starts) else (self._end_start if self._end_start is not None else len(self.state))
        self.state.truncate(cut)
        del self.frames[n:], self._frame_ids[n:], self._starts[n:]
        self._forced = {i for i in self._forced if i < n}
        self.elided = {i for i in self.elided if i < n}
        self.anchors = [a for a in self.anchors if a.start <= n]
        self.ended = False
        self.end = End("open", "The prediction is not finished.")
        self._end_start = None
        self._parser = self.new_parser()
        for ids in self._frame_ids:
            self._parser.feed(_closed(ids, self.codec.frame_sep_id))

    # -- operations -------------------------------------------------------------------------------
    def _op(self, fn) -> Frame | None:
        if not self.started:
            raise UserError("The session has not started yet: call start() first.")
        with self._lock:
            self._cancel.clear()
            try:
                if not self.frames and not self.ended:  # the model's call proposal was cancelled
                    self._propose_call()
                else:
                    fn()
            except _Cancelled:
                pass
            finally:
                self._changes += 1
                self._cancel.clear()
            return self.current

    def cancel(self) -> None:
        """Stop a running prediction at its next token (thread-safe); the session stays consistent."""
        self._cancel.set()

    def step(self) -> Frame | None:
        """One frame forward, into calls."""
        return self._op(self._advance)

    def _over_call(self, call: Frame) -> None:
        """Having just predicted ``call`` (a deeper call frame), get to the callee's return."""
        if self.options.step_over == "force_return":
            r = self._advance(force_event="return")
            if r is not None and r.event == "return":
                self.elided.add(self.index)
            return
        while True:
            f = self._advance()
            if f is None or (f.event == "return" and f.depth <= call.depth) or f.depth < call.depth:
                return
            if f.event == "call" and f.depth > call.depth:
                self._over_call(f)

    def next(self) -> Frame | None:
        """One frame forward in the current function: a call is stepped over (see step_over)."""

        def run():
            here = self.current
            if here is None:
                self._advance()
                return
            # the depth of the function we are in (a return frame's caller, once it has returned)
            depth = here.depth - 1 if here.event in ("return", "exception") and here.depth > 0 else here.depth
            f = self._advance()
            # every call the line makes is stepped over: `s.push(Node(1))` calls Node, then push
            while f is not None and f.event == "call" and f.depth > depth:
                self._over_call(f)
                f = self._advance()

        return self._op(run)

    def out(self) -> Frame | None:
        """Forward to the return frame of the current function (calls inside are stepped over)."""

        def run():
            cur = self.current
            if cur is None:
                return
            d = cur.depth - 1 if cur.event in ("return",) else cur.depth
            while True:
                f = self._advance()
                if f is None:
                    return
                if f.event == "call" and f.depth > d:
                    self._over_call(f)
                    continue
                if (f.event == "return" and f.depth <= d) or f.depth < d:
                    return

        return self._op(run)

    def cont(self, max_frames: int | None = None) -> Frame | None:
        """Forward to the end of the trace (or ``max_frames`` more frames, or the session's cap)."""

        def run():
            n = 0
            while not self.ended and (max_frames is None or n < max_frames):
                if self._advance() is None:
                    return
                n += 1

        return self._op(run)

    def run_to_unsure(self, below: float | None = None) -> Frame | None:
        """Forward until a frame the model gave less than ``below`` (SessionOptions.unsure_below
        by default), or the end of the trace."""
        below = self.options.unsure_below if below is None else below

        def run():
            while not self.ended:
                f = self._advance()
                if f is None or unsure(f.confidence, below):
                    return

        return self._op(run)

    def run_to(self, line: int, file: str | None = None) -> Frame | None:
        """Forward until a frame at ``line`` of ``file`` (Frame.file; the session's own file by
        default), or the end of the trace."""
        file = file if file is not None else self.context.main
        text = self.source if file == self.context.main else self.file_texts([file]).get(file, "")
        if not isinstance(line, int) or not 1 <= line <= len(source_lines(text)):
            name = (self.path or "the source") if file == self.context.main else file
            raise UserError(f"Line {line} is not a line of {name}.")

        def run():
            while not self.ended:
                f = self._advance()
                if f is None or (f.line == line and f.file == file):
                    return

        return self._op(run)

    def back(self) -> Frame | None:
        """Undo one frame: the KV cache is cut back to where that frame began."""
        return self.back_to(self.index - 1)

    def back_to(self, i: int) -> Frame | None:
        """Go back to frame ``i``: the frames after it are undone and the KV cache is cut back to
        where frame i+1 began (a forced call frame, the input, stays). Undoing the end of the trace
        first, when the current frame is already i, is one step back too."""
        if not isinstance(i, int):
            raise UserError(f"{i!r} is not a frame number.")

        def run():
            floor = 0 if 0 in self._forced else -1
            keep = max(i, floor) + 1
            if keep < len(self.frames):
                self._truncate_frames(keep)
            elif self.ended and i < self.index + 1:  # only the end of the trace is left to undo
                self._truncate_frames(len(self.frames))

        return self._op(run)

    def take_real(self) -> Frame | None:
        """Continue from the real run: the real frames up to the one aligned with the current step
        take the place of the prediction (teacher-forced into the cache; the frames that already
        are the real ones stay), and the model predicts on from there. Where the prediction and the
        real run part, this shows what the model makes of the rest. The prediction after it is a
        segment of its own (``anchors``): the comparison counts its divergences apart."""

        def run():
            real = self._real_or_say()
            ri = self.view().real_index
            if ri is None:
                raise UserError("The real run has no frame aligned with this step to continue from.")
            view = self.view()
            keep = self._real_prefix(real.frames, ri)
            dropped = [i for i in range(keep, len(self.frames)) if i not in self._forced]
            wrong = [i for i in dropped if view.diverges(i)]
            self._truncate_frames(keep)
            for f in real.frames[keep:ri + 1]:
                self._force(f)
            self.anchors.append(Anchor(len(self.frames), len(dropped), len(wrong), wrong[0] if wrong else None))

        return self._op(run)

    def _real_prefix(self, real: list[Frame], ri: int) -> int:
        """How many leading frames (up to ``ri + 1``) already are the real run's, as written."""
        k = 0
        while k <= ri and k < len(self.frames) and not _compare.frame_differences(real[k], self.frames[k]) \
                and (real[k].source.strip() == self.frames[k].source.strip()):
            k += 1
        return k

    def set_local(self, name: str, value_repr: str) -> Frame | None:
        """Give ``name`` the value ``value_repr`` in the current frame and drop every later prediction.

        The value is a Python expression; literals are normalised to their repr. On the call
        frame, the real run is made again with the new arguments when they are all literals.
        """
        if not isinstance(name, str) or not name.isidentifier():
            raise UserError(f"{name!r} is not a variable name.")
        value = _normalise_value(value_repr)

        def run():
            cur = self.current
            if cur is None:
                raise UserError("There is no current frame to edit yet.")
            if cur.event not in ("call", "line"):
                raise UserError(f"A {cur.event} frame has no locals to edit; step to a line first.")
            i = self.index
            edited = replace(cur, locals={**cur.locals, name: value}, malformed=None)
            self._truncate_frames(i)
            self._force(edited)
            if i == 0:
                args = call_expression(self._def, edited)
                if args is not None:
                    self.call = args
                    self._run_real()
                else:
                    self.real, self.real_note = None, "The edited arguments are not all Python literals, so there is no real run."

        return self._op(run)

    def reset(self, seed: int | None = None) -> Frame | None:
        """Drop the prediction after the call frame and sample again (a new base seed)."""

        def run():
            self.base_seed = seed if seed is not None else random.randrange(2**31)
            if 0 in self._forced:
                self._truncate_frames(1)
            else:
                self._truncate_frames(0)
                self.call = None
                self.real, self.real_note = None, None
                self._propose_call()

        return self._op(run)


@dataclass
class Speed:
    """What predicting frames cost so far: the frames the model predicted (each generation step:
    a frame, or the end of the trace), their seconds, tokens and the forward passes (or
    requests) the backend ran for them. With jump-forward and speculation
    (``model/lookahead.py``) a frame takes fewer forwards than tokens."""

    frames: int = 0
    seconds: float = 0.0
    tokens: int = 0
    forwards: int = 0

    def add(self, seconds: float, tokens: int, forwards: int) -> None:
        self.frames += 1
        self.seconds += seconds
        self.tokens += tokens
        self.forwards += forwards

    @property
    def frames_per_s(self) -> float | None:
        return self.frames / self.seconds if self.seconds > 0 else None

    @property
    def forwards_per_frame(self) -> float | None:
        return self.forwards / self.frames if self.frames else None

    @property
    def tokens_per_frame(self) -> float | None:
        return self.tokens / self.frames if self.frames else None

    def to_dict(self) -> dict:
        return {"frames": self.frames, "seconds": round(self.seconds, 4), "tokens": self.tokens,
                "forwards": self.forwards, "frames_per_s": self.frames_per_s,
                "forwards_per_frame": self.forwards_per_frame, "tokens_per_frame": self.tokens_per_frame}

    def line(self) -> str:
        """``12.3 frames/s, 4.1 forwards/frame (25.4 tokens/frame)``, or "" before any frame."""
        if not self.frames:
            return ""
        fps = self.frames_per_s
        return (f"{fps:.1f} frames/s, " if fps else "") + \
            f"{self.forwards_per_frame:.1f} forwards/frame ({self.tokens_per_frame:.1f} tokens/frame)"


def _closed(ids: list[int], frame_sep: int) -> list[int]:
    return ids if ids and ids[-1] == frame_sep else ids + [frame_sep]


# -- editing a value ----------------------------------------------------------------------


def _normalise_value(value_repr: str) -> str:
    """A new value for a local: a Python expression; literals are written as their repr."""
    text = (value_repr or "").strip()
    if not text:
        raise UserError("The new value is empty; write a Python value such as 5 or 'abc'.")
    try:
        return repr(ast.literal_eval(text))
    except Exception:
        pass
    try:
        ast.parse(text, mode="eval")
    except SyntaxError:
        raise UserError(f"{text!r} is not a Python value.") from None
    return text
