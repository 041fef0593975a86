"""Fuzzing the frame parser and the resolvers with hypothesis: 10,000 token streams, random and
mutated from real traces, never raise.

A model can write any token in any order; the parser must turn every stream into frames (marking
what it cannot read), and what reads those frames next (the flow walker's allowed lines and
LOCALS keys, the keys a frame may write as "..", the ".." resolution, the wire form, the
alignment with the real run) must not raise either.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurodebug.backends import bundled_model
from neurodebug.codec import Codec
from neurodebug.compare import compare
from neurodebug.constrain.flow import Cursor, Flow
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

SETTINGS = dict(deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


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


def read_everything(codec, source, entry, real, ids, chunk: int) -> None:
    """Feed ``ids`` in chunks, asking the flow what may come next after each, then read the frames
    the way the front ends do. Any exception fails the test."""
    parser = _fresh_parser(codec, source, entry)
    frames = []
    for i in range(0, len(ids), chunk):
        frames += parser.feed(ids[i:i + chunk])
        if parser.walker is not None and not parser.ended:  # what Session.frame_constraint asks
            parser.walker.allowed()
            parser.walker.keys()
        if parser.frames and parser.depth >= 0 and not parser.ended:
            unchanged_keys(parser.frames, parser.depth)
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
