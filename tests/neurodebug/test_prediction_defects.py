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


# == 2. a call frame into a function the line does not call ======================================

FEATURES = """\
import math


class Counter:
    def __init__(self):
        self.n = 0

    def bump(self, k):
        self.n += k
        return self.n


def evens(n):
    for i in range(n):
        if i % 2 == 0:
            yield i


def countdown(n):
    out = []
    while n > 0:
        out.append(n)
        n -= 1
    return out


def square(v):
    return v * v


def apply_all(xs):
    return list(map(square, xs))


def fact(n):
    if n <= 1:
        return 1
    return n * fact(n - 1)


def main(n):
    c = Counter()
    c.bump(fact(n))
    total = sum(evens(n)) + len(countdown(n)) + sum(apply_all([n]))
    return total + math.floor(c.n)
"""
LINES = FEATURES.splitlines()


def _line(text: str) -> int:
    return next(i for i, ln in enumerate(LINES, 1) if ln.strip() == text)


def test_a_call_frame_only_into_a_function_the_line_calls(tokenizer):
    """The file has a class, a generator and a function passed to map (each used to make every
    call frame allowed anywhere): after fact's recursive line, a call frame may enter fact (or a
    method or generator, which Python can enter without naming them), never countdown."""
    flow = Flow.of(FEATURES)
    fact_def, countdown_def, rec = _line("def fact(n):"), _line("def countdown(n):"), _line("return n * fact(n - 1)")
    cur = Cursor(flow, "fact")
    for event, line in (("call", fact_def), ("line", fact_def + 1), ("line", rec)):
        cur.feed(event, line, ())
    allowed = cur.allowed()
    assert fact_def in allowed["call"] and countdown_def not in allowed["call"]
    assert _line("def evens(n):") in allowed["call"]  # a generator is resumed wherever it is iterated
    assert _line("def square(v):") in allowed["call"]  # passed to map: called from map's line, or anywhere
    codec = Codec(tokenizer)
    hook = SourceConstraint(codec, FEATURES, "main").for_frame([codec.event_ids["call"]], allowed)
    head = tokenizer.encode('{"n": "2"}')
    assert _writable(hook, codec, head, wire_source("def fact(n):"))
    assert not _writable(hook, codec, head, wire_source("def countdown(n):"))
    # a line that calls something unknown (an attribute: a method, or anything) stays permissive
    assert countdown_def in flow.callees(_line("c.bump(fact(n))"))
    # a line that calls countdown by name may enter it; one that calls nothing only the pool
    assert countdown_def in flow.callees(_line("total = sum(evens(n)) + len(countdown(n)) + sum(apply_all([n]))"))
    assert countdown_def not in flow.callees(_line("out = []")) and fact_def not in flow.callees(_line("out = []"))
    # a generator starts (at its def line) only where something iterates or calls; it comes back
    # at its yield (a close when it is collected) and a method (an operator, __del__) from anywhere
    for text in ("return 1", "if n <= 1:"):
        callees = flow.callees(_line(text))
        assert _line("def evens(n):") not in callees and _line("class Counter:") not in callees
        assert _line("yield i") in callees and _line("def bump(self, k):") in callees
    real = trace_source(FEATURES, "main", "3")
    assert real.end.reason == "returned" and any(f.event == "call" and f.line == countdown_def for f in real.frames)
    assert check(FEATURES, real.frames, "main") == []


TRICKY = """\
import functools


class Vec:
    def __init__(self, x):
        self.x = x

    def __add__(self, o):
        return Vec(helper(self.x) + o.x)

    def __repr__(self):
        return f"Vec({self.x})"

    @property
    def double(self):
        return twice(self.x)


def helper(v):
    return v + 1


def twice(v):
    return 2 * v


def gen(n):
    for i in range(n):
        yield sq(i)


def sq(v):
    return v * v


def deco(f):
    @functools.wraps(f)
    def wrapper(*a):
        return f(*a)
    return wrapper


@deco
def decorated(v):
    return sq(v) + 1


def late(xs):
    g = (cube(x) for x in xs)
    t = 0
    t += sum(g)
    return t


def cube(v):
    return v * v * v


def outer(n):
    def rec(k):
        return 0 if k == 0 else k + rec(k - 1)
    def inner(k):
        return k - 1
    return rec(inner(n))


class Ctx:
    def __enter__(self):
        return helper(1)

    def __exit__(self, *exc):
        return False


def main(n):
    a = Vec(n) + Vec(2)
    b = a.double
    s = sum(gen(n))
    d = decorated(n)
    e = late([1, 2])
    f = outer(n)
    keyed = sorted([3, 1, 2], key=lambda v: sq(v))
    m = list(map(twice, [1, 2]))
    try:
        raise ValueError(n)
    except ValueError as err:
        msg = str(err)
    with Ctx() as c:
        c2 = c
    return repr(a), b, s, d, e, f, keyed, m, msg, c2
"""


STARTS = """\
import contextlib


@contextlib.contextmanager
def managed(x):
    yield x + 1


def gen(n):
    yield from range(n)


def pairs(n):
    a, b = gen(2)
    first, *rest = gen(n)
    inside = 1 in gen(3)
    both = [*gen(2), *gen(1)]
    with managed(n) as m:
        got = m
    def local_class():
        class K:
            y = helper(2)
        return K.y
    return a, b, first, rest, inside, both, got, local_class()


def helper(v):
    return v * 10
"""


@pytest.mark.parametrize("source,entry,call", [(TRICKY, "main", "3"), (STARTS, "pairs", "3")], ids=["tricky", "starts"])
def test_calls_python_makes_without_naming_the_function_are_allowed(source, entry, call):
    """Operators, properties, repr, context managers, generators started by unpacking, ``in``,
    ``*``, ``yield from`` or ``with``, decorators, a generator expression consumed on a later
    line, a lambda, map, a closure calling itself, a class body: every frame of the real trace is
    allowed, though most lines now allow only some functions."""
    real = trace_source(source, entry, call)
    assert real.end.reason == "returned", real.end.message
    assert check(source, real.frames, entry) == []


def test_a_generator_expression_runs_where_it_is_consumed():
    """A function called from a generator expression may be entered where it is consumed; one
    called only by name, only there."""
    flow = Flow.of(TRICKY)
    lines = TRICKY.splitlines()
    cube_def = lines.index("def cube(v):") + 1
    inner_def = lines.index("    def inner(k):") + 1
    assert cube_def in flow.callees(lines.index("    t += sum(g)") + 1)  # the generator expression runs there
    assert inner_def not in flow.callees(lines.index("    t += sum(g)") + 1)  # called by name only


# == 3. teacher-forced rows that look identical but are marked different =========================

LOOP = """\
def f(xs):
    total = 0
    for x in xs:
        total += x
    return total
"""


class Scripts(ConstrainedReplay):
    """A teacher given as token sequences: its argmax and its greedy decoding follow the first
    sequence that continues the ids (under a constraint, with an allowed token)."""

    def __init__(self, tokenizer, sequences):
        super().__init__(tokenizer, [])
        self.sequences = [list(s) for s in sequences]


@pytest.fixture(scope="module")
def loop_trace():
    real = trace_source(LOOP, "f", "[1, 2, 3]")
    assert real.end.reason == "returned"
    return real


def _frame_k(real, codec):
    """A `total += x` line frame whose LOCALS hold a '..' and its span in the encoded trace."""
    ids, spans = codec.encode_trace(real)
    k = next(i for i, f in enumerate(real.frames)
             if i > 1 and f.event == "line" and f.source.strip() == "total += x")
    s, e = spans[k]
    assert '".."' in codec.tokenizer.decode(ids[s:e])
    return ids, k, s, e


def test_a_frame_written_with_other_tokens_is_right(tokenizer, loop_trace):
    """Greedy decoding that writes the real frame's very text in other tokens (the bundled model
    spells 'age' as 'a', 'g', 'e') gets the frame right: no wrong row, no divergence."""
    from neurodebug.compare import teacher_forced

    codec = Codec(tokenizer)
    ids, k, s, e = _frame_k(loop_trace, codec)
    frame = ids[s:e]
    a = frame.index(codec.action_sep_id)
    source = codec.tokenizer.decode(frame[a + 1:-1])
    spelled = [t for ch in source for t in codec.tokenizer.encode(ch)]  # one character at a time
    assert spelled != frame[a + 1:-1]
    other = frame[:a + 1] + spelled + frame[-1:]
    tf = teacher_forced(loop_trace, Scripts(tokenizer, [ids[:s] + other, ids]), codec)
    sc = tf.frames[k]
    assert sc.wrong_at is not None  # the argmax leaves the real tokens ...
    assert sc.ok and sc.alternative is None and not sc.differs  # ... for the same frame
    assert tf.first_divergence is None and all(tf.ok)


def test_a_frame_the_constraint_steers_back_is_right(tokenizer, loop_trace):
    """Where the unconstrained argmax names a line that is not in the file but greedy decoding
    under the session's constraints writes the real frame, the frame is right."""
    from neurodebug.compare import teacher_forced

    codec = Codec(tokenizer)
    ids, k, s, e = _frame_k(loop_trace, codec)
    frame = ids[s:e]
    a = frame.index(codec.action_sep_id)
    bad = frame[:a + 1] + codec.tokenizer.encode("        total = total + x\n") + frame[-1:]
    sc_ = SourceConstraint(codec, LOOP, "f")
    flow = Flow.of(LOOP)

    def constraint(parser, prefix):
        return sc_.for_frame(prefix, parser.walker.allowed() if parser.walker else None)

    teacher = Scripts(tokenizer, [ids[:s] + bad, ids])
    tf = teacher_forced(loop_trace, teacher, codec, constraint=constraint,
                        parser=codec.parser(LOOP, "f", Cursor(flow)))
    sc = tf.frames[k]
    assert sc.wrong_at is not None and sc.ok and sc.alternative is None and not sc.differs
    assert tf.first_divergence is None
    # unconstrained, the same teacher writes the line that is not in the file: a real difference
    free = teacher_forced(loop_trace, teacher, codec).frames[k]
    assert not free.ok and "line" in free.differs


def test_a_frame_that_reads_the_same_but_is_written_otherwise_says_how(tokenizer, loop_trace):
    """A frame that spells out a value the diff rule writes as '..' reads back as the real frame
    (the rows show the same values) but is not what the real trace writes: the row and the
    divergence show the two spellings, and the metrics count the frame's state and action."""
    from neurodebug.compare import teacher_forced

    codec = Codec(tokenizer)
    ids, k, s, e = _frame_k(loop_trace, codec)
    real = loop_trace.frames[k]
    full = codec.frame_ids(real, dict(real.locals))  # every value in full
    tf = teacher_forced(loop_trace, Scripts(tokenizer, [ids[:s] + full, ids]), codec)
    sc = tf.frames[k]
    assert not sc.ok and sc.differs == {"form"}
    assert sc.alternative.locals == real.locals and sc.alternative.line == real.line
    real_part, model_part = sc.written
    assert '".."' in real_part and '".."' not in model_part and real.locals["xs"] in model_part
    d = tf.first_divergence
    assert (d.step, d.kind, d.expected, d.predicted) == (k, "form", real_part, model_part)
    assert repr(real_part) in d.message and repr(model_part) in d.message
    assert tf.metrics.state_exact == 1.0 and tf.metrics.action_exact == 1.0
    assert sc.to_dict()["written"] == [real_part, model_part]


# == a generator or coroutine entry goes on after it suspends (found while testing #23) ===========

GEN_ENTRY = """\
def count_up(n):
    i = 0
    while i < n:
        yield sq(i)
        i += 1


def sq(v):
    return v * v
"""

ASYNC_ENTRY = """\
import asyncio


async def tick(n):
    for i in range(n):
        await asyncio.sleep(0)
        yield i


def later(box):
    box.append(1)


async def fetch(x):
    await asyncio.sleep(0)
    return x * 3


async def main(n):
    loop = asyncio.get_running_loop()
    box = []
    loop.call_soon(later, box)
    out = [i async for i in tick(n)]
    got = await asyncio.gather(fetch(1), fetch(2))
    return out, box, got
"""


@pytest.mark.parametrize("source,entry,call", [(GEN_ENTRY, "count_up", "3"), (ASYNC_ENTRY, "main", "2")],
                         ids=["generator", "coroutine"])
def test_the_flow_follows_an_entry_that_suspends(source, entry, call):
    """The real run consumes a generator entry and runs a coroutine under its event loop: after
    the entry's return frame at a yield or await, the trace goes on (the generator resumed; any
    task or callback of the loop), and the flow allows it as well as the end."""
    real = trace_source(source, entry, call)
    assert real.end.reason == "returned", real.end.message
    suspended = [i for i, f in enumerate(real.frames[:-1]) if f.event == "return" and f.depth == 0]
    assert suspended, "the entry suspends and the trace goes on"
    assert check(source, real.frames, entry) == []


def test_after_a_generator_entry_yields_the_next_frame_resumes_it_or_the_trace_ends(tokenizer):
    flow = Flow.of(GEN_ENTRY)
    cur = Cursor(flow, "count_up")
    for event, line in (("call", 1), ("line", 2), ("line", 3), ("line", 4)):
        cur.feed(event, line, ())
    cur.feed("return", 4)
    allowed = cur.allowed()
    assert set(allowed) == {"call", "end"} and 4 in allowed["call"] and 8 not in allowed["call"]
    codec = Codec(tokenizer)
    hook = SourceConstraint(codec, GEN_ENTRY, "count_up").for_frame((), allowed)
    first = set(hook.allowed([]))
    assert codec.event_ids["call"] in first and codec.end_of_text_id in first
    assert codec.event_ids["line"] not in first
    cur.feed("call", 4)
    assert cur.allowed()["line"] == {5}  # resumed after the yield
