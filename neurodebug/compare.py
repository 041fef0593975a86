"""Predicted execution against the real one: alignment, first divergence, CWM's metrics.

Two ways to score a model on a real trace:

* free-running (:func:`compare`): the model predicted a whole trace on its own (each frame
  conditioned on its own earlier frames); the two traces are aligned step by step.
* teacher-forced (:func:`teacher_forced`): every frame is predicted from the *real* history
  before it. One forward pass over prompt + real frames gives the model's greedy choice at
  every position, so a frame is right when the argmax equals the real next token over the
  whole frame. Only the other frames are generated (under the session's constraints), to show
  what the model says instead; one whose generated text is the real frame's (the constraints
  steered it back, or other tokens spell the same text) is right too, and one that reads back
  as the real frame but is written otherwise (a value in full where the diff rule writes
  ``".."``) is a "form" difference, shown with the two spellings.

Metrics follow the CWM paper (Table 9): valid format (fraction of predicted frames that are
well formed), state exact match (fraction of real frames whose observation the model got
exactly: the locals of call/line frames, the value of return/exception frames), action exact
match (fraction of real frames whose event and line it got), output match (the entry's return
value or exception, compared as Python values when both parse as literals).

The call frame holds the arguments, which are the input of a prediction, not a prediction:
it is shown in the rows but not counted in state/action metrics (``SCORE_FROM``).
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass, field, replace
from typing import Any

from neurodebug.confidence import RAW, values_logprob
from neurodebug.trace.format import strip_marker
from neurodebug.trace.frames import Frame, Trace

#: Index of the first real frame counted by the metrics (frame 0 is the call: the input).
SCORE_FROM = 1


# -- data ---------------------------------------------------------------------------------------


@dataclass
class Row:
    """One aligned step: the real frame and the predicted frame (either may be missing)."""

    step: int
    real: Frame | None
    predicted: Frame | None
    differs: set[str] = field(default_factory=set)  # "event", "line", "locals:<name>", "arg"

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "real": self.real.to_dict() if self.real else None,
            "predicted": self.predicted.to_dict() if self.predicted else None,
            "differs": sorted(self.differs),
        }


@dataclass
class Divergence:
    """The first step where prediction and reality part."""

    step: int
    kind: str  # "event" | "line" | "locals" | "value" | "length" | "form" (same frame, other spelling)
    name: str | None  # the local's name for kind "locals"
    expected: str | None  # real value (event name, line number, repr)
    predicted: str | None
    real_line: int | None
    predicted_line: int | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Metrics:
    """CWM's trace-prediction metrics (fractions in 0..1; None when there is nothing to count)."""

    valid_format: float | None
    state_exact: float | None
    action_exact: float | None
    output_match: bool | None
    n_real: int
    n_predicted: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Comparison:
    rows: list[Row]
    first_divergence: Divergence | None
    metrics: Metrics

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": [r.to_dict() for r in self.rows],
            "first_divergence": self.first_divergence.to_dict() if self.first_divergence else None,
            "metrics": self.metrics.to_dict(),
        }


# -- frame-level differences --------------------------------------------------------------------


def frame_differences(real: Frame, predicted: Frame) -> set[str]:
    """What differs between two frames: "event", "line", "locals:<name>", "arg"."""
    out: set[str] = set()
    if real.event != predicted.event:
        out.add("event")
    if real.line != predicted.line or real.file != predicted.file:
        out.add("line")
    for name in real.locals.keys() | predicted.locals.keys():
        if real.locals.get(name) != predicted.locals.get(name):
            out.add(f"locals:{name}")
    if real.arg != predicted.arg:
        out.add("arg")
    return out


def state_ok(differs: set[str]) -> bool:
    return not any(d == "arg" or d.startswith("locals:") for d in differs)


def action_ok(differs: set[str]) -> bool:
    return "event" not in differs and "line" not in differs


def same_value(a: str | None, b: str | None) -> bool:
    """Two reprs denote the same value: equal as Python literals when both parse, else as text."""
    if a is None or b is None:
        return a is b
    if a == b:
        return True
    try:
        return ast.literal_eval(a) == ast.literal_eval(b)
    except Exception:
        return a.strip() == b.strip()


def output_of(trace: Trace) -> tuple[str, str] | None:
    """("return" | "exception", repr) of the entry function, or None when it produced neither."""
    value = trace.return_value
    if value is not None:
        return ("return", value)
    if trace.end.reason == "raised" and trace.end.value is not None:
        return ("exception", trace.end.value)
    for f in reversed(trace.frames):
        if f.event == "exception" and f.depth == 0:
            return ("exception", f.arg or "")
    return None


def output_match(real: Trace, predicted: Trace) -> bool | None:
    r = output_of(real)
    if r is None:
        return None
    p = output_of(predicted)
    return p is not None and p[0] == r[0] and same_value(r[1], p[1])


# -- alignment ----------------------------------------------------------------------------------


def align(real: list[Frame], predicted: list[Frame], elided: set[int] = frozenset()) -> list[tuple[int | None, int | None]]:
    """Pairs (real index, predicted index), by step.

    ``elided`` holds indices of predicted return frames that were forced right after a call
    frame (a debugger's "next" over a call, as in CWM's demo): the callee's body was never
    predicted, so the real callee frames up to its return are skipped, not counted as a
    divergence.
    """
    pairs: list[tuple[int | None, int | None]] = []
    ri = 0
    for pi, p in enumerate(predicted):
        if pi in elided and ri < len(real):
            depth = real[ri - 1].depth if ri > 0 and real[ri - 1].event == "call" else p.depth
            j = ri
            while j < len(real) and not (real[j].event == "return" and real[j].depth == depth):
                j += 1
            if j < len(real):
                ri = j
        pairs.append((ri if ri < len(real) else None, pi))
        ri += 1
    for r in range(ri, len(real)):
        pairs.append((r, None))
    return pairs


def _describe(f: Frame, with_file: bool = False) -> str:
    """A frame in words: 'line 8 (`return t`)', 'a return at line 4 (`return y`)', 'a malformed frame (...)';
    ``with_file``: 'line 3 of b.py (`...`)'."""
    if f.line is None:
        return f"a malformed frame ({f.malformed})" if f.malformed else f"{_a(f.event)} at an unknown line"
    text = strip_marker(f.source).strip()
    of = f" of {f.file}" if with_file and f.file else ""
    where = f"line {f.line}{of}" + (f" (`{text}`)" if text else "")
    return where if f.event == "line" else f"{_a(f.event)} at {where}"


def _a(event: str) -> str:
    """The event with its article: 'a return', 'an exception'."""
    return ("an " if event[0] in "aeiou" else "a ") + event


def divergence_of(step: int, real: Frame | None, predicted: Frame | None, differs: set[str]) -> Divergence | None:
    """Describe one row's difference as a Divergence (event > line > locals > value > length)."""
    if real is None and predicted is None:
        return None
    if real is None or predicted is None:
        if real is None:
            msg = f"At step {step + 1} the real run had ended but the model predicted {_describe(predicted)}."
        else:
            msg = f"At step {step + 1} the model had ended its trace but the real run went on to {_describe(real)}."
        return Divergence(step, "length", None, None if real is None else real.event,
                          None if predicted is None else predicted.event,
                          real.line if real else None, predicted.line if predicted else None, msg)
    rl, pl = real.line, predicted.line
    files = real.file != predicted.file  # then each side names its file
    if "event" in differs:
        return Divergence(step, "event", None, real.event, predicted.event, rl, pl,
                          f"At step {step + 1} the real run had {_describe(real, files)}; "
                          f"the model predicted {_describe(predicted, files)}.")
    if "line" in differs:
        return Divergence(step, "line", None, str(rl), str(pl), rl, pl,
                          f"At step {step + 1} the real run executed {_describe(real, files)}; "
                          f"the model predicted {_describe(predicted, files)}.")
    names = sorted(d.split(":", 1)[1] for d in differs if d.startswith("locals:"))
    if names:
        # the first name in the real frame's order, so the message follows the source
        order = [n for n in real.locals if n in names] + [n for n in names if n not in real.locals]
        name = order[0]
        exp, got = real.locals.get(name), predicted.locals.get(name)
        if exp is None:
            msg = f"At step {step + 1} (line {rl}) the model predicted a local {name} = {got} that the real run did not have."
        elif got is None:
            msg = f"At step {step + 1} (line {rl}) the model missed the local {name} (real value {exp})."
        else:
            msg = f"At step {step + 1} (line {rl}) {name} is {exp} in the real run; the model predicted {got}."
        return Divergence(step, "locals", name, exp, got, rl, pl, msg)
    if "arg" in differs:
        what = "returned" if real.event == "return" else "raised"
        return Divergence(step, "value", None, real.arg, predicted.arg, rl, pl,
                          f"At step {step + 1} (line {rl}) the function {what} {real.arg}; the model predicted {predicted.arg}.")
    return None


# -- free-running comparison --------------------------------------------------------------------


def compare(real: Trace, predicted: Trace, elided: set[int] = frozenset()) -> Comparison:
    """Align a predicted trace with the real one, find the first divergence, compute metrics.

    A prediction still in progress (``predicted.end.reason == "open"``, a debugger session
    mid-way) is compared as far as it goes: the real frames after it are rows without a
    predicted frame, but neither a divergence nor counted in the metrics.
    """
    finished = predicted.end.reason != "open"
    rows: list[Row] = []
    first: Divergence | None = None
    n_state = n_action = n_counted = 0
    for step, (ri, pi) in enumerate(align(real.frames, predicted.frames, elided)):
        r = real.frames[ri] if ri is not None else None
        p = predicted.frames[pi] if pi is not None else None
        differs = frame_differences(r, p) if r is not None and p is not None else set()
        rows.append(Row(step, r, p, differs))
        if p is None and not finished:
            continue
        if first is None and (differs or r is None or p is None):
            first = divergence_of(step, r, p, differs)
        if r is not None and ri >= SCORE_FROM:
            n_counted += 1
            if p is not None and not p.malformed:
                n_state += state_ok(differs)
                n_action += action_ok(differs)
    n_pred = len(predicted.frames)
    valid = sum(1 for f in predicted.frames if not f.malformed) / n_pred if n_pred else None
    metrics = Metrics(
        valid_format=valid,
        state_exact=n_state / n_counted if n_counted else None,
        action_exact=n_action / n_counted if n_counted else None,
        output_match=output_match(real, predicted) if finished or output_of(predicted) else None,
        n_real=len(real.frames),
        n_predicted=n_pred,
    )
    return Comparison(rows, first, metrics)


# -- teacher forcing ----------------------------------------------------------------------------


@dataclass
class FrameScore:
    """One real frame scored under teacher forcing."""

    step: int
    real: Frame
    #: the model writes the frame: greedy decoding reproduces its text, the argmax token for
    #: token or, where that goes wrong, the frame generated under the constraints (steered back,
    #: or the same text in other tokens)
    ok: bool
    #: offset of the first token inside the frame that the unconstrained argmax misses (None when
    #: it follows the frame; an ok frame can have one: see ``ok``)
    wrong_at: int | None
    alternative: Frame | None  # what greedy decoding says instead (only for wrong frames)
    #: "event", "line", "locals:<name>", "arg" as for a Row, or "form": the alternative reads as
    #: the same frame but is written otherwise (``written`` shows how)
    differs: set[str] = field(default_factory=set)
    past_context: bool = False  # the frame ends past the model's context: not predicted, counted wrong
    #: for a "form" difference, (the real frame's part, the model's) where they first differ, as
    #: written on the wire (e.g. ('{"n": ".."}', '{"n": "1"}'), or a SOURCE without its newline)
    written: tuple[str, str] | None = None
    #: the probability greedy decoding gave the frame it writes here (``neurodebug.confidence``;
    #: None when not asked, or the frame was not generated), and its tokens' log-probabilities
    confidence: float | None = None
    logprobs: list[float] | None = None

    @property
    def state_match(self) -> bool:
        """The frame greedy decoding writes has the real frame's state (what the metrics count)."""
        return self.ok or (self.alternative is not None and not self.alternative.malformed and state_ok(self.differs))

    @property
    def action_match(self) -> bool:
        return self.ok or (self.alternative is not None and not self.alternative.malformed and action_ok(self.differs))

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "ok": self.ok,
            "confidence": self.confidence,
            "wrong_at": self.wrong_at,
            "real": self.real.to_dict(),
            "alternative": self.alternative.to_dict() if self.alternative else None,
            "differs": sorted(self.differs),
            "past_context": self.past_context,
            "written": list(self.written) if self.written else None,
        }


@dataclass
class TeacherForced:
    frames: list[FrameScore]
    end_ok: bool | None  # the model closes the trace where the real one ends (None: no end token)
    first_divergence: Divergence | None
    metrics: Metrics
    tokens_scored: int  # length of the one forward pass
    tokens_generated: int  # tokens generated for the alternatives

    @property
    def ok(self) -> list[bool]:
        return [f.ok for f in self.frames]

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames": [f.to_dict() for f in self.frames],
            "end_ok": self.end_ok,
            "first_divergence": self.first_divergence.to_dict() if self.first_divergence else None,
            "metrics": self.metrics.to_dict(),
            "tokens_scored": self.tokens_scored,
            "tokens_generated": self.tokens_generated,
        }


def context_room(predictor, length: int) -> int | None:
    """How many tokens may follow ``length`` of them on ``predictor``: what its context limit
    leaves, less one (None: no known limit). Free-running and teacher-forced prediction both
    keep to it, so the local backend and the same model behind a server (vLLM refuses a prompt
    past its ``max_model_len``) stop at the same token rather than one of them computing
    positions the model was never given."""
    limit = predictor.context_limit
    return None if not limit else limit - 1 - length


def first_wrong(ids: list[int], argmax: list[int], start: int, end: int) -> int | None:
    """Offset (from start) of the first token in ids[start:end] that greedy decoding misses."""
    for p in range(max(start, 1), end):
        if argmax[p - 1] != ids[p]:
            return p - start
    return None


class Cancelled(Exception):
    """A teacher-forced comparison stopped because its ``should_stop`` said so."""


def teacher_forced(real: Trace, predictor, codec, *, max_alternatives: int | None = 64,
                   max_frame_tokens: int = 1024, on_progress=None, should_stop=None,
                   constraint=None, parser=None, confidence: bool = False, context: str | None = None,
                   place=None) -> TeacherForced:
    """Score every real frame under teacher forcing with one forward pass; generate only the wrong ones.

    predictor: a backends.Predictor (``greedy_argmax`` and ``open``); codec: a codec.Codec for
    its tokenizer. At most ``max_alternatives`` wrong frames are generated (from the real
    history, greedily, one KV state walking forward through the trace; None: every one); beyond
    that a wrong frame counts as wrong in both state and action. ``should_stop`` (a callable) is checked
    before and during each generation; when it returns True, Cancelled is raised.
    ``constraint``: a callable (parser of the real history so far, prefix) -> constraint hook or
    None (``Session.frame_constraint``), applied to the generated frames as in free-running
    prediction; a frame the greedy argmax gets right is right under any constraint that allows
    the real frame, which the debugger's constraints always do; a frame the argmax gets wrong
    is right when the frame generated instead has the real frame's text (the constraints steered
    it back, or it spells the same text in other tokens). ``parser``: the parser that reads
    the real history (``Session.new_parser()``, which follows the flow); by default the codec's.
    A frame that ends past the predictor's context (:func:`context_room`) is not predicted and
    counts as wrong, as free-running prediction stops there too. Each generated frame carries the
    confidence greedy decoding gives it (``FrameScore.confidence``; None on a backend without
    log-probabilities); with ``confidence`` the frames the argmax gets right are generated too,
    so that every scored frame has one but the wrong ones past ``max_alternatives``.
    """
    # context: what the model reads when it is not the real trace's source (trace.context); place
    # then turns a frame read on its lines into the real file's (Context.place)
    ids, spans = codec.encode_trace(real if context is None else replace(real, source=context), close=True)
    n = len(real.frames)
    room = context_room(predictor, 0)
    fits = len(ids) if room is None else min(len(ids), room)  # a frame ending past this is not scored
    argmax = predictor.greedy_argmax(ids[:fits])
    wrong = [first_wrong(ids, argmax, s, e) if e <= fits else None for s, e in spans[:n]]
    end_ok = first_wrong(ids, argmax, *spans[n]) is None if len(spans) > n and spans[n][1] <= fits else None

    parser = parser or codec.parser(real.source, real.entry)
    calibration = getattr(predictor, "calibration", RAW)
    gen = _Alternatives(predictor, codec, ids, max_frame_tokens, should_stop, constraint)
    scores: list[FrameScore] = []
    for i, ((s, e), f) in enumerate(zip(spans, real.frames)):
        alt, differs, past, right, form, written = None, set(), e > fits, False, None, ids[s:e]
        # a generated frame's confidence costs nothing; a right one is generated only when asked
        lps: list[float] | None = [] if (confidence or wrong[i] is not None) and gen.gives_logprobs else None
        if past:
            differs = {"event", "line"}  # not predicted: counted wrong in both
        elif wrong[i] is not None and i >= SCORE_FROM and (max_alternatives is None or gen.count < max_alternatives):
            alt, written = gen.frame(parser, s, lps)
            alt = place(alt) if place is not None and alt is not None else alt
            if alt is not None and _written(codec, written) == _written(codec, ids[s:e]):
                right = True  # greedy decoding writes this very frame after all
                alt = None
            else:
                differs = frame_differences(f, alt) if alt is not None else {"event"}
                if not differs:  # read back the same: a real difference in how it is written
                    differs = {"form"}
                    form = _spelling(codec, ids[s:e], written)
        elif wrong[i] is not None:
            differs = {"event", "line"}  # not generated: counted wrong in both
            lps = None
        elif i >= SCORE_FROM and lps is not None:
            _, written = gen.frame(parser, s, lps, count=False)  # right: generated only for its confidence
        sure = _confidence(calibration, codec, written, lps, i == SCORE_FROM) if lps else None
        scores.append(FrameScore(i, f, not past and (wrong[i] is None or right), wrong[i], alt, differs, past, form,
                                 sure, lps or None))
        parser.feed(ids[s:e])
        if on_progress:
            on_progress(i + 1, n)
    first = _first_divergence(scores, end_ok, n)
    return TeacherForced(scores, end_ok, first, _teacher_forced_metrics(scores, n), len(ids), gen.generated)


def _confidence(calibration, codec, ids: list[int], logprobs: list[float], first: bool) -> float | None:
    """A generated frame's confidence (``confidence.Calibration.frame_confidence``); ``first``:
    the frame right after the call frame."""
    parts = codec.frame_parts(ids, (0, len(ids)))
    a, b = parts.get("locals", (0, 0))
    values = values_logprob(codec.tokenizer.decode, ids[a:b], logprobs[a:b]) if b > a else {}
    return calibration.frame_confidence(logprobs, parts, values, first)


class _Alternatives:
    """Generates, from the real history, the frame the model would write where it gets one wrong:
    one KV state walks forward through the trace and is cut back after each frame."""

    def __init__(self, predictor, codec, ids, max_frame_tokens, should_stop, constraint):
        self.predictor, self.codec, self.ids = predictor, codec, ids
        self.max_frame_tokens, self.should_stop, self.constraint = max_frame_tokens, should_stop, constraint
        self.state = None
        self.count = 0  # frames generated
        self.generated = 0  # tokens generated

    @property
    def gives_logprobs(self) -> bool:
        if self.state is None:
            self.state = self.predictor.open(self.ids[:1])
        return self.state.gives_logprobs

    def frame(self, parser, start: int, logprobs: list[float] | None = None,
              count: bool = True) -> tuple[Frame | None, list[int]]:
        """The model's frame at ``start`` given the real frames ``parser`` has read (None: it
        ends), and the ids it generated (their log-probabilities appended to ``logprobs``);
        ``count``: an alternative to a wrong frame (counted against the limit)."""
        self._check()
        if self.state is None:
            self.state = self.predictor.open(self.ids[:start])
        else:
            self.state.extend(self.ids[len(self.state):start])
        hook = self.constraint(parser, ()) if self.constraint is not None else None
        room = context_room(self.predictor, start)
        budget = self.max_frame_tokens if room is None else min(self.max_frame_tokens, room)
        extra = {} if hook is None else {"constraint": hook}
        if logprobs is not None:
            extra["logprobs"] = logprobs
        new = self.state.generate(budget, stop_ids=self.codec.stop_ids, temperature=0.0,
                                  should_stop=self.should_stop, **extra)
        self._check()
        self.generated += len(new)
        self.count += count
        self.state.truncate(start)
        branch = copy.deepcopy(parser, {id(self.codec): self.codec})  # share the codec (and its tokenizer)
        got = branch.feed(new)
        if got:
            return got[0], new
        if branch.ended:
            return None, new
        return Frame(event="line", line=None, source=self.codec.tokenizer.decode(new), malformed="cut off"), new

    def _check(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise Cancelled


def _written(codec, ids) -> list:
    """A frame's ids as what they write: each special token, and the text between them decoded
    (so the same text in other tokens is the same)."""
    out: list = []
    run: list[int] = []
    for t in ids:
        if t in codec.special_names or t < 0:
            if run:
                out.append(codec.tokenizer.decode(run))
                run = []
            out.append(int(t))
        else:
            run.append(int(t))
    if run:
        out.append(codec.tokenizer.decode(run))
    return out


def _spelling(codec, real_ids, model_ids) -> tuple[str, str]:
    """Where two frames that read back the same are written differently: the first part
    (event, LOCALS, SOURCE, VALUE, end) whose text differs, as (real, model)."""
    def parts(ids) -> dict[str, str]:
        ids = list(ids)
        return {name: _spelled(codec, ids[a:b]) for name, (a, b) in codec.frame_parts(ids, (0, len(ids))).items()}

    real, model = parts(real_ids), parts(model_ids)
    for name in ("event", "locals", "source", "value", "end"):
        if real.get(name) != model.get(name):
            return real.get(name, ""), model.get(name, "")
    return _spelled(codec, real_ids), _spelled(codec, model_ids)


def _spelled(codec, ids) -> str:
    """Ids as text, special tokens by name."""
    return "".join(x if isinstance(x, str) else codec.special_names.get(x, "?") for x in _written(codec, ids))


def _first_divergence(scores: list[FrameScore], end_ok: bool | None, n: int) -> Divergence | None:
    """Where the teacher-forced model first parts from the real run (a frame, or the end)."""
    for sc in scores[SCORE_FROM:]:
        if sc.ok:
            continue
        if sc.past_context:
            return Divergence(sc.step, "length", None, sc.real.event, None, sc.real.line, None,
                              f"At step {sc.step + 1} the trace runs past the model's context; "
                              "the frames from there are not predicted.")
        if sc.alternative is None and sc.differs == {"event"}:
            return Divergence(sc.step, "length", None, sc.real.event, None, sc.real.line, None,
                              f"At step {sc.step + 1} the model would end the trace; the real run went on to {_describe(sc.real)}.")
        first = divergence_of(sc.step, sc.real, sc.alternative, sc.differs) if sc.alternative else None
        if first is None:  # the same frame read back, written otherwise: say how
            real_part, model_part = sc.written or ("", "")
            first = Divergence(sc.step, "form", None, real_part, model_part, sc.real.line, sc.real.line,
                               f"At step {sc.step + 1} the model writes the same frame otherwise: {model_part!r} "
                               f"where the real trace has {real_part!r}.")
        return first
    if end_ok is False:
        return Divergence(n, "length", None, "end", None, None, None,
                          f"At step {n + 1} the real run ended but the model would go on.")
    return None


def _teacher_forced_metrics(scores: list[FrameScore], n: int) -> Metrics:
    """CWM's metrics over the scored frames: a right frame counts, a wrong one by its alternative."""
    counted = scores[SCORE_FROM:]
    alts = [sc.alternative for sc in counted if sc.alternative is not None]
    n_ok = sum(sc.ok for sc in counted)
    n_pred = n_ok + len(alts)
    valid = (n_ok + sum(1 for a in alts if not a.malformed)) / n_pred if n_pred else None

    def share(matches) -> float | None:
        return sum(map(matches, counted)) / len(counted) if counted else None

    return Metrics(valid_format=valid, state_exact=share(lambda sc: sc.state_match),
                   action_exact=share(lambda sc: sc.action_match),
                   output_match=_teacher_forced_output(counted), n_real=n, n_predicted=n_pred)


def _teacher_forced_output(counted: list[FrameScore]) -> bool | None:
    """The entry's last return frame (else its last exception frame), given the real history."""
    ends = [sc for sc in counted if sc.real.event == "return" and sc.real.depth == 0] or \
        [sc for sc in counted if sc.real.event == "exception" and sc.real.depth == 0]
    if not ends:
        return None
    sc = ends[-1]
    return sc.ok or (sc.alternative is not None and sc.alternative.event == sc.real.event
                     and same_value(sc.real.arg, sc.alternative.arg))
