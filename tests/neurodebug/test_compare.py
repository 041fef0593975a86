"""compare: alignment, first divergence, CWM's metrics; teacher forcing on a real checkpoint."""

from __future__ import annotations

import pytest

from neurodebug.codec import Codec
from neurodebug.compare import align, compare, same_value, teacher_forced
from neurodebug.real.tracer import trace_source
from neurodebug.trace.frames import End, Frame, Trace
from tests.neurodebug.scripted import ScriptedPredictor

SRC = "def f(n):\n    t = n + 1\n    return t * 2\n"


def trace(frames, end=End("returned", value="4")):
    return Trace(SRC, "f", "1", frames, end)


def real_frames():
    return [
        Frame("call", 1, "def f(n):", {"n": "1"}, depth=0, func="f"),
        Frame("line", 2, "    t = n + 1", {"n": "1"}, depth=0, func="f"),
        Frame("line", 3, "    return t * 2", {"n": "1", "t": "2"}, depth=0, func="f"),
        Frame("return", 3, "    return t * 2", {}, "4", depth=0, func="f"),
    ]


def test_identical_traces_have_no_divergence_and_full_metrics():
    r = trace(real_frames())
    c = compare(r, trace(real_frames(), End("end_of_text", value="4")))
    assert c.first_divergence is None
    m = c.metrics
    assert (m.valid_format, m.state_exact, m.action_exact, m.output_match) == (1.0, 1.0, 1.0, True)
    assert (m.n_real, m.n_predicted) == (4, 4)
    assert all(not row.differs for row in c.rows)


def test_a_wrong_local_is_named_with_expected_and_predicted():
    p = real_frames()
    p[2] = Frame("line", 3, "    return t * 2", {"n": "1", "t": "3"}, depth=0)
    p[3] = Frame("return", 3, "    return t * 2", {}, "6", depth=0)
    c = compare(trace(real_frames()), trace(p, End("end_of_text")))
    d = c.first_divergence
    assert (d.step, d.kind, d.name, d.expected, d.predicted, d.real_line) == (2, "locals", "t", "2", "3", 3)
    assert "t is 2" in d.message and "predicted 3" in d.message
    assert c.rows[2].differs == {"locals:t"} and c.rows[3].differs == {"arg"}
    # frames 1..3 are scored: 1 right, 2 wrong state but right action, 3 wrong value
    assert c.metrics.state_exact == pytest.approx(1 / 3)
    assert c.metrics.action_exact == 1.0
    assert c.metrics.output_match is False


def test_wrong_line_event_and_length():
    p = real_frames()[:2] + [Frame("line", 2, "    t = n + 1", {"n": "1", "t": "2"}, depth=0)]
    c = compare(trace(real_frames()), trace(p, End("end_of_text")))
    d = c.first_divergence
    assert d.kind == "line" and d.expected == "3" and d.predicted == "2"
    assert c.rows[3].predicted is None
    p = real_frames()[:2] + [Frame("exception", 2, "    t = n + 1", {}, "ValueError()", depth=0)]
    assert compare(trace(real_frames()), trace(p, End("end_of_text"))).first_divergence.kind == "event"
    short = compare(trace(real_frames()), trace(real_frames()[:3], End("end_of_text")))
    assert short.first_divergence.kind == "length" and short.first_divergence.step == 3


def test_an_unfinished_prediction_is_compared_as_far_as_it_goes():
    c = compare(trace(real_frames()), trace(real_frames()[:2], End("open")))
    assert c.first_divergence is None and len(c.rows) == 4
    assert c.metrics.state_exact == 1.0 and c.metrics.output_match is None


def test_malformed_frames_lower_valid_format_and_count_as_wrong():
    p = real_frames()
    p[1] = Frame("line", None, "garbage", {}, depth=0, malformed="bad JSON locals")
    c = compare(trace(real_frames()), trace(p, End("end_of_text")))
    assert c.metrics.valid_format == 0.75
    assert c.metrics.state_exact == pytest.approx(2 / 3) and c.metrics.action_exact == pytest.approx(2 / 3)


def test_output_compared_as_python_values():
    assert same_value("{'a': 1, 'b': 2}", "{'b': 2, 'a': 1}")
    assert same_value("(1, 2)", "(1,2)")
    assert not same_value("'1'", "1")
    assert same_value("<object at 0x1>", "<object at 0x1>")


def test_align_skips_the_real_body_of_a_call_stepped_over():
    real = [Frame("call", 5, "", depth=0), Frame("line", 6, "", depth=0), Frame("call", 1, "", depth=1),
            Frame("line", 2, "", depth=1), Frame("return", 2, "", arg="3", depth=1), Frame("line", 7, "", depth=0)]
    pred = [real[0], real[1], real[2], real[4], real[5]]
    assert align(real, pred, elided={3}) == [(0, 0), (1, 1), (2, 2), (4, 3), (5, 4)]
    assert align(real, pred) == [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, None)]


# -- teacher forcing on the real checkpoint -------------------------------------------------------

LOOP = """\
def f(xs):  # << START_OF_TRACE
    total = 0
    for x in xs:
        total += x
    return total
"""


@pytest.fixture(scope="module")
def loop_trace():
    t = trace_source(LOOP, "f", "[1, 2, 3]")
    assert t.return_value == "6"
    return t


def test_teacher_forced_all_right_when_greedy_follows_the_real_trace(local, loop_trace):
    codec = Codec(local.tokenizer)
    ids, spans = codec.encode_trace(loop_trace)
    teacher = ScriptedPredictor(local, [ids])
    tf = teacher_forced(loop_trace, teacher, codec)
    assert tf.ok == [True] * len(loop_trace.frames) and tf.end_ok is True
    assert tf.tokens_scored == len(ids) and tf.tokens_generated == 0
    assert tf.first_divergence is None
    m = tf.metrics
    assert (m.valid_format, m.state_exact, m.action_exact, m.output_match) == (1.0, 1.0, 1.0, True)


def test_teacher_forced_generates_only_the_wrong_frames(local, loop_trace):
    """A teacher that knows every frame but one: exactly that frame is generated and explained."""
    codec = Codec(local.tokenizer)
    ids, spans = codec.encode_trace(loop_trace)
    k = 4  # a `total += x` frame
    wrong_frame = loop_trace.frames[k]
    assert wrong_frame.event == "line" and wrong_frame.locals["x"] != "5"
    alt = Frame(wrong_frame.event, wrong_frame.line, wrong_frame.source, {**wrong_frame.locals, "x": "5"},
                depth=0, func="f")
    from neurodebug.trace.frames import wire_locals

    alt_ids = codec.frame_ids(alt, wire_locals(loop_trace.frames[:k] + [alt])[-1])
    s, e = spans[k]
    # the first script that matches wins: the alternative at frame k, the real trace elsewhere
    teacher = ScriptedPredictor(local, [ids[:s] + alt_ids, ids])
    tf = teacher_forced(loop_trace, teacher, codec)
    assert [i for i, ok in enumerate(tf.ok) if not ok] == [k]
    sc = tf.frames[k]
    assert sc.alternative.locals["x"] == "5" and sc.differs == {"locals:x"}
    assert tf.tokens_generated == len(alt_ids)
    d = tf.first_divergence
    assert (d.step, d.kind, d.name, d.expected, d.predicted) == (k, "locals", "x", wrong_frame.locals["x"], "5")
    n = len(loop_trace.frames) - 1
    assert tf.metrics.state_exact == pytest.approx((n - 1) / n) and tf.metrics.action_exact == 1.0


def test_teacher_forced_on_the_random_model(local, loop_trace):
    codec = Codec(local.tokenizer)
    ids, _ = codec.encode_trace(loop_trace)
    tf = teacher_forced(loop_trace, local, codec, max_alternatives=2, max_frame_tokens=6)
    # greedy_argmax is the runtime's argmax at every position
    assert local.greedy_argmax(ids[:40]) == local.model.logits(ids[:40]).argmax(-1).tolist()
    wrong = [sc for sc in tf.frames[1:] if not sc.ok]
    assert wrong, "a random model gets some frame wrong"
    assert sum(sc.alternative is not None for sc in tf.frames) <= 2
    assert tf.tokens_generated <= 2 * 6 and tf.first_divergence is not None
    assert 0.0 <= tf.metrics.state_exact <= 1.0


def test_teacher_forced_without_a_cap_generates_every_wrong_frame(local, loop_trace):
    """``max_alternatives=None`` (what eval and its --frames-out use): every wrong frame is
    generated and carries a confidence, where a cap leaves the ones past it without."""
    from neurodebug.compare import SCORE_FROM

    codec = Codec(local.tokenizer)
    capped = teacher_forced(loop_trace, local, codec, max_alternatives=2, max_frame_tokens=6, confidence=True)
    every = teacher_forced(loop_trace, local, codec, max_alternatives=None, max_frame_tokens=6, confidence=True)
    scored = every.frames[SCORE_FROM:]
    assert sum(not sc.ok for sc in scored) > 2, "a random model gets more frames wrong than the cap"
    assert all(sc.confidence is not None for sc in scored)
    assert sum(sc.confidence is None for sc in capped.frames[SCORE_FROM:]) == sum(not sc.ok for sc in scored) - 2


def test_teacher_forced_stops_when_asked(local, loop_trace):
    """should_stop is honoured inside the generation of a wrong frame's alternative."""
    from neurodebug.compare import Cancelled

    codec = Codec(local.tokenizer)
    asked = []

    def stop_after_three_checks():
        asked.append(1)
        return len(asked) > 3

    with pytest.raises(Cancelled):
        teacher_forced(loop_trace, local, codec, max_alternatives=8, max_frame_tokens=64,
                       should_stop=stop_after_three_checks)
    # stopped during the first alternative: a few token checks, not eight whole frames
    assert 3 < len(asked) <= 6
