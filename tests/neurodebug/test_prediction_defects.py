"""Defects of issue #23: a prediction that goes into the wrong function, a call frame into a
function the line does not call, and teacher-forced rows that look the same but are marked wrong.

No test here asserts what a model predicts: a replaying predictor (which decodes under the
constraints, like the local backend), the constraints themselves, or a scripted teacher.
"""

from __future__ import annotations

from typing import Sequence

import pytest

from neurodebug.codec import Codec
from neurodebug.constrain.flow import Cursor, Flow, check
from neurodebug.constrain.grammar import SourceConstraint
from neurodebug.model.tokenizer import llama3_tokenizer
from neurodebug.real.tracer import trace_source
from neurodebug.trace.format import START_MARKER, wire_source
from neurodebug.trace.frames import Trace
from tests.replay import ReplayPredictor, ReplayState
from tests.sessions import started


@pytest.fixture(scope="module")
def tokenizer():
    return llama3_tokenizer()


# == 1. `predict --entry NAME` without --call predicts another function ==========================

SEVERAL = """\
def fact(n):{mark}
    if n <= 1:
        return 1
    return n * fact(n - 1)


def countdown(n):
    out = []
    while n > 0:
        out.append(n)
        n -= 1
    return out


def consume(xs):
    total = 0
    for x in xs:
        total += x
    return total
"""
CONSUME_DEF = 15


class _ConstrainedReplayState(ReplayState):
    """A replaying state that decodes under the constraint, as the local backend does: the next
    token is that of the first memorised sequence that continues the ids with an allowed token."""

    applies_constraint = True

    def generate(self, max_new_tokens, stop_ids=(), temperature=0.0, top_p=1.0, seed=None,
                 on_token=None, should_stop=None, *, constraint=None) -> list[int]:
        new: list[int] = []
        stops = set(stop_ids)
        while len(new) < max_new_tokens:
            allowed = constraint(new) if constraint is not None else None
            tok = self.p.next_allowed(self._ids, allowed)
            self._ids.append(tok)
            new.append(tok)
            if tok in stops:
                break
        return new


class ConstrainedReplay(ReplayPredictor):
    """Prefers its first memorised sequence; the constraint decides where it may follow it."""

    def next_allowed(self, ids: Sequence[int], allowed) -> int:
        n = len(ids)
        for seq in self.sequences:
            if len(seq) > n and seq[:n] == list(ids) and (allowed is None or seq[n] in allowed):
                return seq[n]
        return self.end_id

    def open(self, prompt_ids):
        return _ConstrainedReplayState(self, prompt_ids)


@pytest.mark.parametrize("mark", ["", START_MARKER], ids=["no marker", "fact marked"])
def test_the_proposed_call_frame_is_the_named_entrys(tokenizer, mark):
    """A model that would rather write another function's call frame (countdown's, as the bundled
    model did) is held to the entry's: the call frame and the frames after it are consume's."""
    source = SEVERAL.format(mark=mark)
    real = trace_source(source, "consume", "[1, 2]")
    assert real.end.reason == "returned"
    wrong = trace_source(source, "countdown", "2")  # what the model would like to write
    predictor = ConstrainedReplay(tokenizer, [Trace(source, "consume", None, wrong.frames, wrong.end), real])
    s = started(source, "consume", None, predictor, run_real=False)
    first = s.frames[0]
    assert (first.event, first.line, first.func, list(first.locals)) == ("call", CONSUME_DEF, "consume", ["xs"])
    assert s.call == "[1, 2]"  # the proposal is read as consume's arguments
    s.cont()
    assert [(f.event, f.line) for f in s.frames] == [(f.event, f.line) for f in real.frames]


def test_the_flow_starts_with_the_entrys_call_frame(tokenizer):
    """Before the trace starts, the flow allows only the entry's call frame with its parameters
    as LOCALS, and the constraint lets SOURCE be only the entry's def line."""
    source = SEVERAL.format(mark=START_MARKER)
    codec = Codec(tokenizer)
    parser = codec.parser(source, "consume", Cursor(Flow.of(source)))
    allowed = parser.walker.allowed()
    assert allowed == {"call": {CONSUME_DEF}}
    assert parser.walker.keys() == ({"xs"}, {"xs"})
    sc = SourceConstraint(codec, source, "consume", constrain_locals=True)
    call = [codec.event_ids["call"]]
    hook = sc.for_frame(call, allowed, parser.walker.keys())
    xs, n = tokenizer.encode('{"xs"')[:2], tokenizer.encode('{"n"')[:2]
    assert xs[0] == n[0]  # '{"', then the name
    keys = hook.allowed(xs[:1])
    assert xs[1] in keys and n[1] not in keys  # countdown's parameter is not consume's
    head = tokenizer.encode('{"xs": "[1]"}')
    assert _writable(hook, codec, head, wire_source(source.splitlines()[CONSUME_DEF - 1]))
    assert not _writable(hook, codec, head, wire_source("def countdown(n):"))
    assert not _writable(hook, codec, head, wire_source("def fact(n):"))
    # without the flow (constrain_flow off) nothing but the lines of the file is asked
    assert _writable(sc.for_frame(call), codec, head, wire_source("def countdown(n):"))
    # the real trace of every entry of the file starts as the flow says
    for entry, call in (("fact", "3"), ("countdown", "2"), ("consume", "[1, 2]")):
        assert check(source, trace_source(source, entry, call).frames, entry) == [], entry


def _writable(hook, codec, head: list[int], text: str) -> bool:
    """Whether SOURCE ``text`` (its canonical tokens) is allowed after LOCALS ``head``."""
    ids = head + [codec.action_sep_id]
    for t in codec.tokenizer.encode(text) + [codec.frame_sep_id]:
        allowed = hook.allowed(ids)
        if allowed is not None and t not in allowed:
            return False
        ids.append(t)
    return True
