"""Fuzzing the frame parser and the resolvers with hypothesis: 10,000 token streams, random and
mutated from real traces, never raise, and real traces of drawn arguments read back as they were.

A model can write any token in any order; the parser must turn every stream into frames (marking
what it cannot read), and what reads those frames next (the flow walker's allowed lines and
LOCALS keys, the constraint hook, the keys a frame may write as "..", the ".." resolution, the
wire form, the alignment with the real run) must not raise either. The parser, the flow and the
constraints survive their own bugs in a session (an "unreadable frame", no flow, no constraint):
here ``RAISE_SURVIVED`` makes such a bug raise, so that the fuzz sees it. A well-formed frame
never comes back malformed.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurodebug.backends import bundled_model
from neurodebug.codec import Codec
from neurodebug.codec import parser as parser_mod
from neurodebug.compare import compare
from neurodebug.constrain.flow import Cursor, Flow
from neurodebug.constrain.grammar import SourceConstraint
from neurodebug.trace.frames import Trace, resolve_locals, unchanged_keys, wire_locals
from neurodebug.real.tracer import trace_source
from tests.programs import WORKED_EXAMPLE

PROGRAMS = [
    (WORKED_EXAMPLE, "f", "1"),
    ("def count(s, ch):\n    n = 0\n    for c in s:\n        if c == ch:\n            n += 1\n    return n\n",
     "count", "'berry', 'r'"),
    ("def ratio(a, b):\n    try:\n        return a / b\n    except ZeroDivisionError as e:\n        raise ValueError(b) from e\n",
     "ratio", "1, 0"),
    ("def gen(n):\n    for i in range(n):\n        yield i * i\n\n\ndef total(n):\n    return sum(gen(n))\n", "total", "3"),
    ("def fact(n):\n    if n <= 1:\n        return 1\n    return n * fact(n - 1)\n", "fact", "4"),
    ("def spin():\n    k = 0\n    while True:\n        k += 1\n        if k > 3:\n            break\n    return k\n", "spin", ""),
]

#: Arguments to draw for each program's entry (the call as text), for real traces to read back.
CALLS = [
    st.integers(-1000, 1000).map(repr),
    st.tuples(st.text(max_size=12), st.text(max_size=2)).map(lambda a: f"{a[0]!r}, {a[1]!r}"),
    st.tuples(st.integers(-9, 9), st.integers(-3, 3)).map(lambda a: f"{a[0]}, {a[1]}"),
    st.integers(0, 6).map(repr),
    st.integers(-2, 7).map(repr),
    st.just(""),
]

SETTINGS = dict(deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(autouse=True)
def _raise_survived():
    """What the parser, the flow and the constraints survive in a session raises here."""
    parser_mod.RAISE_SURVIVED = True
    try:
        yield
    finally:
        parser_mod.RAISE_SURVIVED = False


@pytest.fixture(scope="module")
def codec():
    from neurodebug.model.tokenizer import load_tokenizer

    return Codec(load_tokenizer(bundled_model()))


@pytest.fixture(scope="module")
def streams(codec):
    """(source, entry, real trace, its ids) of each program."""
    out = []
    for source, entry, call in PROGRAMS:
        real = trace_source(source, entry, call)
        assert real.end.reason in ("returned", "raised"), real.end
        out.append((source, entry, real, codec.encode_trace(real)[0]))
    return out


_PARSERS: dict = {}


def _fresh_parser(codec, source, entry):
    """A new parser of ``source`` (a fork of one built once: the file's layout is parsed once)."""
    key = (id(codec), source, entry)
    if key not in _PARSERS:
        flow = Flow.of(source)
        _PARSERS[key] = codec.parser(source, entry, Cursor(flow) if flow is not None else None)
    return _PARSERS[key].fork()


_CONSTRAINTS: dict = {}


def _constraint(codec, source, entry) -> SourceConstraint:
    key = (id(codec), source, entry)
    if key not in _CONSTRAINTS:
        _CONSTRAINTS[key] = SourceConstraint(codec, source, entry, constrain_locals=True)
    return _CONSTRAINTS[key]


def frame_hook(codec, source, entry, parser):
    """The constraint hook of the next frame after what ``parser`` read, as Session.frame_constraint
    makes it (None after the end)."""
    if parser.ended:
        return None
    walker = parser.walker
    flow, keys = (walker.allowed(), walker.keys()) if walker is not None else (None, None)
    dots = unchanged_keys(parser.frames, parser.depth) if parser.frames and parser.depth >= 0 else None
    return _constraint(codec, source, entry).for_frame((), flow, keys, dots)


def read_everything(codec, source, entry, real, ids, chunk: int) -> None:
    """Feed ``ids`` in chunks, asking the flow and the constraint what may come next after each,
    then read the frames the way the front ends do. Any exception fails the test."""
    parser = _fresh_parser(codec, source, entry)
    frames = []
    hook = frame_hook(codec, source, entry, parser)
    for i in range(0, len(ids), chunk):
        new = parser.feed(ids[i:i + chunk])
        frames += new
        if new:  # a new frame starts: its hook (the flow's allowed lines and keys, the ".." keys)
            hook = frame_hook(codec, source, entry, parser)
        if hook is not None and not parser.ended:
            hook.allowed(parser.partial)
    frames += parser.close("token_cap", "stopped")
    assert parser.end.message
    predicted = Trace(source, entry, real.call, resolve_locals(frames), parser.end)
    wire_locals(predicted.frames)
    Trace.from_json(predicted.to_json(wire=True))
    compare(real, predicted).metrics


def specials(codec) -> list[int]:
    tok = codec.tokenizer
    names = ["<|call_sep|>", "<|line_sep|>", "<|return_sep|>", "<|exception_sep|>", "<|action_sep|>",
             "<|arg_sep|>", "<|frame_sep|>", "<|end_of_text|>", "<|trace_context_start|>", "<|begin_of_text|>"]
    return [tok.special_id(n) for n in names]


def tokens_of(data: bytes, special: list[int], vocab: int) -> list[int]:
    """A token stream from fuzz bytes, two per token: a third are CWM's separators (so frames
    form), the rest any id of the vocabulary. Bytes shrink well and draw fast."""
    out = []
    for i in range(0, len(data) - 1, 2):
        hi, lo = data[i], data[i + 1]
        out.append(special[lo % len(special)] if hi < 85 else ((hi << 8) | lo) % vocab)
    return out


@pytest.mark.parametrize("program", range(len(PROGRAMS)))
def test_random_token_streams_never_raise(codec, streams, program):
    source, entry, real, _ = streams[program]
    special = specials(codec)
    vocab = codec.tokenizer.vocab_size

    @settings(max_examples=5000 // len(PROGRAMS), **SETTINGS)
    @given(data=st.binary(max_size=300), chunk=st.integers(1, 16))
    def check(data, chunk):
        read_everything(codec, source, entry, real, tokens_of(data, special, vocab), chunk)

    check()


MUTATION = st.tuples(st.sampled_from(["delete", "insert", "replace", "duplicate", "swap", "truncate"]),
                     st.integers(0, 10_000), st.integers(1, 12), st.integers(0, 10_000))


@pytest.mark.parametrize("program", range(len(PROGRAMS)))
def test_mutated_real_traces_never_raise(codec, streams, program):
    source, entry, real, real_ids = streams[program]
    pool = specials(codec) + sorted(set(real_ids))

    def mutate(ids, how, at, n, pick):
        at %= max(len(ids), 1)
        other = pool[pick % len(pool)]
        if how == "delete":
            return ids[:at] + ids[at + n:]
        if how == "insert":
            return ids[:at] + [other] * n + ids[at:]
        if how == "replace":
            return ids[:at] + [other] + ids[at + 1:]
        if how == "duplicate":
            return ids[:at + n] + ids[at:at + n] + ids[at + n:]
        if how == "swap":
            j = pick % max(len(ids), 1)
            ids = list(ids)
            if ids:
                ids[at], ids[j] = ids[j], ids[at]
            return ids
        return ids[:at]

    @settings(max_examples=5000 // len(PROGRAMS), **SETTINGS)
    @given(mutations=st.lists(MUTATION, min_size=1, max_size=6), chunk=st.integers(1, 64))
    def check(mutations, chunk):
        ids = list(real_ids)
        for m in mutations:
            ids = mutate(ids, *m)
        read_everything(codec, source, entry, real, ids, chunk)

    check()


@pytest.mark.parametrize("program", range(len(PROGRAMS)))
def test_real_traces_read_back_as_they_were_and_their_tokens_are_allowed(codec, program):
    """Real traces of drawn arguments, encoded and fed in chunks: every frame comes back as the
    tracer wrote it (none unreadable or otherwise malformed), and the constraint hook of each
    frame allows each of its tokens."""
    source, entry, _ = PROGRAMS[program]

    @settings(max_examples=180 // len(PROGRAMS), **SETTINGS)
    @given(call=CALLS[program], chunk=st.integers(1, 16))
    def check(call, chunk):
        real = trace_source(source, entry, call)
        ids, spans = codec.encode_trace(real)
        parser = _fresh_parser(codec, source, entry)
        frames = []  # fed what follows the prompt, as a session's parser is
        for s, e in spans[:len(real.frames)]:
            hook = frame_hook(codec, source, entry, parser)
            for k in range(s, e):
                allowed = hook.allowed(ids[s:k]) if hook is not None else None
                assert allowed is None or ids[k] in allowed, (call, k - s, codec.tokenizer.decode(ids[s:e]))
            for i in range(s, e, chunk):
                frames += parser.feed(ids[i:min(i + chunk, e)])
        frames += parser.feed(ids[spans[len(real.frames) - 1][1]:]) + parser.close()
        assert [f.malformed for f in frames] == [None] * len(real.frames), call
        assert frames == real.frames, call
        if real.end.reason in ("returned", "raised"):
            assert parser.end.reason == "end_of_text" and parser.end.value == real.end.value

    check()
