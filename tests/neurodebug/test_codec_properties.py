"""Property tests of the codec on CWM's real vocabulary: round trips and a parser that never raises."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from neurodebug.model.tokenizer import llama3_tokenizer

from neurodebug.codec import Codec
from neurodebug.trace.format import dump_json
from neurodebug.trace.frames import EVENTS, UNCHANGED, Frame, wire_locals

SRC = """\
def helper(a, b):
    c = a + b
    if c > 10:
        c = 10
    return c

def other(x):
    c = x * 2
    return c

def main(s, n):  # << START_OF_TRACE
    total = 0
    for ch in s:
        total += helper(n, 1)
    c = other(total)
    return c
"""
L = SRC.splitlines()
FUNCS = {"helper": (1, [2, 3, 4, 5]), "other": (7, [8, 9]), "main": (11, [12, 13, 14, 15, 16])}

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def codec():
    return Codec(llama3_tokenizer())


names = st.sampled_from(["a", "b", "c", "s", "n", "total", "ch", "x", "é"])
# any repr string; a real repr is never the bare placeholder
values = st.text(max_size=12).filter(lambda v: v != UNCHANGED)


@st.composite
def traces(draw) -> list[Frame]:
    """A well-formed trace over SRC: calls push a scope, returns pop it, lines stay in their function."""

    def locals_() -> dict[str, str]:
        return draw(st.dictionaries(names, values, max_size=4))

    def frame(event, line, func, loc=None, arg=None):
        return Frame(event, line, L[line - 1], loc or {}, arg, len(stack) - 1, func)

    stack = ["main"]
    frames = [frame("call", FUNCS["main"][0], "main", locals_())]
    for _ in range(draw(st.integers(0, 30))):
        func = stack[-1]
        body = FUNCS[func][1]
        action = draw(st.sampled_from(["line", "line", "line", "call", "return", "exception"]))
        if action == "call" and len(stack) < 5:
            callee = draw(st.sampled_from(sorted(FUNCS)))
            stack.append(callee)
            frames.append(frame("call", FUNCS[callee][0], callee, locals_()))
        elif action == "return":
            frames.append(frame("return", draw(st.sampled_from(body)), func, arg=draw(st.none() | values)))
            stack.pop()
            if not stack:
                break
        elif action == "exception":
            frames.append(frame("exception", draw(st.sampled_from(body)), func, arg=draw(values)))
        else:
            frames.append(frame("line", draw(st.sampled_from(body)), func, locals_()))
    return frames


@SETTINGS
@given(traces())
def test_encode_then_parse_gives_back_the_frames(codec, frames):
    ids, spans = codec.frames_ids(frames)
    parsed, end = codec.parse(SRC, "main", ids + [codec.end_of_text_id])
    assert parsed == frames
    assert end.reason == "end_of_text"
    # the spans tile the ids, one frame each
    assert [s for s, _ in spans] == [0] + [e for _, e in spans[:-1]] and spans[-1][1] == len(ids)


@SETTINGS
@given(traces())
def test_diff_encoding_resolves_to_full_locals(codec, frames):
    wire = wire_locals(frames)
    ids, spans = codec.frames_ids(frames)
    tok = codec.tokenizer
    for f, w, (s, e) in zip(frames, wire, spans):
        if f.event in ("call", "line"):
            # what is on the wire is the diff form, "..", in json.dumps' default layout
            piece = ids[s + 1 : ids.index(codec.action_sep_id, s)]
            assert tok.decode(piece) == dump_json(w) == json.dumps(w)
    parsed, _ = codec.parse(SRC, "main", ids)
    assert [p.locals for p in parsed] == [f.locals for f in frames]
    assert all(UNCHANGED not in p.locals.values() for p in parsed)


@SETTINGS
@given(traces(), st.lists(st.integers(1, 7), max_size=200))
def test_streaming_in_any_chunks_equals_one_shot(codec, frames, cuts):
    ids, _ = codec.frames_ids(frames)
    p = codec.parser(SRC, "main")
    got, i = [], 0
    for n in cuts + [len(ids)]:
        got += p.feed(ids[i : i + n])
        i += n
    assert got == p.frames == frames


@SETTINGS
@given(traces(), st.data())
def test_truncated_streams_keep_the_complete_frames(codec, frames, data):
    ids, spans = codec.frames_ids(frames)
    k = data.draw(st.integers(0, len(ids)))
    parsed, end = codec.parse(SRC, "main", ids[:k])
    complete = [f for f, (s, e) in zip(frames, spans) if e <= k]
    assert parsed[: len(complete)] == complete
    assert len(parsed) - len(complete) <= 1
    if len(parsed) > len(complete):
        assert parsed[-1].malformed.startswith("cut off")
    assert end.reason == "open"


def special_ids(codec):
    return sorted({*codec.event_ids.values(), codec.frame_sep_id, codec.action_sep_id, codec.arg_sep_id,
                   codec.bos_id, codec.context_start_id, *codec.end_ids, 128050})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_random_token_streams_never_raise(codec, data):
    tok = codec.tokenizer
    pieces = [tok.encode(x) for x in ('{"n": "1"}', "    total = 0\n", '"6"', '{"a": ".."', "def main(s, n):\n")]
    token = st.one_of(
        st.sampled_from(special_ids(codec)),
        st.integers(0, 128255),
        st.integers(-3, 300_000),
        st.sampled_from([t for p in pieces for t in p]),
    )
    ids = data.draw(st.lists(token, max_size=120))
    p = codec.parser(SRC, "main")
    frames = p.feed(ids) + p.close("token_cap")
    assert frames == p.frames
    for f in frames:
        assert f.event in EVENTS
        assert f.line is None or 1 <= f.line <= len(L)
        assert f.depth >= 0
        assert isinstance(f.locals, dict) and all(isinstance(v, str) for v in f.locals.values())
        assert f.malformed is None or isinstance(f.malformed, str)
    assert p.end.reason in ("end_of_text", "token_cap")


def test_garbage_source_never_raises(codec):
    """A context that is not Python (no AST) still parses frames against its lines."""
    src = "def f(:\n  x = 1\n  x = 1\n"
    tok = codec.tokenizer
    ids = [codec.event_ids["call"], *tok.encode("{}"), codec.action_sep_id, *tok.encode("def f(:\n"),
           codec.frame_sep_id]
    for _ in range(2):
        ids += [codec.event_ids["line"], *tok.encode('{"x": "1"}'), codec.action_sep_id, *tok.encode("  x = 1\n"),
                codec.frame_sep_id]
    frames, _ = codec.parse(src, "f", ids)
    assert [f.line for f in frames] == [1, 2, 3]
