"""The codec with CWM's real vocabulary (Llama 3 ranks + CWM's special tokens)."""

import json
from pathlib import Path

import pytest
from neurodebug.model.tokenizer import llama3_tokenizer
from neurodebug.training.tokenizer import train_bpe_tokenizer

from neurodebug.codec import Codec
from neurodebug.real import tracer
from neurodebug.trace import format as codec_mod
from neurodebug.trace.frames import EVENTS, End, Frame, Trace
from tests.programs import WORKED_EXAMPLE

# CWM's ids (docs/trace-format.md / CWM's PROMPTING_GUIDE)
BOS, EOT, EOM, EOT_ID = 128000, 128001, 128008, 128009
FRAME, ACTION, RETURN, CALL, LINE, EXC, ARG, CONTEXT = range(128100, 128108)

WORKED = WORKED_EXAMPLE


def worked_frames() -> list[Frame]:
    L = WORKED.splitlines()
    return [
        Frame("call", 6, L[5], {"n": "1"}, None, 0, "f"),
        Frame("line", 7, L[6], {"n": "1"}, None, 0, "f"),
        Frame("call", 1, L[0], {"a": "1", "b": "2"}, None, 1, "add"),
        Frame("line", 2, L[1], {"a": "1", "b": "2"}, None, 1, "add"),
        Frame("line", 3, L[2], {"a": "1", "b": "2", "y": "1"}, None, 1, "add"),
        Frame("line", 4, L[3], {"a": "1", "b": "2", "y": "3"}, None, 1, "add"),
        Frame("return", 4, L[3], {}, "3", 1, "add"),
        Frame("line", 8, L[7], {"n": "1", "t": "3"}, None, 0, "f"),
        Frame("return", 8, L[7], {}, "6", 0, "f"),
    ]


def worked_trace() -> Trace:
    return Trace(WORKED, "f", "f(1)", worked_frames(), End("returned", value="6"))


@pytest.fixture(scope="session")
def tok():
    return llama3_tokenizer()


@pytest.fixture(scope="session")
def codec(tok):
    return Codec(tok)


def test_separator_ids_are_cwms(codec):
    assert codec.bos_id == BOS and codec.end_of_text_id == EOT
    assert (codec.frame_sep_id, codec.action_sep_id, codec.arg_sep_id, codec.context_start_id) == (
        FRAME, ACTION, ARG, CONTEXT,
    )
    assert codec.event_ids == {"call": CALL, "line": LINE, "return": RETURN, "exception": EXC}
    assert codec.stop_ids == [FRAME, EOT, EOM, EOT_ID]


def test_worked_example_to_exact_ids(codec, tok):
    T = tok.encode
    expected = [BOS, CONTEXT, *T(WORKED), FRAME]  # the marker is already on f's def line
    frames = [
        [CALL, *T('{"n": "1"}'), ACTION, *T("def f(n):\n"), FRAME],
        [LINE, *T('{"n": ".."}'), ACTION, *T("    t = add(n, 2)\n"), FRAME],
        [CALL, *T('{"a": "1", "b": "2"}'), ACTION, *T("def add(a, b):\n"), FRAME],
        [LINE, *T('{"a": "..", "b": ".."}'), ACTION, *T("    y = a\n"), FRAME],
        [LINE, *T('{"a": "..", "b": "..", "y": "1"}'), ACTION, *T("    y = y + b\n"), FRAME],
        [LINE, *T('{"a": "..", "b": "..", "y": "3"}'), ACTION, *T("    return y\n"), FRAME],
        [RETURN, ACTION, *T("    return y\n"), ARG, *T('"3"'), FRAME],
        [LINE, *T('{"n": "1", "t": "3"}'), ACTION, *T("    return t * 2\n"), FRAME],
        [RETURN, ACTION, *T("    return t * 2\n"), ARG, *T('"6"'), FRAME],
    ]
    ids, spans = codec.encode_trace(worked_trace())
    want = expected + [t for fr in frames for t in fr] + [EOT]
    assert ids == want
    # spans cover each frame from its event token through its frame_sep, then end_of_text
    assert len(spans) == 10
    for (s, e), fr in zip(spans, frames):
        assert ids[s:e] == fr
    assert spans[-1] == (len(ids) - 1, len(ids))
    # Llama 3's ids for the text pieces, pinned (regression against a changed vocabulary)
    assert T('{"n": "1"}') == [5018, 77, 794, 330, 16, 9388]
    assert T("def f(n):\n") == [755, 282, 1471, 997]
    assert T('"6"') == [1, 21, 1]


def test_frame_parts(codec, tok):
    ids, spans = codec.encode_trace(worked_trace())
    call = codec.frame_parts(ids, spans[0])
    (s, e) = spans[0]
    assert call["event"] == (s, s + 1) and ids[s] == CALL
    assert tok.decode(ids[slice(*call["locals"])]) == '{"n": "1"}'
    assert tok.decode(ids[slice(*call["source"])]) == "def f(n):\n"
    assert call["end"] == (e - 1, e) and "value" not in call
    ret = codec.frame_parts(ids, spans[6])
    assert "locals" not in ret
    assert tok.decode(ids[slice(*ret["source"])]) == "    return y\n"
    assert tok.decode(ids[slice(*ret["value"])]) == '"3"'
    assert codec.frame_parts(ids, spans[-1]) == {"event": spans[-1]}


def test_prompt_puts_marker_on_entry_def_line(codec, tok):
    plain = WORKED.replace("  # << START_OF_TRACE", "")
    assert codec.context(plain, "f") == WORKED
    assert codec.context(WORKED, "f") == WORKED
    moved = codec.context(WORKED, "add")
    assert moved.splitlines()[0] == "def add(a, b):  # << START_OF_TRACE"
    assert "START_OF_TRACE" not in moved.splitlines()[5]
    cls = "class C:\n    def m(self):\n        return 1\n"
    assert codec.context(cls, "C.m").splitlines()[1] == "    def m(self):  # << START_OF_TRACE"
    assert codec.prompt_ids(plain, "f") == [BOS, CONTEXT, *tok.encode(WORKED), FRAME]


def test_worked_example_parses_back(codec):
    ids, spans = codec.encode_trace(worked_trace())
    frames, end = codec.parse(WORKED, "f", ids[spans[0][0] :])
    assert frames == worked_frames()
    assert end.reason == "end_of_text" and end.value == "6"


def test_streaming_one_token_at_a_time(codec):
    ids, spans = codec.encode_trace(worked_trace())
    p = codec.parser(WORKED, "f")
    got = []
    for i, t in enumerate(ids[spans[0][0] :], start=spans[0][0]):
        out = p.feed([t])
        if t == FRAME:
            assert len(out) == 1 and any(e == i + 1 for _, e in spans)
        else:
            assert out == []
        got += out
    assert got == worked_frames() == p.frames
    assert p.ended and p.end.reason == "end_of_text"
    assert [len(x) for x in p.frame_token_ids] == [e - s for s, e in spans[:-1]]
    # ids after the end are ignored
    assert p.feed([LINE, FRAME]) == [] and len(p.frames) == 9


def encode_frames(codec, frames):
    return codec.frames_ids(frames)[0]


def test_repeated_lines_map_forward_in_current_function(codec):
    src = (
        "def other(i):\n"
        "    i += 1\n"
        "    return i\n"
        "\n"
        "def f(s):  # << START_OF_TRACE\n"
        "    i = 0\n"
        "    i += 1\n"
        "    i += 1\n"
        "    for c in s:\n"
        "        i += 1\n"
        "    return i\n"
    )
    L = src.splitlines()
    lines = [6, 7, 8, 9, 10, 9, 10, 9, 11]
    frames = [Frame("call", 5, L[4], {"s": "'ab'"}, None, 0, "f")]
    for k, ln in enumerate(lines):
        frames.append(Frame("line", ln, L[ln - 1], {"s": "'ab'", "i": str(k)}, None, 0, "f"))
    frames.append(Frame("return", 11, L[10], {}, "4", 0, "f"))
    parsed, _ = codec.parse(src, "f", encode_frames(codec, frames))
    assert [p.line for p in parsed] == [5, *lines, 11]
    assert parsed == frames


def test_recursion_depth_and_lines(codec):
    src = "def fact(n):  # << START_OF_TRACE\n    if n <= 1:\n        return 1\n    return n * fact(n - 1)\n"
    L = src.splitlines()
    fr = [
        Frame("call", 1, L[0], {"n": "2"}, None, 0, "fact"),
        Frame("line", 2, L[1], {"n": "2"}, None, 0, "fact"),
        Frame("line", 4, L[3], {"n": "2"}, None, 0, "fact"),
        Frame("call", 1, L[0], {"n": "1"}, None, 1, "fact"),
        Frame("line", 2, L[1], {"n": "1"}, None, 1, "fact"),
        Frame("line", 3, L[2], {"n": "1"}, None, 1, "fact"),
        Frame("return", 3, L[2], {}, "1", 1, "fact"),
        Frame("return", 4, L[3], {}, "2", 0, "fact"),
    ]
    parsed, end = codec.parse(src, "fact", encode_frames(codec, fr) + [EOT])
    assert parsed == fr
    assert end.value == "2"


EXC_SRC = (
    "def boom(v):\n"
    "    raise ValueError(v)\n"
    "\n"
    "def g(x):  # << START_OF_TRACE\n"
    "    y = boom(x)\n"
    "    return y\n"
)


def exception_frames(with_returns: bool) -> list[Frame]:
    L = EXC_SRC.splitlines()
    fr = [
        Frame("call", 4, L[3], {"x": "3"}, None, 0, "g"),
        Frame("line", 5, L[4], {"x": "3"}, None, 0, "g"),
        Frame("call", 1, L[0], {"v": "3"}, None, 1, "boom"),
        Frame("line", 2, L[1], {"v": "3"}, None, 1, "boom"),
        Frame("exception", 2, L[1], {}, "ValueError(3)", 1, "boom"),
        Frame("return", 2, L[1], {}, "None", 1, "boom"),
        Frame("exception", 5, L[4], {}, "ValueError(3)", 0, "g"),
        Frame("return", 5, L[4], {}, "None", 0, "g"),
    ]
    return fr if with_returns else [f for f in fr if f.event != "return"]


def test_exception_then_return_as_settrace_reports(codec):
    assert codec_mod.RETURN_AFTER_EXCEPTION
    fr = exception_frames(with_returns=True)
    parsed, end = codec.parse(EXC_SRC, "g", encode_frames(codec, fr) + [EOT])
    assert parsed == fr
    assert end.reason == "end_of_text" and end.value == "ValueError(3)" and "raised" in end.message


def test_exception_without_return_frame_goes_back_to_the_caller(codec):
    fr = exception_frames(with_returns=False)
    parsed, _ = codec.parse(EXC_SRC, "g", encode_frames(codec, fr))
    assert [(p.line, p.depth, p.func) for p in parsed] == [(f.line, f.depth, f.func) for f in fr]
    assert all(p.malformed is None for p in parsed)


def test_end_of_text_is_a_trace_that_left_the_entry(codec):
    t = worked_trace()
    t.end = End("timeout")
    t.frames = t.frames[:5]
    ids, spans = codec.encode_trace(t)
    assert ids[-1] == FRAME and len(spans) == 5
    ids, spans = codec.encode_trace(worked_trace(), close=False)
    assert ids[-1] == FRAME and len(spans) == 9


# -- malformed output is kept and marked, never raised ---------------------------------------


def test_bad_json_locals(codec, tok):
    ids = [CALL, *tok.encode('{"n": "1"'), ACTION, *tok.encode("def f(n):\n"), FRAME]
    (fr,), _ = codec.parse(WORKED, "f", ids)
    assert fr.event == "call" and fr.line == 6 and fr.locals == {}
    assert fr.malformed == "bad JSON locals"


def test_unknown_line(codec, tok):
    ids = [LINE, *tok.encode('{"n": "1"}'), ACTION, *tok.encode("    print('nope')\n"), FRAME]
    (fr,), _ = codec.parse(WORKED, "f", ids)
    assert fr.line is None and fr.source == "    print('nope')" and fr.malformed == "unknown line"


def test_cut_off_at_end_of_stream(codec):
    ids, spans = codec.encode_trace(worked_trace())
    s = spans[0][0]
    cut = spans[3][0] + 4
    frames, end = codec.parse(WORKED, "f", ids[s:cut])
    assert frames[:3] == worked_frames()[:3]
    assert len(frames) == 4 and frames[3].malformed.startswith("cut off")
    assert end.reason == "open"
    # a stop token in the middle of a frame also leaves a cut-off frame, and ends the trace
    frames, end = codec.parse(WORKED, "f", ids[s:cut] + [EOT_ID])
    assert frames[3].malformed.startswith("cut off") and end.reason == "end_of_text"


def test_unknown_event_token(codec, tok):
    ids = [*tok.encode("hello"), ACTION, *tok.encode("def f(n):\n"), FRAME]
    (fr,), _ = codec.parse(WORKED, "f", ids)
    assert fr.malformed == "no event token" and fr.event in EVENTS
    ids = [CONTEXT, CALL, *tok.encode('{"n": "1"}'), ACTION, *tok.encode("def f(n):\n"), FRAME]
    (fr,), _ = codec.parse(WORKED, "f", ids)
    assert fr.line == 6 and fr.malformed == "text before the event token"


def test_return_value_forms(codec, tok):
    ret = [RETURN, ACTION, *tok.encode("    return t * 2\n"), ARG]
    (fr,), _ = codec.parse(WORKED, "f", ret + tok.encode("6") + [FRAME])
    assert fr.arg == "6" and fr.malformed == "value is not a JSON string"
    (fr,), _ = codec.parse(WORKED, "f", ret + tok.encode('"6') + [FRAME])
    assert fr.arg == '"6' and fr.malformed == "bad JSON value"
    (fr,), _ = codec.parse(WORKED, "f", ret[:-1] + [FRAME])
    assert fr.arg is None and fr.malformed == "no <|arg_sep|>"


def test_unresolvable_placeholder_is_malformed(codec, tok):
    ids = [LINE, *tok.encode('{"n": ".."}'), ACTION, *tok.encode("    t = add(n, 2)\n"), FRAME]
    (fr,), _ = codec.parse(WORKED, "f", ids)
    assert fr.locals == {"n": ".."} and fr.malformed == "unresolved '..'"


def test_marker_and_newline_forms_are_accepted(codec, tok):
    for text in ("def f(n):  # << START_OF_TRACE\n", "def f(n):", "def f(n):  # << START_OF_TRACE"):
        ids = [CALL, *tok.encode('{"n": "1"}'), ACTION, *tok.encode(text), FRAME]
        (fr,), _ = codec.parse(WORKED, "f", ids)
        assert (fr.line, fr.malformed, fr.source) == (6, None, "def f(n):  # << START_OF_TRACE")


def test_small_hf_tokenizer_uses_names_not_ids():
    tok = train_bpe_tokenizer([WORKED] * 30, vocab_size=700)
    c = Codec(tok)
    assert c.frame_sep_id == tok.special_id("<|frame_sep|>") != FRAME
    ids, spans = c.encode_trace(worked_trace())
    assert ids[0] == tok.bos_id and ids[-1] == tok.special_id("<|end_of_text|>")
    frames, end = c.parse(WORKED, "f", ids[spans[0][0] :])
    assert frames == worked_frames() and end.value == "6"


def test_real_traced_example_round_trips(codec):
    src = (
        "def boom(v):\n"
        "    raise ValueError(len(v))\n"
        "\n"
        "def g(xs):\n"
        "    out = []\n"
        "    for x in xs:\n"
        "        try:\n"
        "            out.append(10 // x)\n"
        "        except ZeroDivisionError:\n"
        "            out.append('é')\n"
        "    return boom(out)\n"
    )
    trace = tracer.trace_source(src, "g", "[1, 0, 2]")
    assert trace.end.reason == "raised" and len(trace.frames) > 15
    ids, spans = codec.encode_trace(trace)
    assert ids[-1] == EOT
    frames, end = codec.parse(src, "g", ids[spans[0][0] :])
    assert frames == trace.frames
    assert end.value == trace.end.value == "ValueError(3)"


EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_traced_examples_round_trip(codec, path):
    """Every shipped example, traced for real, encodes and parses back frame for frame (but for
    the file: the wire has none; the session puts a parsed frame on its file, trace.context)."""
    from dataclasses import replace

    trace = tracer.trace_file(str(path), None, None)
    assert trace.frames and all(f.file == f"examples/{path.name}" for f in trace.frames)
    ids, spans = codec.encode_trace(trace)
    frames, end = codec.parse(trace.source, trace.entry, ids[spans[0][0] :])
    assert frames == [replace(f, file=None) for f in trace.frames]
    if trace.end.reason in ("returned", "raised"):
        assert end.reason == "end_of_text" and end.value == trace.end.value


def test_fork_is_independent_and_cheap(codec):
    import copy

    ids, spans = codec.encode_trace(worked_trace())
    p = codec.parser(WORKED, "f")
    p.feed(ids[spans[0][0] : spans[3][0]])  # inside add()
    q = copy.deepcopy(p)
    assert q.codec is p.codec and q.depth == p.depth == 1
    rest = ids[spans[3][0] :]
    assert q.feed(rest) == worked_frames()[3:]
    assert len(p.frames) == 3 and not p.ended and p.depth == 1
    assert p.feed(rest) == worked_frames()[3:]


def test_tracer_follows_the_formats_open_point_decisions():
    """The format's open points are decided once, in trace.format; real traces follow them."""
    assert tracer.Limits().max_repr == codec_mod.MAX_REPR_CHARS
    src = "def f(x):  # << START_OF_TRACE\n    return 1 // x\n"
    t = tracer.trace_source(src, "f", "0")
    exc = next(fr for fr in t.frames if fr.event == "exception")
    assert exc.arg == codec_mod.exception_value(ZeroDivisionError("integer division or modulo by zero"))


def test_the_parser_picks_the_line_the_flow_allows_among_equal_texts(codec):
    source = """\
def f(odds):
    n = 0
    for x in odds:
        n += x
    m = 1
    for x in odds:
        m *= x
    return n, m
"""
    from neurodebug.constrain.flow import Cursor, Flow

    parser = codec.parser(source, "f", Cursor(Flow.of(source)))
    frames = [Frame("call", 1, "def f(odds):", {"odds": "[1, 3]"}), Frame("line", 2, "    n = 0", {"odds": ".."}),
              Frame("line", 3, "    for x in odds:", {"odds": "..", "n": "0"}),
              Frame("line", 4, "    n += x", {"odds": "..", "n": "..", "x": "1"}),
              Frame("line", 3, "    for x in odds:", {"odds": "..", "n": "1", "x": ".."})]
    ids, _ = codec.frames_ids(frames)
    got = parser.feed(ids)
    # after line 4 the loop goes back to line 3; searching forward from line 4 would find line 6
    assert [f.line for f in got] == [1, 2, 3, 4, 3]


CAUGHT = """\
def f(s):
    n = 0
    try:
        n = int(s)
    except ValueError:
        n = -1
    return n
"""


def test_a_value_after_an_exception_caught_in_the_same_function_is_written_as_unchanged(capsys, tmp_path):
    """An exception caught in the frame that raised it is no scope change: the handler's first
    line writes ".." for what did not change, and the codec reads it back (as Meta's cwmdbg does)."""
    from neurodebug.cli import main

    prog = tmp_path / "caught.py"
    prog.write_text(CAUGHT)
    assert main(["trace", str(prog), "--call", "f('x')", "--json"]) == 0
    frames = json.loads(capsys.readouterr().out)["frames"]
    events = [f["event"] for f in frames]
    k = events.index("exception")
    handler = frames[k + 1]
    assert handler["event"] == "line" and handler["locals"] == {"s": "..", "n": ".."}


def test_the_reader_resolves_unchanged_values_as_metas_reader_does(codec):
    """Walk back through the frames, past exception frames, until a call/return frame."""
    frames = [
        Frame("call", 1, "def f(s):", {"s": "'x'"}),
        Frame("line", 2, "    n = 0", {"s": ".."}),
        Frame("line", 3, "    try:", {"s": "..", "n": "0"}),
        Frame("line", 4, "        n = int(s)", {"s": "..", "n": ".."}),
        Frame("exception", 4, "        n = int(s)", arg="ValueError(\"invalid literal for int() with base 10: 'x'\")"),
        Frame("line", 5, "    except ValueError:", {"s": "..", "n": ".."}),
    ]
    ids = []
    for f in frames:  # the wire form exactly as written above (the writer would resolve first)
        ids += codec.frame_ids(f, wire=f.locals) if f.event in ("call", "line") else codec.frame_ids(f)
    parsed, _ = codec.parse(CAUGHT, "f", ids)
    assert [p.malformed for p in parsed] == [None] * 6
    assert parsed[-1].locals == {"s": "'x'", "n": "0"}
    # after a callee's return a ".." does not resolve: the walk stops there
    from neurodebug.trace.frames import resolve_locals

    after_return = resolve_locals([Frame("call", 1, "def f(s):", {"s": "1"}), Frame("return", 9, "x", arg="1", depth=1),
                                   Frame("line", 2, "    n = 0", {"s": ".."})])
    assert after_return[-1].malformed == "unresolved '..'"


def test_a_runaway_malformed_value_is_cut_and_its_frame_marked(codec):
    """A return value the model never closes (raw special tokens, kilobytes of text) is kept cut,
    before the first special token, and the end says the frame was malformed, in one short sentence."""
    from neurodebug.trace.format import MAX_REPR_CHARS, REPR_CUT

    source = "def spin():\n    k = 0\n    while True:\n        k += 1\n"
    tok = codec.tokenizer
    sid = tok.special_id
    frame = [sid("<|return_sep|>"), sid("<|action_sep|>")] + tok.encode("    while True:\n") + [sid("<|arg_sep|>")]
    value = tok.encode('"k' + "=1 " * 2000) + [sid("<|line_sep|>")] + tok.encode("more text")
    ids = [sid("<|call_sep|>")] + tok.encode("{}") + [sid("<|action_sep|>")] + tok.encode("def spin():\n") \
        + [sid("<|frame_sep|>")] + frame + value + [sid("<|frame_sep|>"), sid("<|end_of_text|>")]
    frames, end = codec.parse(source, "spin", ids)
    ret = frames[-1]
    assert ret.event == "return" and ret.malformed and "bad JSON value" in ret.malformed
    assert len(ret.arg) == MAX_REPR_CHARS + len(REPR_CUT) and ret.arg.endswith(REPR_CUT) and "<|" not in ret.arg
    assert end.message.startswith("The predicted trace ended with a malformed return frame at line 3 (")
    assert len(end.message) < 200 and "\n" not in end.message
